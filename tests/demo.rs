//! `meterfleet demo` on a small fleet: the report's schema, statistics that agree with the
//! per-meter outcomes, every meter the scenario does not doom upgraded, and the same seed giving
//! the same per-meter results.

mod common;

use common::root;
use serde_json::Value;
use std::process::Command;

fn demo(out: &std::path::Path) -> (bool, Value) {
    let status = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(["demo", "--scenario"])
        .arg(root().join("tests/data/small-fleet.toml"))
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    let report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(std::fs::read_to_string(out.join("report.html"))
        .unwrap()
        .contains("Meters upgraded over time"));
    (status.success(), report)
}

fn per_meter(report: &Value) -> Vec<(String, bool, bool, u64, u64)> {
    report["meters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["meter"].as_str().unwrap().to_string(),
                m["doomed"].as_bool().unwrap(),
                m["upgraded"].as_bool().unwrap(),
                m["pass"].as_u64().unwrap(),
                m["blocks_needed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_demo_report_is_complete_consistent_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, report) = demo(&dir.path().join("a"));
    assert!(
        ok,
        "every meter the scenario does not doom must be upgraded"
    );
    assert_eq!(report["schema"], "meterfleet-campaign-report/1");
    let s = &report["summary"];
    let meters = report["meters"].as_array().unwrap();
    assert_eq!(s["expected"], 60);
    assert_eq!(meters.len(), 60);
    let upgraded = meters.iter().filter(|m| m["upgraded"] == true).count() as u64;
    assert_eq!(s["succeeded"].as_u64().unwrap(), upgraded);
    assert_eq!(s["failed"].as_u64().unwrap(), 60 - upgraded);
    let doomed = meters.iter().filter(|m| m["doomed"] == true).count() as u64;
    assert_eq!(report["scenario"]["doomed"].as_u64().unwrap(), doomed);
    assert!(doomed > 0, "the small scenario dooms at least one meter");
    assert_eq!(upgraded, 60 - doomed, "exactly the doomed meters fail");
    let sent: u64 = meters
        .iter()
        .map(|m| m["blocks_sent"].as_u64().unwrap())
        .sum();
    assert_eq!(s["blocks_sent"].as_u64().unwrap(), sent);
    let after = s["succeeded_after_pass"].as_array().unwrap();
    assert_eq!(after.last().unwrap().as_u64().unwrap(), upgraded);
    assert_eq!(
        report["incomplete_after_pass"].as_array().unwrap().len(),
        after.len()
    );
    let (_, again) = demo(&dir.path().join("b"));
    assert_eq!(
        per_meter(&report),
        per_meter(&again),
        "the same seed gives the same run"
    );
}

#[test]
fn the_plan_demo_brings_the_mixed_fleet_through_its_steps_and_halts_on_the_bad_batch() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::output_in(
        dir.path(),
        &[
            "demo",
            "--scenario",
            "mixed",
            "--plan",
            "mixed",
            "--out",
            ".",
        ],
    );
    let stdout = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        common::text(&out.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let plan = &report["plan"];
    assert_eq!(plan["verdict"], "halted", "{stdout}");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    for step in &steps[..3] {
        for wave in step["waves"].as_array().unwrap() {
            assert_eq!(wave["summary"]["failed"], 0, "{stdout}");
        }
        assert_eq!(step["waves"][0]["name"], "canary");
    }
    // Batch 7 never took the communication module: the gate of 1.5 holds it back.
    assert_eq!(steps[1]["gated"].as_array().unwrap().len(), 20);
    // Its own step halts after the canary: the rest of the batch is never touched.
    assert_eq!(steps[3]["waves"].as_array().unwrap().len(), 1);
    assert_eq!(steps[3]["waves"][0]["summary"]["failed"], 2);
    assert!(plan["halted"]
        .as_str()
        .unwrap()
        .starts_with("halted after the canary of step \"batch 7 communication module\""));
    let versions: Vec<&str> = report["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["COM-1.1.0", "APP-1.5.0", "APP-2.0.0"]);
    assert!(std::fs::read_to_string(dir.path().join("report.html"))
        .unwrap()
        .contains("Command history"));
}
