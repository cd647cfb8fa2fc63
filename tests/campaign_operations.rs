//! Campaigns as operators run them, against real `meterfleet` processes: a campaign killed
//! mid-transfer (SIGKILL) and taken up again with `upgrade --resume JOURNAL` (every meter ends
//! upgraded, none is initiated twice and no block the meters stored is sent again, counted by
//! the emulated meters themselves); scheduled activations confirmed after their time; the
//! campaign's live metrics.

mod common;

use common::metric;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_campaign_killed_mid_transfer_resumes_without_initiating_again_or_resending_a_stored_block() {
    let dir = tempfile::tempdir().unwrap();
    // Six meters on an RF link (75 ms one way, 20 kbit/s) ten times faster: a few seconds of
    // blocks each, so that the kill lands in the middle.
    let common::TestFleet {
        fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.78.0.1",
        10,
        40_000,
        "[[population]]\nname = \"m\"\ncount = 6\nlink = \"rf\"\n",
    );
    let control = fleet.control.clone();
    let journal = dir.path().join("campaign.jsonl");
    let campaign = Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .arg("upgrade")
        .arg("--target")
        .arg(&targets)
        .arg("--image")
        .arg(&image)
        .arg("--journal")
        .arg(&journal)
        .args(["--concurrency", "6"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut campaign = common::Running(campaign);
    // Six meters, the image in blocks of the emulated meters' 200 bytes.
    let needed = 6 * std::fs::metadata(&image).unwrap().len().div_ceil(200);
    wait_for_blocks(&control, needed / 4);
    campaign.0.kill().unwrap();
    campaign.0.wait().unwrap();
    let before = metric(&control, "meterfleet_blocks_received_total");
    assert!(
        before < needed,
        "killed mid-transfer: {before} of {needed} blocks stored"
    );

    let out = common::output_in(
        dir.path(),
        &["upgrade", "--resume", journal.to_str().unwrap()],
    );
    let stdout = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        common::text(&out.stderr)
    );
    assert!(
        stdout.contains("resuming the campaign journalled in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("succeeded                    6 (100.0 %)"),
        "{stdout}"
    );
    assert_eq!(
        metric(&control, "meterfleet_initiates_total"),
        6,
        "each meter initiated once"
    );
    assert_eq!(
        metric(&control, "meterfleet_blocks_repeated_total"),
        0,
        "no stored block sent again"
    );
    assert_eq!(
        metric(&control, "meterfleet_blocks_received_total"),
        needed,
        "every block stored exactly once"
    );
    // Resuming a campaign that is done sends nothing more.
    let again = common::output_in(
        dir.path(),
        &["upgrade", "--resume", journal.to_str().unwrap()],
    );
    assert!(again.status.success(), "{}", common::text(&again.stdout));
    assert_eq!(metric(&control, "meterfleet_blocks_received_total"), needed);
}

/// Waits until the meters have stored at least `at_least` blocks.
fn wait_for_blocks(control: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(control, "meterfleet_blocks_received_total") < at_least {
        assert!(
            Instant::now() < deadline,
            "the campaign stored too few blocks"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_scheduled_activation_is_confirmed_after_its_time_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.82.0.1",
        20,
        3_000,
        "[[population]]\nname = \"s\"\ncount = 4\n",
    );
    let journal = dir.path().join("campaign.jsonl");
    let at = activation_in(6);
    let scheduled = common::upgrade(
        dir.path(),
        &targets,
        &image,
        &["--activate", &at, "--journal", journal.to_str().unwrap()],
    );
    assert!(
        scheduled.status.success(),
        "{}",
        common::text(&scheduled.stdout)
    );
    let activated = "meterfleet_activations_total{result=\"succeeded\"}";
    assert_eq!(metric(&fleet.control, activated), 0, "not before its time");
    let confirmed = common::output_in(
        dir.path(),
        &[
            "upgrade",
            "--confirm",
            journal.to_str().unwrap(),
            "--json",
            "confirmed.json",
        ],
    );
    let stdout = common::text(&confirmed.stdout);
    assert!(confirmed.status.success(), "{stdout}");
    assert!(stdout.contains("waiting"), "{stdout}");
    assert_eq!(metric(&fleet.control, activated), 4);
    assert_eq!(
        metric(&fleet.control, "meterfleet_blocks_received_total"),
        4 * 16
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("confirmed.json")).unwrap()).unwrap();
    for m in report["meters"].as_array().unwrap() {
        assert_eq!(m["outcome"]["result"], "upgraded", "{m}");
        assert!(m["phases"]["confirm"].is_string(), "{m}");
    }
    assert_eq!(
        report["summary"]["blocks_sent"], 0,
        "confirming sends no block"
    );
}

#[test]
fn a_campaign_that_awaits_its_scheduled_activation_confirms_it_itself() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.83.0.1",
        20,
        3_000,
        "[[population]]\nname = \"a\"\ncount = 3\n",
    );
    let at = activation_in(5);
    let out = common::upgrade(
        dir.path(),
        &targets,
        &image,
        &[
            "--activate",
            &at,
            "--await-activation",
            "--json",
            "report.json",
        ],
    );
    let stdout = common::text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        metric(
            &fleet.control,
            "meterfleet_activations_total{result=\"succeeded\"}"
        ),
        3
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for m in report["meters"].as_array().unwrap() {
        assert_eq!(m["outcome"]["result"], "upgraded", "{m}");
        // One line per meter: the transfer's phases and the confirmation's.
        assert!(
            m["phases"]["last-block"].is_string() && m["phases"]["confirm"].is_string(),
            "{m}"
        );
    }
    assert_eq!(
        report["summary"]["blocks_sent"],
        report["summary"]["blocks_needed"]
    );
}

#[test]
fn a_running_campaign_serves_its_progress_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet: _fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.84.0.1",
        10,
        12_000,
        "[[population]]\nname = \"w\"\ncount = 4\nlink = \"rf\"\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("127.0.0.1:{port}");
    // One meter at a time, so that some are done while the others are not.
    let mut campaign = common::Running(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .arg("upgrade")
            .arg("--target")
            .arg(&targets)
            .arg("--image")
            .arg(&image)
            .args(["--concurrency", "1", "--metrics", &endpoint])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        assert!(Instant::now() < deadline, "no meter done within a minute");
        if std::net::TcpStream::connect(&endpoint).is_ok() {
            let done = metric(&endpoint, "meterfleet_campaign_meters_done");
            if done >= 1 {
                break done;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(done < 4, "caught while running");
    assert_eq!(metric(&endpoint, "meterfleet_campaign_meters"), 4);
    assert!(metric(&endpoint, "meterfleet_campaign_blocks_sent_total") >= 61);
    assert!(metric(&endpoint, "meterfleet_campaign_meters_upgraded_total") >= 1);
    assert!(campaign.0.wait().unwrap().success());
}

#[test]
fn a_campaign_authenticates_each_meter_with_the_hls_keys_its_targets_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.85.0.1",
        20,
        3_000,
        "[[population]]\nname = \"h\"\ncount = 3\n",
    );
    // Every meter as the HLS-GMAC client of its own `hls` line: ciphered, authenticated.
    let written = std::fs::read_to_string(&targets).unwrap();
    assert_eq!(
        written.matches("\nhls = { client = 48, ").count(),
        3,
        "{written}"
    );
    let hls = dir.path().join("hls-fleet.toml");
    std::fs::write(
        &hls,
        written.replace("client = \"lls\"", "client = \"hls\""),
    )
    .unwrap();
    let out = common::upgrade(dir.path(), &hls, &image, &["--json", "report.json"]);
    let stdout = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        common::text(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for m in report["meters"].as_array().unwrap() {
        assert_eq!(m["outcome"]["result"], "upgraded", "{m}");
        let associated = m["events"][0]["message"].as_str().unwrap();
        assert!(associated.starts_with("associated"), "{associated}");
    }
    assert_eq!(
        metric(
            &fleet.control,
            "meterfleet_activations_total{result=\"succeeded\"}"
        ),
        3
    );
    // A wrong key in one meter's line: that meter alone is refused, by name.
    let wrong = written.replacen(
        "authentication_key = \"D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\"",
        "authentication_key = \"00000000000000000000000000000000\"",
        1,
    );
    std::fs::write(&hls, wrong.replace("client = \"lls\"", "client = \"hls\"")).unwrap();
    let out = common::upgrade(dir.path(), &hls, &image, &[]);
    let stdout = common::text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 already on the target version, 1 unreachable"),
        "the meter whose key is wrong is not reached: {stdout}"
    );
}

/// `--activate`'s argument for `seconds` from now.
fn activation_in(seconds: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("at={}", now + seconds)
}

#[test]
fn fleets_over_udp_own_addresses_and_behind_a_gateway_are_upgraded() {
    for (addressing, first) in [("own-address", "127.88.0.1"), ("gateway", "127.88.1.1")] {
        let dir = tempfile::tempdir().unwrap();
        let (key, image) = common::signed_image(dir.path(), "APP-2.0.0", 3_000);
        let scenario = dir.path().join("udp.toml");
        std::fs::write(
            &scenario,
            format!(
                "name = \"udp\"\nseed = 9\nfirst_address = \"{first}\"\ntime_scale = 20\n\
                 transport = \"udp\"\naddressing = \"{addressing}\"\n\
                 [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 3000\n\
                 [[population]]\nname = \"u\"\ncount = 3\nfaults = {{ lose_block = 0.05 }}\n"
            ),
        )
        .unwrap();
        let targets = dir.path().join("fleet.toml");
        let fleet = common::Fleet::start(&scenario, &key, &targets);
        let written = std::fs::read_to_string(&targets).unwrap();
        assert!(written.contains("transport = \"udp\""), "{written}");
        let out = common::upgrade(dir.path(), &targets, &image, &[]);
        let stdout = common::text(&out.stdout);
        assert!(out.status.success(), "{addressing}: {stdout}");
        assert_eq!(
            metric(
                &fleet.control,
                "meterfleet_activations_total{result=\"succeeded\"}"
            ),
            3,
            "{addressing}"
        );
    }
}

#[test]
fn the_same_campaign_started_again_over_its_journal_goes_on_and_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let common::TestFleet {
        fleet: _fleet,
        targets,
        image,
    } = common::test_fleet(
        dir.path(),
        "127.89.0.1",
        20,
        3000,
        "[[population]]\nname = \"m\"\ncount = 3\n",
    );
    let journal = dir.path().join("job.jsonl");
    let journal = journal.to_str().unwrap();
    let upgrade = |concurrency: &str| {
        common::upgrade(
            dir.path(),
            &targets,
            &image,
            &["--journal", journal, "--concurrency", concurrency],
        )
    };
    assert!(upgrade("3").status.success());
    // As an orchestrator restarts a job's pod: the same command, the same journal.
    let again = upgrade("3");
    let said = common::text(&again.stdout);
    assert!(again.status.success(), "{said}");
    assert!(said.contains("journals this very campaign"), "{said}");
    assert!(
        said.contains("blocks sent / needed         0 / 0"),
        "nothing sent again: {said}"
    );
    let other = upgrade("2");
    assert!(!other.status.success());
    assert!(common::text(&other.stderr).contains("a journal of another campaign"));
}
