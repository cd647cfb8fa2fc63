//! Shards: a fleet split over three `emulate` processes and a campaign over three `upgrade`
//! processes, each a slice of the meters by index, merged by `report merge` into the report of
//! the same run unsharded, meter for meter.

mod common;

use common::{port_range_fleet, text};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SCENARIO: &str = "name = \"sharded\"\nseed = 11\nport = 27300\ntime_scale = 20\n\
    first_address = \"127.0.0.1\"\naddressing = \"port-range\"\n\
    [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 6000\n\
    [[population]]\nname = \"m\"\ncount = 11\nfaults = { lose_block = 0.05 }\n";

fn upgrade(targets: &Path, image: &Path, json: &Path, shard: Option<(u32, u32)>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meterfleet"));
    command
        .args(["upgrade", "--target"])
        .arg(targets)
        .arg("--image")
        .arg(image)
        .arg("--json")
        .arg(json);
    if let Some((index, count)) = shard {
        command.args([
            "--shard-index",
            &index.to_string(),
            "--shard-count",
            &count.to_string(),
        ]);
    }
    common::succeeds(&mut command);
}

/// What must not depend on sharding: each meter's name, verdict and blocks.
fn per_meter(report: &Value) -> Vec<(String, Value, Value, Value)> {
    report["meters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["meter"].as_str().unwrap().to_string(),
                m["upgraded"].clone(),
                m["blocks_needed"].clone(),
                m["blocks_sent"].clone(),
            )
        })
        .collect()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn merging_the_shards_of_a_run_gives_the_run_unsharded() {
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = common::signed_image(dir.path(), "APP-2.0.0", 6000);
    let scenario = dir.path().join("sharded.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let whole_targets = dir.path().join("whole.toml");
    let whole = dir.path().join("whole.json");
    {
        let _fleet = port_range_fleet(None, &scenario, &key, "127.0.0.1", &whole_targets);
        upgrade(&whole_targets, &image, &whole, None);
    }
    // Three shard fleets (a restarted fleet replays the same meters), three shard campaigns
    // over the whole targets file.
    let mut fleets = Vec::new();
    let mut shard_reports = Vec::new();
    for i in 0..3u32 {
        let targets = dir.path().join(format!("shard-{i}.toml"));
        let fleet = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["emulate", "--scenario"])
            .arg(&scenario)
            .arg("--trust-key")
            .arg(&key)
            .args(["--shard-index", &i.to_string(), "--shard-count", "3"])
            .args(["--control", "127.0.0.1:0", "--targets-out"])
            .arg(&targets)
            .stdout(std::process::Stdio::null())
            .spawn()
            .map(common::Running)
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !targets.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let listed = std::fs::read_to_string(&targets)
            .unwrap()
            .matches("[[meter]]")
            .count();
        assert_eq!(
            listed,
            [4, 4, 3][i as usize],
            "shard {i} lists its own meters only"
        );
        fleets.push(fleet);
    }
    for i in 0..3u32 {
        let json = dir.path().join(format!("report-{i}.json"));
        upgrade(&whole_targets, &image, &json, Some((i, 3)));
        shard_reports.push(json);
    }
    drop(fleets);
    let merged = dir.path().join("merged.json");
    let page = dir.path().join("merged.html");
    common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["report", "merge"])
            .args(&shard_reports)
            .arg("--json")
            .arg(&merged)
            .arg("--html")
            .arg(&page),
    );
    let (merged, whole) = (read(&merged), read(&whole));
    assert_eq!(merged["schema"], whole["schema"]);
    assert_eq!(per_meter(&merged), per_meter(&whole));
    for field in [
        "expected",
        "succeeded",
        "failed",
        "blocks_sent",
        "blocks_needed",
    ] {
        assert_eq!(merged["summary"][field], whole["summary"][field], "{field}");
    }
    assert_eq!(
        merged["downloads"][0]["packets_sent"],
        whole["downloads"][0]["packets_sent"]
    );
    assert!(std::fs::read_to_string(page).unwrap().contains("11 meters"));
}

#[test]
fn reports_of_different_kinds_are_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("campaign.json");
    let judge = dir.path().join("judge.json");
    std::fs::write(&campaign, "{\"schema\": \"meterfleet-campaign-report/1\"}").unwrap();
    std::fs::write(
        &judge,
        "{\"schema\": \"meterfleet-judge/1\", \"meters\": 0, \"rules\": []}",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(["report", "merge"])
        .arg(&campaign)
        .arg(&judge)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("among reports of schema"),
        "{}",
        text(&out.stderr)
    );
}
