//! A head-end on another host: a network namespace joined to this one by a veth pair, a fleet
//! in port-range mode bound to the host side's address, and `meterfleet upgrade` run inside the
//! namespace against the addresses the fleet's targets file advertises.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command quietly; whether it succeeded.
fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A namespace with a veth pair to it, removed when dropped.
struct OtherHost {
    namespace: String,
    host_side: String,
}

impl OtherHost {
    /// `10.231.N.1` on this side, `10.231.N.2` inside; None when namespaces cannot be made here.
    fn create(subnet: u8) -> Option<Self> {
        let id = std::process::id() % 100_000;
        let host = OtherHost {
            namespace: format!("mfhe{id}"),
            host_side: format!("mfh{id}"),
        };
        let inside = format!("mfn{id}");
        let (ns, hs) = (host.namespace.as_str(), host.host_side.as_str());
        let here = format!("10.231.{subnet}.1/24");
        let there = format!("10.231.{subnet}.2/24");
        let steps: [&[&str]; 8] = [
            &["netns", "add", ns],
            &["link", "add", hs, "type", "veth", "peer", "name", &inside],
            &["link", "set", &inside, "netns", ns],
            &["addr", "add", &here, "dev", hs],
            &["link", "set", hs, "up"],
            &["-n", ns, "addr", "add", &there, "dev", &inside],
            &["-n", ns, "link", "set", &inside, "up"],
            &["-n", ns, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !run("ip", step) {
                return None;
            }
        }
        Some(host)
    }
}

/// A process killed when dropped, so that a failed assertion leaves nothing running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        run("ip", &["netns", "del", &self.namespace]);
        run("ip", &["link", "del", &self.host_side]);
    }
}

#[test]
fn a_head_end_on_another_host_upgrades_a_port_range_fleet_at_its_advertised_addresses() {
    let Some(other) = OtherHost::create(7) else {
        eprintln!(
            "skipped: no network namespace could be made here (needs root and iproute2); CI runs as root"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = common::signed_image(dir.path(), "APP-2.0.0", 3000);
    let scenario = dir.path().join("pods.toml");
    std::fs::write(
        &scenario,
        "name = \"pods\"\nseed = 3\nport = 47100\ntime_scale = 20\n\
         [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 3000\n\
         [[population]]\nname = \"pod\"\ncount = 3\n",
    )
    .unwrap();
    let targets = dir.path().join("fleet.toml");
    let fleet = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(["emulate", "--scenario"])
        .arg(&scenario)
        .arg("--trust-key")
        .arg(&key)
        .args(["--addressing", "port-range", "--bind", "10.231.7.1"])
        .args(["--control", "127.0.0.1:0", "--targets-out"])
        .arg(&targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !targets.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = std::fs::read_to_string(&targets).unwrap();
    for port in 47100..47103 {
        assert!(
            written.contains(&format!("address = \"10.231.7.1:{port}\"")),
            "{written}"
        );
    }
    assert!(
        written.contains("client = \"lls\"\nlls = { client = 1, password = \"12345678\" }"),
        "the management client, since the public one only reads: {written}"
    );
    assert!(
        written.contains("statement = { activation_reboots = true, "),
        "each meter's implementation statement, for conform: {written}"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &other.namespace])
        .arg(env!("CARGO_BIN_EXE_meterfleet"))
        .args(["upgrade", "--target"])
        .arg(&targets)
        .arg("--image")
        .arg(&image)
        .output()
        .unwrap();
    drop(fleet);
    let stdout = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        common::text(&out.stderr)
    );
    assert!(
        stdout.contains("succeeded                    3 (100.0 %)"),
        "{stdout}"
    );
}
