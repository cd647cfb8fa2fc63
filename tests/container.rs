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

/// Images and containers removed when dropped.
struct Cleanup {
    images: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            docker(&["rm", "-f", c]);
        }
        for i in &self.images {
            docker(&["rmi", "-f", i]);
        }
    }
}

/// Builds the repository's Dockerfile on two bases made from this host's files: a builder
/// holding a shell and the binary already built (so the Dockerfile skips the compilation), and
/// a runtime holding the binary's shared libraries. Returns the image's name.
fn build_image(dir: &Path, cleanup: &mut Cleanup) -> String {
    let id = std::process::id();
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
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        answers,
        "Docker Engine does not answer: the container tests need it (start the daemon)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup {
        images: Vec::new(),
        containers: Vec::new(),
    };
    let image = build_image(dir.path(), &mut cleanup);
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
    std::fs::create_dir_all(&data).unwrap();
    let (key, fw) = common::signed_image(&data, "APP-2.0.0", 4000);
    let world = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    world(&data, 0o777);
    world(&key, 0o644);
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !targets.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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
    let out = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(["upgrade", "--target"])
        .arg(&reachable)
        .arg("--image")
        .arg(&fw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("succeeded                    3 (100.0 %)"));
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
