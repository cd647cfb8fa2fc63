//! A head-end on another host: a network namespace joined to this one by a veth pair, a fleet
//! in port-range mode bound to the host side's address, and `meterfleet upgrade` run inside the
//! namespace against the addresses the fleet's targets file advertises.

mod common;

use std::process::Command;

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
            if !common::ip(step) {
                return None;
            }
        }
        Some(host)
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        common::ip(&["netns", "del", &self.namespace]);
        common::ip(&["link", "del", &self.host_side]);
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
        "name = \"pods\"\nseed = 3\nport = 27100\ntime_scale = 20\n\
         [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 3000\n\
         [[population]]\nname = \"pod\"\ncount = 3\n",
    )
    .unwrap();
    let targets = dir.path().join("fleet.toml");
    let (fleet, written) = common::port_range_fleet(None, &scenario, &key, "10.231.7.1", &targets);
    for port in 27100..27103 {
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
