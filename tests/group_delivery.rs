//! Group delivery end to end: a campaign over real IP multicast between network namespaces
//! (the fleet on one host, the head-end on another, joined by veth pairs and a bridge), through
//! an HDLC gateway's all-station address, and over the shipped 1,000-meter multicast scenario
//! with 2 % loss on the group path.

mod common;

use common::{ip, root};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Two hosts joined by a bridge: namespaces `fleet` (10.232.S.1) and `head` (10.232.S.2),
/// each with a veth pair to a third namespace holding the bridge; removed when dropped.
struct TwoHosts {
    fleet: String,
    head: String,
    bridge: String,
}

impl TwoHosts {
    /// None when namespaces cannot be made here (no root, no iproute2).
    fn create(subnet: u8) -> Option<Self> {
        let id = std::process::id() % 100_000;
        let hosts = TwoHosts {
            fleet: format!("mfgf{id}"),
            head: format!("mfgh{id}"),
            bridge: format!("mfgb{id}"),
        };
        let (f, h, b) = (
            hosts.fleet.as_str(),
            hosts.head.as_str(),
            hosts.bridge.as_str(),
        );
        let fleet_address = format!("10.232.{subnet}.1/24");
        let head_address = format!("10.232.{subnet}.2/24");
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", f],
            vec!["netns", "add", h],
            vec!["netns", "add", b],
            vec![
                "-n",
                b,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
            vec!["-n", b, "link", "set", "br0", "up"],
            vec![
                "-n", b, "link", "add", "tofleet", "type", "veth", "peer", "name", "eth0", "netns",
                f,
            ],
            vec![
                "-n", b, "link", "add", "tohead", "type", "veth", "peer", "name", "eth0", "netns",
                h,
            ],
            vec!["-n", b, "link", "set", "tofleet", "master", "br0", "up"],
            vec!["-n", b, "link", "set", "tohead", "master", "br0", "up"],
            vec!["-n", f, "addr", "add", &fleet_address, "dev", "eth0"],
            vec!["-n", h, "addr", "add", &head_address, "dev", "eth0"],
            vec!["-n", f, "link", "set", "eth0", "up"],
            vec!["-n", h, "link", "set", "eth0", "up"],
            vec!["-n", f, "link", "set", "lo", "up"],
            vec!["-n", h, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !ip(&step) {
                return None;
            }
        }
        Some(hosts)
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for ns in [&self.fleet, &self.head, &self.bridge] {
            ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `meterfleet demo` over `scenario` into `out`; it must succeed. Its terminal output.
fn demo(scenario: &Path, out: &Path) -> String {
    common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["demo", "--scenario"])
            .arg(scenario)
            .arg("--out")
            .arg(out),
    )
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn int(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The checks every group campaign must pass: every meter upgraded, the blocks sent a small
/// share of what unicast needs, and the group complete after its last cycle.
fn assert_group_campaign(report: &Value, meters: u64, route: &str, at_most_share: f64) {
    let s = &report["summary"];
    assert_eq!(int(&s["succeeded"]), meters, "{}", s);
    let (sent, needed) = (int(&s["blocks_sent"]), int(&s["blocks_needed"]));
    assert!(
        (sent as f64) <= needed as f64 * at_most_share,
        "{sent} blocks sent for {needed} needed by unicast"
    );
    let group = &report["group"][0];
    assert!(
        group["route"].as_str().unwrap().contains(route),
        "{}",
        group["route"]
    );
    let blocks = int(&group["blocks"]);
    assert!(int(&group["transmissions"]) >= blocks, "{group}");
    assert!(int(&group["group_bytes"]) > 200 * blocks, "{group}");
    let rounds = group["rounds"].as_array().unwrap();
    let last = rounds.last().unwrap();
    assert_eq!(last["end_of_cycle"], true);
    assert_eq!(int(&last["complete"]), int(&group["members"]), "{last}");
    // The group path lost frames, and the rounds saw it.
    assert!(
        rounds
            .iter()
            .any(|r| r["incomplete"].as_array().is_some_and(|i| !i.is_empty())),
        "no round found a meter missing a block"
    );
}

#[test]
fn a_head_end_on_another_host_upgrades_a_fleet_over_ip_multicast() {
    let Some(hosts) = TwoHosts::create(3) else {
        eprintln!(
            "skipped: no network namespaces could be made here (needs root and iproute2); CI runs as root"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = common::signed_image(dir.path(), "APP-2.0.0", 12_000);
    let scenario = dir.path().join("mc.toml");
    std::fs::write(
        &scenario,
        "name = \"mc\"\nseed = 5\nport = 27200\ntime_scale = 20\n\
         [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 12000\n\
         [[population]]\nname = \"ip\"\ncount = 24\nmulticast = \"239.255.232.1\"\n\
         faults = { group_loss = 0.05 }\n",
    )
    .unwrap();
    let targets = dir.path().join("fleet.toml");
    let (_fleet, written) =
        common::port_range_fleet(Some(&hosts.fleet), &scenario, &key, "10.232.3.1", &targets);
    assert!(
        written.contains("multicast = \"239.255.232.1:27200\""),
        "{written}"
    );
    let json = dir.path().join("report.json");
    let stdout = common::succeeds(
        Command::new("ip")
            .args(["netns", "exec", &hosts.head])
            .arg(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["upgrade", "--target"])
            .arg(&targets)
            .arg("--image")
            .arg(&image)
            .args(["--group", "--group-repair-every", "20", "--json"])
            .arg(&json),
    );
    assert!(stdout.contains("group delivery over multicast group 239.255.232.1:27200"));
    assert_group_campaign(
        &report(&json),
        24,
        "multicast group 239.255.232.1:27200",
        0.25,
    );
}

#[test]
fn a_gateway_delivers_to_its_hdlc_multidrop_through_the_all_station_address() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("hdlc.toml");
    // A concentrator with 30 meters on its multidrop line, three of which take multicast only
    // and so refuse the gateway's broadcast: they get every block point-to-point.
    std::fs::write(
        &scenario,
        "name = \"dc\"\nseed = 9\ntime_scale = 20\naddressing = \"gateway\"\n\
         first_address = \"127.0.0.1\"\nport = 27231\ntransport = \"hdlc\"\n\
         [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 8000\n\
         [campaign]\ndelivery = \"group\"\nrepair_every = 10\ninterval_ms = 1\n\
         [[population]]\nname = \"plc\"\ncount = 27\nfaults = { group_loss = 0.05 }\n\
         [[population]]\nname = \"mcs\"\ncount = 3\n\
         profile = { group = { addressing = \"multicast-only\" } }\n",
    )
    .unwrap();
    demo(&scenario, dir.path());
    let report = report(&dir.path().join("report.json"));
    assert_group_campaign(
        &report,
        30,
        "HDLC all-station UI frames through 127.0.0.1:27231",
        0.5,
    );
    let group = &report["group"][0];
    let blocks = int(&group["blocks"]);
    // The head-end broadcasts nothing to the meters that declare they take multicast only:
    // they get their blocks point-to-point from the drivers.
    let left: Vec<&str> = group["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["meter"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["mcs-00001", "mcs-00002", "mcs-00003"], "{group}");
    for m in report["meters"].as_array().unwrap() {
        if m["meter"].as_str().unwrap().starts_with("mcs-") {
            assert_eq!(int(&m["blocks_sent"]), blocks, "{m}");
        }
    }
    let broadcast_takers = group["repair_blocks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(m, _)| m.starts_with("plc-"))
        .map(|(_, n)| int(n))
        .max()
        .unwrap_or(0);
    assert!(
        broadcast_takers < blocks / 2,
        "the others took most blocks from the group: {broadcast_takers} of {blocks} repaired"
    );
}

#[test]
fn the_shipped_multicast_scenario_upgrades_a_thousand_meters_with_two_percent_group_loss() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = demo(&root().join("scenarios/multicast.toml"), dir.path());
    let report = report(&dir.path().join("report.json"));
    // The goal: at most a fifth of the blocks a unicast campaign must deliver.
    assert_group_campaign(&report, 1000, "multicast group 239.255.16.1:4059", 0.2);
    assert_eq!(report["group"][0]["left_out"], serde_json::json!([]));
    assert!(stdout.contains("blocks sent / needed"));
    // The field's download statistics count the group's blocks too.
    assert_eq!(
        report["downloads"][0]["packets_sent"],
        report["summary"]["blocks_sent"]
    );
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("Group delivery over multicast group 239.255.16.1:4059"));
}

#[test]
fn bench_group_runs_the_same_fleet_and_seed_as_a_unicast_campaign_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("small.toml");
    std::fs::write(
        &scenario,
        "name = \"small-mc\"\nseed = 4\ntime_scale = 20\nfirst_address = \"127.17.0.1\"\n\
         port = 27240\n[image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 6000\n\
         [campaign]\ndelivery = \"group\"\nrepair_every = 10\n\
         [[population]]\nname = \"m\"\ncount = 30\nmulticast = \"239.255.17.1\"\n\
         faults = { group_loss = 0.03 }\n",
    )
    .unwrap();
    let json = dir.path().join("compared.json");
    let stdout = common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["bench", "group", "--scenario"])
            .arg(&scenario)
            .arg("--json")
            .arg(&json),
    );
    assert!(stdout.contains("blocks sent"), "{stdout}");
    let compared = report(&json);
    let (g, u) = (&compared["group"], &compared["unicast"]);
    assert_eq!((int(&g["upgraded"]), int(&u["upgraded"])), (30, 30));
    assert_eq!(g["blocks_needed"], u["blocks_needed"]);
    assert_eq!(
        u["blocks_sent"], u["blocks_needed"],
        "unicast sends each block once"
    );
    assert!(
        int(&g["blocks_sent"]) * 5 <= int(&u["blocks_sent"]),
        "{compared}"
    );
}
