//! Interop: Gurux's Python client (gurux-dlms, pinned) upgrades `meterfleet emulate` end to end
//! (initiate, blocks, bit-string, verify, image_to_activate_info, activate, reboot, reconnect,
//! new active firmware identifier) over the wrapper and over HDLC, with no authentication and
//! with LLS. Keys and the signed image are made with `meterfleet image`.
//!
//! Needs the Python environment the README test command creates; skipped with a message
//! without it, unless MF_REQUIRE_INTEROP=1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidate = std::env::var_os("MF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
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

fn meterfleet(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "meterfleet {args:?}");
}

/// An emulated meter process, killed when dropped.
struct Emulator {
    child: Child,
    port: u16,
}

impl Emulator {
    fn start(transport: &str, trust_key: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args([
                "emulate",
                "--listen",
                "127.0.0.1:0",
                "--transport",
                transport,
                "--trust-key",
            ])
            .arg(trust_key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split_whitespace()
            .nth(3)
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Emulator { child, port }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn gurux_client_upgrades_the_emulated_meter() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("vendor");
    meterfleet(&["image", "keygen", "--out", prefix.to_str().unwrap()]);
    let payload = dir.path().join("fw.bin");
    std::fs::write(
        &payload,
        (0..12_345u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let image = dir.path().join("fw.img");
    meterfleet(&[
        "image",
        "build",
        "--key",
        &format!("{}.key", prefix.display()),
        "--part",
        "1",
        "--version",
        "APP-2.0.0",
        payload.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    let image_len = std::fs::metadata(&image).unwrap().len();
    let trust = PathBuf::from(format!("{}.pub", prefix.display()));
    for (transport, auth) in [
        ("wrapper", None),
        ("wrapper", Some("12345678")),
        ("hdlc", None),
        ("hdlc", Some("12345678")),
    ] {
        let meter = Emulator::start(transport, &trust);
        let mut cmd = Command::new(&python);
        cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/gurux_client_upgrade.py"))
            .args(["--port", &meter.port.to_string(), "--transport", transport])
            .args([
                "--image",
                image.to_str().unwrap(),
                "--identifier",
                "APP-2.0.0",
            ]);
        if let Some(pw) = auth {
            cmd.args(["--client", "1", "--password", pw]);
        }
        let out = cmd.output().unwrap();
        let case = format!(
            "{transport} / {}",
            auth.map_or("no authentication", |_| "LLS")
        );
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let blocks = image_len.div_ceil(200);
        assert_eq!(r["block_size"], 200, "{case}");
        assert_eq!(r["status_after_initiate"], 1, "{case}");
        assert_eq!(r["blocks_sent"], blocks, "{case}");
        assert_eq!(r["bitstring"], "1".repeat(blocks as usize), "{case}");
        assert_eq!(r["first_not_transferred"], blocks, "{case}");
        assert_eq!(r["status_after_verify"], 3, "{case}");
        assert_eq!(r["image_to_activate"][0]["size"], image_len, "{case}");
        assert_eq!(
            r["image_to_activate"][0]["identification"], "APP-2.0.0",
            "{case}"
        );
        assert_eq!(r["active_firmware"], "APP-2.0.0", "{case}");
        assert_eq!(r["status_after_reboot"], 6, "{case}");
    }
}
