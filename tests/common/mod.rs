//! What the integration tests share: the pinned Python environment, the `meterfleet` binary,
//! and emulated meter processes.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod pty;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the environment the README test command creates; `None` (after saying so)
/// when it is missing, a failure when MF_REQUIRE_INTEROP is set.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    if candidate.exists() {
        return Some(candidate);
    }
    assert!(
        std::env::var("MF_REQUIRE_INTEROP").is_err(),
        "MF_REQUIRE_INTEROP is set but {} is missing",
        candidate.display()
    );
    eprintln!(
        "skipped: no Python environment at {}; run ./scripts/test.sh",
        candidate.display()
    );
    None
}

/// Runs `meterfleet` with `args` in `dir`, and returns what it did.
pub fn output_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs `ip` with `args` quietly (network namespaces, links, addresses); whether it succeeded.
pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command`, which must succeed (its output and errors in the failure); its output.
pub fn succeeds(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `meterfleet upgrade --target TARGET --image IMAGE` and `extra` in `dir`, and returns
/// what it did.
pub fn upgrade(dir: &Path, target: &Path, image: &Path, extra: &[&str]) -> std::process::Output {
    let (target, image) = (target.to_str().unwrap(), image.to_str().unwrap());
    let mut args = vec!["upgrade", "--target", target, "--image", image];
    args.extend_from_slice(extra);
    output_in(dir, &args)
}

/// Runs `meterfleet` with `args`, which must succeed.
pub fn meterfleet(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "meterfleet {args:?}");
}

/// A vendor key pair and a signed image for part 1, version `version`, in `dir`; returns the
/// public key and the image.
pub fn signed_image(dir: &Path, version: &str, payload_len: u32) -> (PathBuf, PathBuf) {
    let prefix = dir.join("vendor");
    meterfleet(&["image", "keygen", "--out", prefix.to_str().unwrap()]);
    let payload = dir.join("fw.bin");
    std::fs::write(
        &payload,
        (0..payload_len)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let image = dir.join("fw.img");
    let key = format!("{}.key", prefix.display());
    meterfleet(&[
        "image",
        "build",
        "--signing-key",
        &key,
        "--part",
        "1",
        "--image-version",
        version,
        payload.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    (PathBuf::from(format!("{}.pub", prefix.display())), image)
}

/// Starts `command` and returns it with the first line it prints (once it is ready); what it
/// prints later is read and dropped, so that it never meets a closed pipe.
pub fn spawn_ready(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, line)
}

/// Starts `command`, which prints "... HOST:PORT" as its first line once it listens; returns the
/// process and the port.
pub fn spawn_listening(command: &mut Command) -> (Child, u16) {
    let (child, line) = spawn_ready(command);
    let port = line
        .split_whitespace()
        .find_map(|word| {
            word.rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .filter(|_| word.contains(':'))
        })
        .unwrap_or_else(|| panic!("no HOST:PORT in {line:?}"));
    (child, port)
}

/// A `meterfleet emulate` process on a free loopback port, killed when dropped.
pub struct Emulator {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Emulator {
    /// Starts `meterfleet emulate --listen 127.0.0.1:0` with further `args`.
    pub fn start(args: &[&str]) -> Self {
        let (child, port) = spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_meterfleet"))
                .args(["emulate", "--listen", "127.0.0.1:0"])
                .args(args)
                .stderr(Stdio::null()),
        );
        Emulator { child, port }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulated meters' management client on the command line: client 1 with LLS, since the
/// public client only reads.
pub const MANAGEMENT: [&str; 2] = ["--password", "12345678"];

/// `target` as the emulated meters' management client (client 1, LLS): the public client
/// only reads.
pub fn as_management(mut target: harness::target::Target) -> harness::target::Target {
    target.client_sap = 1;
    target.auth = harness::target::Auth::Lls(b"12345678".to_vec());
    target
}

/// A profile file in `dir` for a bench where the public client 16 may run the image transfer
/// (read-and-upgrade), as some test benches are configured, with the default management and
/// HLS clients; `extra` is added first (other profile fields).
pub fn bench_profile(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("bench-profile.toml");
    std::fs::write(
        &path,
        format!(
            "{extra}\n[[clients]]\nsap = 16\nauthentication = \"none\"\nrights = \"read-and-upgrade\"\n\n\
             [[clients]]\nsap = 1\nauthentication = \"lls\"\npassword = \"12345678\"\nrights = \"full\"\n\n\
             [[clients]]\nsap = 48\nauthentication = \"hls-gmac\"\nrights = \"full\"\n"
        ),
    )
    .unwrap();
    path
}

/// A process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `scenario`'s fleet in port-range mode on `bind`, inside network namespace
/// `namespace` if given, and returns it with the targets file it wrote to `targets`.
pub fn port_range_fleet(
    namespace: Option<&str>,
    scenario: &Path,
    key: &Path,
    bind: &str,
    targets: &Path,
) -> (Running, String) {
    let mut command = match namespace {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns])
                .arg(env!("CARGO_BIN_EXE_meterfleet"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_meterfleet")),
    };
    let fleet = command
        .args(["emulate", "--scenario"])
        .arg(scenario)
        .arg("--trust-key")
        .arg(key)
        .args(["--addressing", "port-range", "--bind", bind])
        .args(["--control", "127.0.0.1:0", "--targets-out"])
        .arg(targets)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(targets.with_extension("log")).unwrap())
        .spawn()
        .map(Running)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !targets.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Ok(written) = std::fs::read_to_string(targets) else {
        drop(fleet);
        let said = std::fs::read_to_string(targets.with_extension("log")).unwrap_or_default();
        panic!("the fleet wrote no targets file: {said}");
    };
    (fleet, written)
}

/// A `meterfleet emulate --scenario` fleet, killed when dropped.
pub struct Fleet {
    _process: Running,
    /// Its control endpoint, `HOST:PORT`.
    pub control: String,
}

impl Fleet {
    /// Starts the fleet of `scenario` trusting `key`, once it has written `targets`.
    pub fn start(scenario: &Path, key: &Path, targets: &Path) -> Fleet {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["emulate", "--scenario"])
            .arg(scenario)
            .arg("--trust-key")
            .arg(key)
            .args(["--control", "127.0.0.1:0", "--targets-out"])
            .arg(targets)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let control = loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the fleet ended");
            if let Some((_, address)) = line.trim().split_once("control on http://") {
                break address.to_string();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Fleet {
            _process: Running(child),
            control,
        }
    }
}

/// One counter of a fleet's Prometheus exposition at `control`.
pub fn metric(control: &str, name: &str) -> u64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(control).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
        .parse()
        .unwrap()
}

/// An emulated fleet for a campaign test, with its targets file and the image to send.
pub struct TestFleet {
    /// The fleet process.
    pub fleet: Fleet,
    /// Its targets file.
    pub targets: PathBuf,
    /// APP-2.0.0 for part 1, signed with the key the fleet trusts.
    pub image: PathBuf,
}

/// Starts, in `dir`, a fleet of `populations` (TOML `[[population]]` tables) from
/// `first_address`, its time scaled by `time_scale`, with an image of `payload` bytes.
pub fn test_fleet(
    dir: &Path,
    first_address: &str,
    time_scale: u32,
    payload: u32,
    populations: &str,
) -> TestFleet {
    let (key, image) = signed_image(dir, "APP-2.0.0", payload);
    let scenario = dir.join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"test\"\nseed = 1\nfirst_address = \"{first_address}\"\ntime_scale = {time_scale}\n\
             [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = {payload}\n{populations}"
        ),
    )
    .unwrap();
    let targets = dir.join("fleet.toml");
    let fleet = Fleet::start(&scenario, &key, &targets);
    TestFleet {
        fleet,
        targets,
        image,
    }
}
