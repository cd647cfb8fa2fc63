//! The bench link end to end over real ttys: a pseudo-terminal cable joins `meterfleet emulate
//! --serial` to the harness (or to Gurux's Python client with gurux-serial), for an upgrade over
//! HDLC on a serial line, through the optical probe's sign-on into mode E, of three meters on one
//! multidrop line, and a conformance run, transport cases included.

mod common;

use common::pty::Cable;
use common::{output_in, python, root, signed_image, spawn_ready, text, Running, MANAGEMENT};
use std::path::Path;
use std::process::{Command, Stdio};

/// `meterfleet emulate --serial PORT` with `args`, once it serves the line.
fn serial_meter(port: &str, args: &[&str]) -> Running {
    let (child, line) = spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["emulate", "--serial", port])
            .args(args)
            .stderr(Stdio::null()),
    );
    assert!(line.starts_with("meter on serial port"), "{line:?}");
    Running(child)
}

/// Upgrades `target` with the management client and returns the campaign's JSON report.
fn upgrade(dir: &Path, target: &str, image: &Path) -> serde_json::Value {
    let report = dir.join("report.json");
    let mut args = vec![
        "upgrade",
        "--target",
        target,
        "--image",
        image.to_str().unwrap(),
        "--json",
        report.to_str().unwrap(),
    ];
    args.extend(MANAGEMENT);
    let out = output_in(dir, &args);
    assert!(
        out.status.success(),
        "{target}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap()
}

fn upgraded(report: &serde_json::Value) -> usize {
    report["meters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["outcome"]["result"] == "upgraded")
        .count()
}

#[test]
fn an_upgrade_over_hdlc_on_a_serial_line_and_through_the_optical_probe() {
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = signed_image(dir.path(), "APP-2.0.0", 6_000);
    let key = key.to_str().unwrap();
    for optical in [false, true] {
        let cable = Cable::new();
        let mut args = vec!["--trust-key", key, "--baud", "19200"];
        if optical {
            args.push("--optical");
        }
        let _meter = serial_meter(&cable.a, &args);
        let target = if optical {
            format!("optical://{}", cable.b)
        } else {
            format!("serial://{}?baud=19200", cable.b)
        };
        let report = upgrade(dir.path(), &target, &image);
        assert_eq!(upgraded(&report), 1, "{target}: {report}");
        let meter = &report["meters"][0];
        assert_eq!(meter["meter"], target, "{meter}");
    }
}

#[test]
fn a_campaign_upgrades_three_meters_on_one_multidrop_line() {
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = signed_image(dir.path(), "APP-2.0.0", 3_000);
    let cable = Cable::new();
    let _line = serial_meter(
        &cable.a,
        &["--trust-key", key.to_str().unwrap(), "--meters", "3"],
    );
    let targets = dir.path().join("line.toml");
    let meters: String = (16..19)
        .map(|p| {
            format!(
                "[[meter]]\nname = \"rs485-{p}\"\naddress = \"serial://{}?baud=9600&server={p}\"\n\n",
                cable.b
            )
        })
        .collect();
    std::fs::write(&targets, meters).unwrap();
    let report = upgrade(dir.path(), targets.to_str().unwrap(), &image);
    assert_eq!(upgraded(&report), 3, "{report}");
}

#[test]
fn conformance_over_a_serial_line_runs_the_transport_cases() {
    let dir = tempfile::tempdir().unwrap();
    let cable = Cable::new();
    let _meter = serial_meter(&cable.a, &["--optical"]);
    let report = dir.path().join("conform.json");
    let out = output_in(
        dir.path(),
        &[
            "conform",
            "--target",
            &format!("optical://{}", cable.b),
            "--case",
            "tr-hdlc-reference",
            "--case",
            "tr-hdlc-bad-fcs",
            "--case",
            "tr-hdlc-unknown-address",
            "--case",
            "as-public-client",
            "--json",
            report.to_str().unwrap(),
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr))),
    )
    .unwrap();
    let verdicts: Vec<(String, String)> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for id in [
        "tr-hdlc-reference",
        "tr-hdlc-bad-fcs",
        "tr-hdlc-unknown-address",
    ] {
        assert!(
            verdicts.contains(&(id.to_owned(), "pass".to_owned())),
            "{id}: {verdicts:?}\n{}",
            text(&out.stdout)
        );
    }
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn guruxs_client_upgrades_the_serial_meter_through_mode_e() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, image) = signed_image(dir.path(), "APP-2.0.0", 4_000);
    let cable = Cable::new();
    let _meter = serial_meter(
        &cable.a,
        &["--trust-key", key.to_str().unwrap(), "--optical"],
    );
    let out = Command::new(&python)
        .arg(root().join("scripts/gurux_client_upgrade.py"))
        .args(["--serial", &cable.b, "--mode-e", "--transport", "hdlc"])
        .args(["--client", "1", "--password", "12345678"])
        .args([
            "--image",
            image.to_str().unwrap(),
            "--identifier",
            "APP-2.0.0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["active_firmware"], "APP-2.0.0", "{r}");
    assert_eq!(r["status_after_verify"], 3, "{r}");
}

#[test]
fn ports_lists_serial_ports_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = output_in(dir.path(), &["ports", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in text(&out.stdout).lines() {
        let port: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = port["path"].as_str().unwrap();
        assert!(Path::new(path).exists(), "{line}");
        assert!(port["kind"].is_string(), "{line}");
    }
}
