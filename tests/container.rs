//! The container image: the repository's Dockerfile built on base images made here (no image
//! can be pulled on the project's machines), then a fleet run in a container and upgraded from
//! this host through the container's own address.

mod common;

use common::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// The shared libraries `program` loads, as `ldd` lists them (the loader included).
fn libraries(program: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(program).output().unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Copies `file` into `root` at the same path (or at `at`).
fn place(root: &Path, file: &Path, at: Option<&str>) {
    let rel = at.map_or_else(
        || file.strip_prefix("/").unwrap().to_path_buf(),
        PathBuf::from,
    );
    let to = root.join(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(file, &to).unwrap();
}

/// Imports the directory `root` as the image `name`.
fn import(root: &Path, name: &str) {
    let tar = root.with_extension("tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    docker_ok(&["import", tar.to_str().unwrap(), name]);
}

/// Images, containers and networks removed when dropped.
#[derive(Default)]
struct Cleanup {
    images: Vec<String>,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            docker(&["network", "rm", n]);
        }
        for i in &self.images {
            docker(&["rmi", "-f", i]);
        }
        // The build stages the Dockerfile leaves untagged.
        docker(&[
            "image",
            "prune",
            "-f",
            "--filter",
            "label=org.meterfleet.stage=build",
        ]);
    }
}

/// Fails clearly when Docker Engine does not answer.
fn docker_answers() {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        answers,
        "Docker Engine does not answer: the container tests need it (start the daemon)"
    );
}

/// A folder the containers' user (10001) can write, with files it can read.
fn shared_folder(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

fn readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Waits up to `seconds` for `path` to exist.
fn wait_for(path: &Path, seconds: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !path.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    path.exists()
}

/// Builds the repository's Dockerfile on two bases made from this host's files: a builder
/// holding a shell and the binary already built (so the Dockerfile skips the compilation), and
/// a runtime holding the binary's shared libraries. Returns the image's name.
fn build_image(dir: &Path, cleanup: &mut Cleanup, test: &str) -> String {
    // The tests of this file run at once in one process: each builds under its own names.
    let id = format!("{}-{test}", std::process::id());
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_meterfleet"));
    let builder = dir.join("builder");
    let shell = PathBuf::from("/bin/sh").canonicalize().unwrap();
    place(&builder, &shell, Some("bin/sh"));
    for lib in libraries(&shell) {
        place(&builder, &lib, None);
    }
    place(&builder, &binary, Some("src/target/release/meterfleet"));
    let runtime = dir.join("runtime");
    for lib in libraries(&binary) {
        place(&runtime, &lib, None);
    }
    std::fs::create_dir_all(runtime.join("tmp")).unwrap();
    let (builder_image, runtime_image, image) = (
        format!("meterfleet-test-builder:{id}"),
        format!("meterfleet-test-runtime:{id}"),
        format!("meterfleet-test:{id}"),
    );
    import(&builder, &builder_image);
    import(&runtime, &runtime_image);
    cleanup
        .images
        .extend([image.clone(), builder_image.clone(), runtime_image.clone()]);
    docker_ok(&[
        "build",
        "--build-arg",
        &format!("BUILDER={builder_image}"),
        "--build-arg",
        &format!("RUNTIME={runtime_image}"),
        "-t",
        &image,
        common::root().to_str().unwrap(),
    ]);
    image
}

#[test]
fn the_image_runs_a_fleet_as_a_non_root_user_that_a_head_end_upgrades_from_outside() {
    docker_answers();
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup::default();
    let image = build_image(dir.path(), &mut cleanup, "single");
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", &image]),
        "10001:10001",
        "the image runs as a non-root user"
    );
    let exposed = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.ExposedPorts}}",
        &image,
    ]);
    assert!(
        exposed.contains("9059/tcp") && exposed.contains("4059/tcp"),
        "{exposed}"
    );
    let version = docker_ok(&["run", "--rm", &image, "--version"]);
    assert!(version.starts_with("meterfleet "), "{version}");

    // A fleet in the container, its files on a volume the container's user can write.
    let data = dir.path().join("data");
    shared_folder(&data);
    let (key, fw) = common::signed_image(&data, "APP-2.0.0", 4000);
    readable(&key);
    let name = format!("meterfleet-test-fleet-{}", std::process::id());
    cleanup.containers.push(name.clone());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &format!("{}:/data", data.display()),
        &image,
        "emulate",
        "--scenario",
        "clean",
        "--trust-key",
        "/data/vendor.pub",
        "--addressing",
        "port-range",
        "--bind",
        "0.0.0.0",
        "--advertise",
        "CONTAINER",
        "--control",
        "0.0.0.0:9059",
        "--control-token",
        "a-token-of-sixteen-chars",
        "--targets-out",
        "/data/fleet.toml",
    ]);
    let address = docker_ok(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &name,
    ]);
    let targets = data.join("fleet.toml");
    wait_for(&targets, 30);
    let written = std::fs::read_to_string(&targets)
        .unwrap_or_else(|e| panic!("no targets file ({e}): {}", docker_ok(&["logs", &name])));
    // The advertised host, as a head-end on another machine reaches the container.
    let reachable = data.join("reachable.toml");
    std::fs::write(&reachable, written.replace("CONTAINER", &address)).unwrap();
    let first_meters: String = {
        let text = std::fs::read_to_string(&reachable).unwrap();
        let cut = text
            .match_indices("[[meter]]")
            .nth(3)
            .map_or(text.len(), |(i, _)| i);
        text[..cut].to_string()
    };
    std::fs::write(&reachable, first_meters).unwrap();
    let stdout = common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["upgrade", "--target"])
            .arg(&reachable)
            .arg("--image")
            .arg(&fw),
    );
    assert!(stdout.contains("succeeded                    3 (100.0 %)"));
    // The control endpoint answers from outside, with the fleet's metrics.
    let control = format!("{address}:9059");
    assert_eq!(
        common::metric(
            &control,
            "meterfleet_activations_total{result=\"succeeded\"}"
        ),
        3
    );
}

/// Three fleet shards and three campaign shards, each a container with its own address on a
/// private network. Mid-campaign one fleet shard and its campaign shard are killed; the fleet
/// shard starts again with its meters' stored blocks, the campaign shard resumes from its
/// journal, and the merged report accounts for every meter.
#[test]
fn a_sharded_fleet_and_campaign_in_containers_survive_a_shard_killed_mid_campaign() {
    docker_answers();
    let id = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup::default();
    let image = build_image(dir.path(), &mut cleanup, "shards");
    let network = format!("meterfleet-test-net-{id}");
    docker_ok(&["network", "create", &network]);
    cleanup.networks.push(network.clone());
    let data = dir.path().join("data");
    shared_folder(&data);
    let (key, fw) = common::signed_image(&data, "APP-2.0.0", 16_000);
    readable(&key);
    readable(&fw);
    // A slow link (PLC, time-scaled), so that the kill lands mid-transfer.
    std::fs::write(
        data.join("fleet.toml"),
        "name = \"shards\"\nseed = 17\ntime_scale = 20\n\
         addressing = \"port-range\"\n[image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 16000\n\
         [[population]]\nname = \"plc\"\ncount = 9\nlink = \"plc\"\n",
    )
    .unwrap();
    let volume = format!("{}:/data", data.display());
    let shard = |i: usize| format!("meterfleet-test-shard-{i}-{id}");
    let start_shard = |i: usize| {
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &shard(i),
            "--network",
            &network,
            "-v",
            &volume,
            &image,
            "emulate",
            "--scenario",
            "/data/fleet.toml",
            "--trust-key",
            "/data/vendor.pub",
            "--bind",
            "0.0.0.0",
            "--advertise",
            &shard(i),
            "--shard-index",
            &i.to_string(),
            "--shard-count",
            "3",
            "--state-dir",
            &format!("/data/state-{i}"),
            "--control",
            "127.0.0.1:9059",
            "--targets-out",
            &format!("/data/targets-{i}.toml"),
        ]);
    };
    for i in 0..3 {
        cleanup.containers.push(shard(i));
        start_shard(i);
    }
    // The merged targets file: one [defaults] (the shards share it), every shard's meters.
    let mut merged = String::new();
    for i in 0..3 {
        let path = data.join(format!("targets-{i}.toml"));
        assert!(wait_for(&path, 30), "{}", docker_ok(&["logs", &shard(i)]));
        let text = std::fs::read_to_string(&path).unwrap();
        let meters = text.find("[[meter]]").unwrap();
        if i == 0 {
            merged.push_str(&text[..meters]);
        }
        merged.push_str(&text[meters..]);
    }
    assert_eq!(merged.matches("[[meter]]").count(), 9);
    std::fs::write(data.join("all.toml"), &merged).unwrap();
    readable(&data.join("all.toml"));
    let campaign = |i: usize| format!("meterfleet-test-campaign-{i}-{id}");
    for i in 0..3 {
        cleanup.containers.push(campaign(i));
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &campaign(i),
            "--network",
            &network,
            "-v",
            &volume,
            &image,
            "upgrade",
            "--target",
            "/data/all.toml",
            "--image",
            "/data/fw.img",
            "--shard-index",
            &i.to_string(),
            "--shard-count",
            "3",
            "--journal",
            &format!("/data/journal-{i}.jsonl"),
            "--json",
            &format!("/data/report-{i}.json"),
        ]);
    }
    // Mid-transfer: shard 1's meters hold some blocks, not all.
    let journal = data.join("journal-1.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline
        && std::fs::read_to_string(&journal).map_or(0, |j| j.matches("\"initiate\"").count()) < 3
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let running = docker_ok(&["inspect", "--format", "{{.State.Running}}", &campaign(1)]);
    assert_eq!(
        running,
        "true",
        "campaign shard 1 ended before the kill: {}\nfleet shard 1: {}\n{}",
        docker_ok(&["logs", &campaign(1)]),
        docker_ok(&["logs", &shard(1)]),
        merged
    );
    docker_ok(&["kill", &campaign(1)]);
    docker_ok(&["kill", &shard(1)]);
    docker_ok(&["start", &shard(1)]);
    let resumed = format!("meterfleet-test-resumed-{id}");
    cleanup.containers.push(resumed.clone());
    docker_ok(&[
        "run",
        "--name",
        &resumed,
        "--network",
        &network,
        "-v",
        &volume,
        &image,
        "upgrade",
        "--resume",
        "/data/journal-1.jsonl",
    ]);
    for i in [0, 2] {
        assert_eq!(
            docker_ok(&["wait", &campaign(i)]),
            "0",
            "{}",
            docker_ok(&["logs", &campaign(i)])
        );
    }
    let reports: Vec<String> = (0..3)
        .map(|i| data.join(format!("report-{i}.json")).display().to_string())
        .collect();
    let merged_report = data.join("report.json");
    common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["report", "merge"])
            .args(&reports)
            .arg("--json")
            .arg(&merged_report),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&merged_report).unwrap()).unwrap();
    let meters = report["meters"].as_array().unwrap();
    assert_eq!(meters.len(), 9, "every meter accounted for");
    assert_eq!(report["summary"]["succeeded"], 9, "{}", report["summary"]);
    // Shard 1's meters kept their stored blocks across the kill: the resumed campaign sent
    // them fewer than a whole image each.
    let shard_one: Vec<&serde_json::Value> = meters[3..6].iter().collect();
    let sent: u64 = shard_one
        .iter()
        .map(|m| m["blocks_sent"].as_u64().unwrap())
        .sum();
    let needed: u64 = shard_one
        .iter()
        .map(|m| m["blocks_needed"].as_u64().unwrap())
        .sum();
    assert!(
        sent < needed,
        "shard 1's meters were sent {sent} of {needed} blocks after the kill"
    );
}
