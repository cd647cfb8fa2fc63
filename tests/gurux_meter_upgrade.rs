//! `meterfleet upgrade` against Gurux's wire: `scripts/gurux_meter.py`, the project's own IC 18
//! logic on Gurux's Python codec and server classes (gurux-dlms pinned), that loses a block and
//! answers verify and activate with temporary-failure for a while. The upgrade must succeed,
//! the bytes the meter stored must equal the image, and the exit status must be non-zero when
//! the new firmware cannot be confirmed.

mod common;

use common::{python, root, spawn_listening};
use std::process::{Child, Command, Stdio};

struct GuruxMeter {
    child: Child,
    port: u16,
}

impl GuruxMeter {
    fn start(python: &std::path::Path, store: &std::path::Path) -> Self {
        let (child, port) = spawn_listening(
            Command::new(python)
                .arg(root().join("scripts/gurux_meter.py"))
                .args(["--lose-block", "3", "--busy-ms", "800", "--store"])
                .arg(store)
                .stderr(Stdio::inherit()),
        );
        GuruxMeter { child, port }
    }
}

impl Drop for GuruxMeter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn upgrade(
    port: u16,
    image: &std::path::Path,
    version: &str,
    json: &std::path::Path,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args([
            "upgrade",
            "--target",
            &format!("tcp://127.0.0.1:{port}"),
            "--client",
            "16",
        ])
        .args([
            "--image",
            image.to_str().unwrap(),
            "--identifier",
            "GX-2.0.0",
            "--expect-version",
            version,
        ])
        .args([
            "--reconnect-deadline",
            "5",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn meterfleet_upgrades_a_gurux_based_meter_that_loses_a_block_and_is_slow() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("opaque.bin");
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let store = dir.path().join("stored.bin");
    let meter = GuruxMeter::start(&python, &store);
    let json = dir.path().join("report.json");
    let out = upgrade(meter.port, &image, "GX-2.0.0", &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "meterfleet-campaign-report/1");
    let report = &report["meters"][0];
    assert_eq!(report["outcome"]["result"], "upgraded");
    assert_eq!(report["outcome"]["evidence"]["value"], "GX-2.0.0");
    assert_eq!(report["blocks_needed"], 100);
    assert_eq!(report["blocks_sent"], 101, "the lost block is sent again");
    assert_eq!(report["passes"], 2);
    let messages: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("verify answered temporary-failure")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("activate answered temporary-failure")),
        "{messages:?}"
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        bytes,
        "the meter stored exactly the image sent"
    );
}

#[test]
fn the_exit_status_is_non_zero_when_the_new_firmware_is_not_confirmed() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("opaque.bin");
    std::fs::write(&image, vec![0x42; 3_000]).unwrap();
    let meter = GuruxMeter::start(&python, &dir.path().join("stored.bin"));
    let json = dir.path().join("report.json");
    let out = upgrade(meter.port, &image, "SOMETHING-ELSE", &json);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["meters"][0]["outcome"]["result"], "failed");
}
