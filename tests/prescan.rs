//! The pre-scan before a campaign sends any block: meters already on the target version are
//! skipped and counted, unreachable ones and those not in a normal state (an error in their
//! error register) are reported apart, and only the others are expected.

mod common;

#[test]
fn the_prescan_skips_upgraded_meters_and_reports_unreachable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.79.0.1",
        20,
        3_000,
        "[[population]]\nname = \"s\"\ncount = 4\n[[population]]\nname = \"tampered\"\ncount = 1\nabnormal = 1.0\n",
    );
    let written = std::fs::read_to_string(&targets).unwrap();
    // The first two meters are upgraded beforehand, through a targets file of their own.
    let blocks: Vec<&str> = written.split("\n[[meter]]").collect();
    let first_two = dir.path().join("first-two.toml");
    std::fs::write(&first_two, blocks[..3].join("\n[[meter]]")).unwrap();
    let upgrade = |file: &std::path::Path| {
        common::upgrade(dir.path(), file, &image, &["--json", "report.json"])
    };
    let out = upgrade(&first_two);
    assert!(out.status.success(), "{}", common::text(&out.stdout));
    // Then the whole fleet, and a meter nobody listens for.
    let with_a_stranger = dir.path().join("all.toml");
    std::fs::write(
        &with_a_stranger,
        format!("{written}\n[[meter]]\nname = \"gone\"\naddress = \"127.79.0.99:4059\"\nconnect_deadline_s = 1.0\n"),
    )
    .unwrap();
    let out = upgrade(&with_a_stranger);
    drop(fleet);
    let stdout = common::text(&out.stdout);
    assert!(!out.status.success(), "a meter was left out: {stdout}");
    assert!(
        stdout.contains(
            "pre-scan of 6 meters: 2 expected, 2 already on the target version, 1 unreachable, 1 not in a normal state"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("succeeded                    2 (100.0 %)"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["expected"], 2);
    let history = report["command_history"].as_array().unwrap();
    assert_eq!(history[0]["command"], "download");
    assert_eq!(history[0]["expected"], 2);
    assert_eq!(history[0]["succeeded"], 2);
    assert_eq!(history[3]["command"], "confirm");
    let download = &report["downloads"][0];
    assert_eq!(download["version"], "APP-2.0.0");
    assert_eq!(download["packets_sent"], download["packets_needed"]);
    assert!(
        download["first_packet"].as_str().unwrap() <= download["last_packet"].as_str().unwrap()
    );
    let scanned = report["prescan"]["meters"].as_array().unwrap();
    assert_eq!(scanned[0]["verdict"]["kind"], "on-target");
    assert_eq!(scanned[0]["versions"]["1"], "APP-2.0.0");
    assert_eq!(scanned[2]["verdict"]["kind"], "needs");
    assert_eq!(scanned[4]["verdict"]["kind"], "not-normal");
    assert_eq!(
        scanned[4]["verdict"]["reason"],
        "the error register (0-0:97.97.0.255) shows 0x00000100"
    );
    assert_eq!(scanned[5]["meter"], "gone");
    assert_eq!(scanned[5]["verdict"]["kind"], "unreachable");
}
