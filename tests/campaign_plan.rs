//! Campaign plans over a mixed emulated fleet: a prerequisite step brings a cohort through one
//! version before the next (the meters refuse the later image until they run it), a version
//! gate holds back the meters that did not, and a canary wave over a bad cohort halts the
//! campaign before its next wave.

mod common;

use common::{metric, Fleet, Running};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A mixed fleet: six E350s on APP-1.0.0 and COM-1.0.0, four E360s already on APP-1.4.0, and
/// three E350s of a bad batch that trust another vendor's key.
const SCENARIO: &str = r#"
name = "mixed"
seed = 11
first_address = "127.80.0.1"
time_scale = 20

[image]
part = 1
version = "APP-2.0.0"
size = 3000

[[population]]
name = "e350"
count = 6
firmware = { 1 = "APP-1.0.0", 2 = "COM-1.0.0" }
labels = { model = "E350" }

[[population]]
name = "e360"
count = 4
firmware = { 1 = "APP-1.4.0" }
labels = { model = "E360" }

[[population]]
name = "bad"
count = 3
labels = { model = "E350", batch = "bad" }
faults = { untrusted_key = 1.0 }
"#;

/// Builds the images of the plans in `dir`, `payload` bytes each, signed with the key
/// `common::signed_image` made: the communication module 1.1, the application 1.5 (needing
/// COM-1.1.0) and 2.0 (needing APP-1.5.0).
fn images(dir: &Path, payload: u32) -> PathBuf {
    let (public, _) = common::signed_image(dir, "APP-0", payload);
    let key = dir.join("vendor.key");
    let payload = dir.join("fw.bin");
    for (file, part, version, requires) in [
        ("com-1.1.img", "2", "COM-1.1.0", None),
        ("app-1.5.img", "1", "APP-1.5.0", Some("2=COM-1.1.0")),
        ("app-2.0.img", "1", "APP-2.0.0", Some("1=APP-1.5.0")),
    ] {
        let out = dir.join(file);
        let mut args = vec![
            "image",
            "build",
            "--signing-key",
            key.to_str().unwrap(),
            "--part",
            part,
            "--image-version",
            version,
            payload.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        if let Some(r) = requires {
            args.extend(["--requires", r]);
        }
        common::meterfleet(&args);
    }
    public
}

fn upgrade_with(dir: &Path, targets: &Path, plan: &str) -> (bool, String, serde_json::Value) {
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let out = common::output_in(
        dir,
        &[
            "upgrade",
            "--target",
            targets.to_str().unwrap(),
            "--plan",
            "plan.toml",
            "--json",
            "report.json",
        ],
    );
    let report = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    (out.status.success(), common::text(&out.stdout), report)
}

#[test]
fn a_prerequisite_step_brings_a_cohort_through_one_version_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let key = images(dir.path(), 10);
    std::fs::write(dir.path().join("mixed.toml"), SCENARIO).unwrap();
    let targets = dir.path().join("fleet.toml");
    let fleet = Fleet::start(&dir.path().join("mixed.toml"), &key, &targets);
    // APP-2.0 straight away: every meter refuses it, since none runs APP-1.5.0 yet.
    let (ok, stdout, _) = upgrade_with(
        dir.path(),
        &targets,
        "[[image]]\nname = \"app-2.0\"\nfile = \"app-2.0.img\"\n\
         [[cohort]]\nname = \"good\"\nlabels = { model = \"E350\", batch = \"good\" }\n\
         [[step]]\nimage = \"app-2.0\"\n",
    );
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("failed at verify"), "{stdout}");
    let before = metric(&fleet.control, "meterfleet_blocks_received_total");

    let plan = r#"
[[image]]
name = "com-1.1"
file = "com-1.1.img"

[[image]]
name = "app-1.5"
file = "app-1.5.img"

[[image]]
name = "app-2.0"
file = "app-2.0.img"

[[cohort]]
name = "e350-on-1"
labels = { model = "E350" }
versions = { 1 = "APP-1.*" }

[[cohort]]
name = "good"
labels = { population = "e350" }

[[step]]
name = "communication module"
image = "com-1.1"
cohorts = ["good"]

[[step]]
name = "through 1.5"
image = "app-1.5"
cohorts = ["e350-on-1"]
gate = { 2 = "COM-1.1.0" }

[[step]]
name = "to 2.0"
image = "app-2.0"
gate = { 1 = "APP-1.5.0" }
"#;
    let (ok, stdout, report) = upgrade_with(dir.path(), &targets, plan);
    drop(fleet);
    assert!(ok, "{stdout}");
    let steps = report["plan"]["steps"].as_array().unwrap();
    assert_eq!(report["plan"]["verdict"], "completed", "{stdout}");
    // The six good E350s take the communication module, then 1.5, then 2.0.
    assert_eq!(steps[0]["waves"][0]["summary"]["succeeded"], 6, "{stdout}");
    assert_eq!(steps[1]["waves"][0]["summary"]["succeeded"], 6, "{stdout}");
    // The bad batch's E350s are in "e350-on-1" but held back by the gate (COM-1.0.0).
    let gated: Vec<&str> = steps[1]["gated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[0].as_str().unwrap())
        .collect();
    assert_eq!(gated, ["bad-00001", "bad-00002", "bad-00003"]);
    // The E360s are not E350s, and the gate of 2.0 holds them back (APP-1.4.0).
    assert_eq!(steps[1]["labelled"], 9);
    assert_eq!(steps[2]["waves"][0]["summary"]["succeeded"], 6, "{stdout}");
    assert_eq!(steps[2]["gated"].as_array().unwrap().len(), 7, "{stdout}");
    let e350 = report["meters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["meter"] == "e350-00001")
        .map(|m| m["step"].as_str().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(e350, ["communication module", "through 1.5", "to 2.0"]);
    assert!(before > 0, "the refused attempt sent blocks");
}

#[test]
fn a_canary_wave_over_a_bad_cohort_halts_the_campaign_before_the_next_wave() {
    let dir = tempfile::tempdir().unwrap();
    let key = images(dir.path(), 10);
    std::fs::write(
        dir.path().join("mixed.toml"),
        SCENARIO.replace("127.80.0.1", "127.81.0.1"),
    )
    .unwrap();
    let targets = dir.path().join("fleet.toml");
    let fleet = Fleet::start(&dir.path().join("mixed.toml"), &key, &targets);
    let plan = r#"
[[image]]
name = "com-1.1"
file = "com-1.1.img"

[[cohort]]
name = "e350"
labels = { model = "E350" }

[[step]]
name = "communication module"
image = "com-1.1"
cohorts = ["e350"]

[waves]
canary = 2
halt = { verification_failures = 1 }
"#;
    // Put the bad batch first, as an operator who picked it for the canary would.
    let text = std::fs::read_to_string(&targets).unwrap();
    let (head, rest) = text.split_once("\n[[meter]]").unwrap();
    let mut meters: Vec<String> = rest
        .split("\n[[meter]]")
        .map(|m| format!("\n[[meter]]{m}"))
        .collect();
    meters.rotate_right(3);
    std::fs::write(&targets, format!("{head}{}", meters.concat())).unwrap();
    let (ok, stdout, report) = upgrade_with(dir.path(), &targets, plan);
    let initiates = metric(&fleet.control, "meterfleet_initiates_total");
    drop(fleet);
    assert!(!ok, "{stdout}");
    assert_eq!(report["plan"]["verdict"], "halted");
    let why = report["plan"]["halted"].as_str().unwrap();
    assert_eq!(
        why,
        "halted after the canary of step \"communication module\", before wave 2 of step \"communication module\": 2 meters rejected the image at verification (the threshold is 1)"
    );
    assert!(stdout.contains(&format!("plan {why}")), "{stdout}");
    assert_eq!(initiates, 2, "only the canary's two meters were touched");
    assert_eq!(report["meters"].as_array().unwrap().len(), 2);
}

#[test]
fn a_plan_killed_mid_step_resumes_from_its_journal_without_initiating_again() {
    let dir = tempfile::tempdir().unwrap();
    let key = images(dir.path(), 30_000);
    // Six E350s on an RF link ten times faster: seconds of blocks for each step.
    std::fs::write(
        dir.path().join("slow.toml"),
        "name = \"slow\"\nseed = 12\nfirst_address = \"127.86.0.1\"\ntime_scale = 10\n\
         [image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 3000\n\
         [[population]]\nname = \"e350\"\ncount = 6\nlink = \"rf\"\n\
         firmware = { 1 = \"APP-1.0.0\", 2 = \"COM-1.0.0\" }\n",
    )
    .unwrap();
    let targets = dir.path().join("fleet.toml");
    let fleet = Fleet::start(&dir.path().join("slow.toml"), &key, &targets);
    std::fs::write(
        dir.path().join("plan.toml"),
        "[[image]]\nname = \"com\"\nfile = \"com-1.1.img\"\n\
         [[image]]\nname = \"app\"\nfile = \"app-1.5.img\"\n\
         [[step]]\nname = \"communication module\"\nimage = \"com\"\n\
         [[step]]\nname = \"application\"\nimage = \"app\"\ngate = { 2 = \"COM-1.1.0\" }\n",
    )
    .unwrap();
    let journal = dir.path().join("plan.jsonl");
    let mut campaign = Running(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .current_dir(dir.path())
            .arg("upgrade")
            .arg("--target")
            .arg(&targets)
            .args(["--plan", "plan.toml", "--journal"])
            .arg(&journal)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Killed once the first step's transfers are well under way.
    let per_step = 6 * std::fs::metadata(dir.path().join("com-1.1.img"))
        .unwrap()
        .len()
        .div_ceil(200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&fleet.control, "meterfleet_blocks_received_total") < per_step / 3 {
        assert!(Instant::now() < deadline, "the plan stored too few blocks");
        std::thread::sleep(Duration::from_millis(20));
    }
    campaign.0.kill().unwrap();
    campaign.0.wait().unwrap();
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
    assert!(stdout.contains("plan completed"), "{stdout}");
    assert_eq!(
        metric(&fleet.control, "meterfleet_initiates_total"),
        12,
        "each meter initiated once per step: {stdout}"
    );
    assert_eq!(
        metric(&fleet.control, "meterfleet_blocks_repeated_total"),
        0
    );
    assert_eq!(
        metric(
            &fleet.control,
            "meterfleet_activations_total{result=\"succeeded\"}"
        ),
        12
    );
}
