//! Interop: the dlms-cosem client (PyPI, pinned) reads image transfer attributes 1-7 of
//! `meterfleet emulate` and transfers, verifies and activates an image over the wrapper.
//!
//! dlms-cosem 25.1.0 writes an octet-string's length as one byte, which is wrong for 128 bytes
//! and more (A-XDR wants `81 xx`), so the meter runs a profile with 100-byte blocks here.

mod common;

use common::{python, root, signed_image, Emulator};
use std::process::Command;

#[test]
fn dlms_cosem_reads_the_attributes_and_transfers_an_image() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (trust, image) = signed_image(dir.path(), "APP-3.1.0", 5_000);
    let image_len = std::fs::metadata(&image).unwrap().len();
    // dlms-cosem's client associates as the public client: the bench lets it upgrade.
    let profile = common::bench_profile(dir.path(), "image_block_size = 100");
    let meter = Emulator::start(&[
        "--trust-key",
        trust.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
    ]);
    let out = Command::new(&python)
        .arg(root().join("scripts/dlms_cosem_upgrade.py"))
        .args([
            "--port",
            &meter.port.to_string(),
            "--image",
            image.to_str().unwrap(),
        ])
        .args(["--identifier", "APP-3.1.0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let before = &r["before"];
    assert_eq!(before["1"], "00002c0000ff");
    assert_eq!(before["2"], 100);
    assert_eq!(before["3"], "");
    assert_eq!(before["4"], 0);
    assert_eq!(before["5"], true);
    assert_eq!(before["6"], 0);
    assert_eq!(before["7"], serde_json::json!([]));
    let blocks = image_len.div_ceil(100);
    assert_eq!(r["blocks_sent"], blocks);
    assert_eq!(r["after"]["3"], "1".repeat(blocks as usize));
    assert_eq!(r["after"]["4"], blocks);
    assert_eq!(r["after"]["6"], 3);
    assert_eq!(r["after"]["7"][0][0], image_len);
    assert_eq!(r["after"]["7"][0][1], hex::encode("APP-3.1.0"));
    assert_eq!(r["activated"], true);
}
