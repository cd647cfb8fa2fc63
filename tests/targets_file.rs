//! One targets file, with HLS-GMAC keys per meter, drives `upgrade` and `conform` alike.

mod common;

use common::{output_in, signed_image, text, Emulator};

/// The keys `meterfleet emulate` serves HLS client 48 with (Gurux's example keys).
const GOOD_KEYS: &str = "encryption_key = \"000102030405060708090A0B0C0D0E0F\", authentication_key = \"D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\"";
/// The same, with another encryption key: the meter cannot authenticate this client.
const WRONG_KEYS: &str = "encryption_key = \"FF0102030405060708090A0B0C0D0E0F\", authentication_key = \"D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\"";

fn meterfleet(args: &[&str]) -> std::process::Output {
    output_in(std::path::Path::new("."), args)
}

#[test]
fn one_targets_file_with_hls_keys_per_meter_drives_upgrade_and_conform() {
    let dir = tempfile::tempdir().unwrap();
    let (trust, image) = signed_image(dir.path(), "APP-2.0.0", 3_000);
    let trust = trust.to_str().unwrap();
    let meters: Vec<Emulator> = (0..3)
        .map(|_| Emulator::start(&["--trust-key", trust]))
        .collect();
    let entry = |name: &str, port: u16, title: &str, keys: &str| {
        format!(
            "\n[[meter]]\nname = \"{name}\"\naddress = \"tcp://127.0.0.1:{port}\"\nhls = {{ client = 48, system_title = \"{title}\", {keys} }}\n"
        )
    };
    let file = dir.path().join("meters.toml");
    std::fs::write(
        &file,
        format!(
            "[defaults]\nclient = \"hls\"\nrequest_timeout_ms = 3000\n{}{}{}",
            entry("east", meters[0].port, "4D4D4D0000000001", GOOD_KEYS),
            entry("west", meters[1].port, "4D4D4D0000000002", GOOD_KEYS),
            entry("wrong-keys", meters[2].port, "4D4D4D0000000003", WRONG_KEYS),
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let json = dir.path().join("campaign.json");
    let junit = dir.path().join("campaign.xml");
    let html = dir.path().join("campaign.html");
    let out = meterfleet(&[
        "upgrade",
        "--target",
        file,
        "--image",
        image.to_str().unwrap(),
        "--passes",
        "1",
        "--reconnect-deadline",
        "10",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"tests="3""#) && xml.contains(r#"failures="1""#),
        "{xml}"
    );
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .contains("Meters upgraded over time"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let outcome = |name: &str| -> serde_json::Value {
        report["meters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["meter"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))["outcome"]
            .clone()
    };
    for name in ["east", "west"] {
        assert_eq!(outcome(name)["result"], "upgraded", "{name}");
    }
    // The meter whose keys are wrong refuses the association at the pre-scan: left out, why
    // said, and a failed test case all the same.
    let refused = report["prescan"]["meters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["meter"] == "wrong-keys")
        .unwrap()["verdict"]
        .clone();
    assert_eq!(refused["kind"], "unreachable", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("association rejected"),
        "{refused}"
    );

    // The same file, one meter of it, through the conformance engine's HLS client.
    let out = meterfleet(&[
        "conform",
        "--target",
        file,
        "--meter",
        "west",
        "--case",
        "as-hls-gmac",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("1 pass"), "{stdout}");
    let out = meterfleet(&[
        "conform",
        "--target",
        file,
        "--meter",
        "wrong-keys",
        "--case",
        "as-hls-gmac",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let out = meterfleet(&["conform", "--target", file, "--case", "as-hls-gmac"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("choose one with --meter (east, west, wrong-keys)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_image_a_targets_file_names_is_the_one_upgrade_sends() {
    let dir = tempfile::tempdir().unwrap();
    let (trust, image) = signed_image(dir.path(), "APP-3.0.0", 2_000);
    let meter = Emulator::start(&["--trust-key", trust.to_str().unwrap()]);
    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        format!(
            "[[meter]]\nname = \"bench\"\naddress = \"tcp://127.0.0.1:{}\"\nreconnect_deadline_s = 10\nlls = {{ client = 1, password = \"12345678\" }}\n[meter.images.valid]\nfile = \"{}\"\nidentifier = \"APP-3.0.0\"\n",
            meter.port,
            image.file_name().unwrap().to_str().unwrap()
        ),
    )
    .unwrap();
    let out = meterfleet(&["upgrade", "--target", file.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("bench: upgraded (active firmware identifier APP-3.0.0)"),
        "{stdout}"
    );
    std::fs::write(
        &file,
        format!("[[meter]]\naddress = \"tcp://127.0.0.1:{}\"\n", meter.port),
    )
    .unwrap();
    let out = meterfleet(&["upgrade", "--target", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--image is required: the target names no images.valid"),
        "{}",
        text(&out.stderr)
    );
}
