//! `meterfleet conform` end to end: the detection matrix (every quirk caught, the conforming
//! profile clean), a bare tcp:// target that must not be accused, the JSON and JUnit reports,
//! baselines, case files with mistakes, and a meter lost in the middle of a run.

mod common;

use common::{output_in, root, text, Emulator};
use std::process::Output;

fn conform(args: &[&str]) -> Output {
    output_in(&root(), &[&["conform"], args].concat())
}

/// Writes a targets file at `target` for the emulated meter on `port` whose statement is the
/// TOML `statement`, and runs `conform` on it as the management client with `args`.
fn conform_declaring(
    target: &std::path::Path,
    port: u16,
    statement: &str,
    args: &[&str],
) -> Output {
    let file =
        format!("[[meter]]\naddress = \"127.0.0.1:{port}\"\n[meter.statement]\n{statement}\n");
    std::fs::write(target, file).unwrap();
    let target = target.to_str().unwrap();
    conform(&[&["--password", "12345678", "--target", target], args].concat())
}

#[test]
fn the_matrix_catches_every_quirk_by_design_and_finds_every_variant_clean() {
    let out = conform(&["--matrix"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    let row = |start: &str| {
        *rows
            .iter()
            .find(|r| r.starts_with(start))
            .unwrap_or_else(|| panic!("no row for {start}:\n{stdout}"))
    };
    for quirk in emulator::profile::Quirk::ALL {
        let name = quirk.name();
        let line = row(&format!("{name} "));
        assert!(line.contains(" caught by "), "{name} not caught: {line}");
        assert!(!line.contains("MISSED BY"), "{line}");
    }
    for variant in emulator::profile::Variant::ALL {
        let line = row(&format!("variant: {} ", variant.name()));
        assert!(line.contains("clean, as required"), "{line}");
    }
    for clean in [
        "conforming (wrapper)",
        "conforming (hdlc)",
        "variant: status 0 after activation",
    ] {
        assert!(row(clean).contains("clean, as required"), "{}", row(clean));
    }
    assert!(
        stdout.contains("every quirk caught by the cases designed for it"),
        "{stdout}"
    );
}

#[test]
fn a_bare_target_that_conforms_is_not_accused_and_the_reports_follow_their_schema() {
    let meter = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let html = dir.path().join("report.html");
    let address = format!("tcp://127.0.0.1:{}", meter.port);
    let out = conform(&[
        "--password",
        "12345678",
        "--target",
        &address,
        "--allow",
        "transfer",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "meterfleet-conformance-report/1");
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let verdicts = ["pass", "fail", "non-strict", "info", "skipped", "error"];
    for c in cases {
        assert!(c["id"].is_string() && c["level"].is_string(), "{c}");
        let verdict = c["verdict"].as_str().unwrap();
        assert!(verdicts.contains(&verdict), "{c}");
        assert!(
            !["fail", "non-strict", "error"].contains(&verdict),
            "a conforming meter accused: {} {verdict}: {}",
            c["id"],
            c["reason"]
        );
    }
    let verdict_of = |id: &str| {
        cases
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    // Without --allow, only reads run against a meter that is not emulated.
    let read_only = conform(&[
        "--target",
        &address,
        "--password",
        "12345678",
        "--case",
        "it-attr4-first-gap",
    ]);
    let table = text(&read_only.stdout);
    assert!(read_only.status.success(), "{table}");
    assert!(
        table.contains("changes the meter (tier transfer): run with --allow transfer"),
        "{table}"
    );
    // What a bare target cannot provide is skipped with the reason.
    assert_eq!(verdict_of("it-verify-bad-signature"), "skipped");
    assert_eq!(verdict_of("it-activate-new-identifier"), "skipped");
    assert_eq!(verdict_of("it-attr4-first-gap"), "pass");
    let first_gap = cases
        .iter()
        .find(|c| c["id"] == "it-attr4-first-gap")
        .unwrap();
    assert!(
        first_gap["phases"]["transfer"].as_f64().unwrap() > 0.0,
        "{first_gap}"
    );
    let skipped_reason = cases
        .iter()
        .find(|c| c["id"] == "it-verify-bad-signature")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        skipped_reason.contains("bad-signature-image"),
        "{skipped_reason}"
    );
    let summary = &report["summary"];
    assert_eq!(summary["total"].as_u64().unwrap() as usize, cases.len());
    assert_eq!(report["outcome"], "pass");
    assert!(report["tool"].as_str().unwrap().starts_with("meterfleet "));
    assert_eq!(report["catalogue"].as_str().unwrap().len(), 64);
    assert!(stdout.contains("overall: pass (meterfleet "), "{stdout}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), cases.len());
    assert!(!xml.contains("<failure"), "{xml}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("image-transfer") && page.contains("it-attr4-first-gap"));
}

#[test]
fn a_deviation_fails_the_run_until_the_baseline_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("quirky.toml");
    std::fs::write(
        &profile,
        "quirks = [\"first-not-transferred-is-last-plus-one\"]\n",
    )
    .unwrap();
    let meter = Emulator::start(&["--profile", profile.to_str().unwrap()]);
    let target = dir.path().join("target.toml");
    std::fs::write(
        &target,
        format!(
            "[[meter]]\nname = \"quirky\"\naddress = \"127.0.0.1:{}\"\nclient = \"lls\"\nlls = {{ client = 1, password = \"12345678\" }}\n",
            meter.port
        ),
    )
    .unwrap();
    let target = target.to_str().unwrap();
    let junit = dir.path().join("report.xml");
    let out = conform(&[
        "--password",
        "12345678",
        "--target",
        target,
        "--allow",
        "transfer",
        "--case",
        "it-attr4-first-gap",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The JUnit failure says what a CI reader needs: expected, observed, the exchange's end.
    let xml = std::fs::read_to_string(&junit).unwrap();
    for part in [
        "<failure",
        "expected: double-long-unsigned 2",
        "observed: double-long-unsigned 4",
        "exchange (the last lines):",
    ] {
        assert!(xml.contains(part), "{part} missing from {xml}");
    }
    assert!(
        stdout.contains("it-attr4-first-gap") && stdout.contains("fail"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected double-long-unsigned 2, observed double-long-unsigned 4"),
        "{stdout}"
    );

    let baseline = dir.path().join("baseline.toml");
    std::fs::write(
        &baseline,
        "[[deviation]]\ncase = \"it-attr4-first-gap\"\nreason = \"vendor sets last + 1; fix promised\"\n",
    )
    .unwrap();
    let out = conform(&[
        "--password",
        "12345678",
        "--target",
        target,
        "--allow",
        "transfer",
        "--case",
        "it-attr4-first-gap",
        "--baseline",
        baseline.to_str().unwrap(),
        "--html",
        dir.path().join("report.html").to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("[baseline: vendor sets last + 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("known deviations (in the baseline): it-attr4-first-gap")
            && !stdout.contains("deviations not in the baseline"),
        "{stdout}"
    );
    // The page lists the deviations apart too, each linked to its section.
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("new: none; known (in the baseline): <a href=\"#t0-it-attr4-first-gap\">"),
        "{page}"
    );
}

#[test]
fn a_meter_lost_mid_run_gives_errors_not_verdicts_and_stops_the_run() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let meter = Emulator::start(&[]);
    let target = dir.path().join("target.toml");
    std::fs::write(
        &target,
        format!(
            "[[meter]]\naddress = \"127.0.0.1:{}\"\nreconnect_deadline_s = 1\n",
            meter.port
        ),
    )
    .unwrap();
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_meterfleet"))
        .args([
            "conform",
            "--password",
            "12345678",
            "--allow",
            "write",
            "--target",
            target.to_str().unwrap(),
        ])
        .args([
            "--case",
            "as-public-client",
            "--case",
            "xd-object-undefined",
        ])
        .args(["--case", "xd-unknown-method"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(run.stderr.take().unwrap());
    let mut first = String::new();
    progress.read_line(&mut first).unwrap();
    assert!(first.contains("pass"), "{first}");
    drop(meter);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut progress, &mut rest).unwrap();
    let out = run.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{rest}");
    assert!(rest.contains("2 cases could not be judged"), "{rest}");
    let lines: Vec<&str> = stdout.lines().collect();
    let line = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert!(line("xd-object-undefined").contains("error"), "{stdout}");
    assert!(
        line("xd-unknown-method")
            .contains("not run: the meter was lost during xd-object-undefined"),
        "{stdout}"
    );
    assert!(!stdout.contains(" fail "), "{stdout}");
}

#[test]
fn what_a_case_changed_is_put_back_after_its_deviation() {
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("image-transfer");
    std::fs::create_dir(&subject).unwrap();
    std::fs::write(
        subject.join("xx-disable-then-deviate.toml"),
        r#"id = "xx-disable-then-deviate"
title = "disables the transfer, then meets a deviation"
level = "must"
requirement = "test"
source = "test"

[[steps]]
set = "image_transfer_enabled"
value = { bool = false }
expect = { result = "success" }

[[steps]]
get = "image_transfer_enabled"
expect = { value = { bool = true } }
"#,
    )
    .unwrap();
    let meter = Emulator::start(&[]);
    let address = format!("tcp://127.0.0.1:{}", meter.port);
    let json = dir.path().join("report.json");
    let out = conform(&[
        "--password",
        "12345678",
        "--target",
        &address,
        "--cases",
        dir.path().to_str().unwrap(),
        "--allow",
        "write",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "the meter was left with image_transfer_status 0 (image transfer not initiated)"
        ),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["verdict"], "fail");
    assert_eq!(
        case["teardown"][0], "restored 18/0-0:44.0.0.255/5 to boolean true",
        "{case}"
    );
    // The meter is enabled again, as it was before the case.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let enabled = runtime.block_on(async {
        let target = harness::target::Target::new(
            format!("127.0.0.1:{}", meter.port)
                .parse::<std::net::SocketAddr>()
                .unwrap(),
            harness::target::Transport::Wrapper,
        );
        let mut session = harness::session::Session::open(&target, false)
            .await
            .unwrap();
        session
            .get(
                dlms::cosem::image_transfer::CLASS_ID,
                dlms::cosem::image_transfer::LOGICAL_NAME,
                dlms::cosem::image_transfer::attribute::IMAGE_TRANSFER_ENABLED,
            )
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(enabled, dlms::Data::Boolean(true));
}

#[test]
fn a_bench_hook_power_cycles_the_meter_for_the_cases_that_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    let subject = cases.join("image-transfer");
    std::fs::create_dir_all(&subject).unwrap();
    std::fs::write(
        subject.join("xx-power-cycle.toml"),
        r#"id = "xx-power-cycle"
title = "reads the status after a power cycle"
level = "must"
requirement = "test"
source = "test"
needs = ["power-cycle"]

[[steps]]
power_cycle = {}

[[steps]]
get = "image_transfer_status"
"#,
    )
    .unwrap();
    let meter = Emulator::start(&[]);
    let marker = dir.path().join("cycled");
    let target = dir.path().join("bench.toml");
    let write_target = |hook: &str| {
        std::fs::write(
            &target,
            format!("[[meter]]\naddress = \"127.0.0.1:{}\"\n{hook}", meter.port),
        )
        .unwrap()
    };
    let run = || {
        conform(&[
            "--password",
            "12345678",
            "--target",
            target.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
        ])
    };
    write_target("");
    let table = text(&run().stdout);
    assert!(
        table.contains("needs power-cycle that the target lacks"),
        "{table}"
    );
    write_target(&format!(
        "power_cycle = \"echo $METER_ADDRESS > '{}'\"\n",
        marker.display()
    ));
    let out = run();
    let table = text(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("1 cases: 1 pass"), "{table}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        format!("127.0.0.1:{}", meter.port)
    );
}

#[test]
fn a_meter_that_contradicts_its_statement_fails_and_one_that_keeps_it_passes() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("vendor.toml");
    std::fs::write(&profile, "required_identifier = \"VENDOR-Y\"\n").unwrap();
    let meter = Emulator::start(&["--profile", profile.to_str().unwrap()]);
    let target = dir.path().join("bench.toml");
    let run = |declared: &str| {
        let statement = format!("image_identifier = \"{declared}\"");
        let args = ["--allow", "transfer", "--case", "it-initiate-status-1"];
        conform_declaring(&target, meter.port, &statement, &args)
    };
    let kept = run("VENDOR-Y");
    assert!(kept.status.success(), "{}", text(&kept.stdout));
    let broken = run("VENDOR-X");
    let table = text(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{table}");
    assert!(
        table.contains("it-initiate-status-1") && table.contains(" fail "),
        "{table}"
    );
}

#[test]
fn a_declared_option_the_meter_contradicts_fails_an_info_case_and_the_run_writes_what_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let meter = Emulator::start(&[]);
    let target = dir.path().join("bench.toml");
    let observed = dir.path().join("observed.toml");
    let run = |statement: &str| {
        let args = [
            "--allow",
            "write",
            "--case",
            "it-attr2-block-size-read-only",
            "--statement-out",
            observed.to_str().unwrap(),
        ];
        conform_declaring(&target, meter.port, statement, &args)
    };
    // The emulated meter refuses to write its block size.
    let kept = run("block_size_writable = false");
    let table = text(&kept.stdout);
    assert!(kept.status.success(), "{table}");
    assert!(
        table.contains("statement: block_size_writable = false"),
        "{table}"
    );
    assert!(
        table.contains("it-attr2-block-size-read-only  info    info"),
        "{table}"
    );
    let broken = run("block_size_writable = true");
    let table = text(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{table}");
    assert!(
        table.contains("expected block_size_writable = true, as the statement declares, observed block_size_writable = false (read-write-denied)"),
        "{table}"
    );
    let written = std::fs::read_to_string(&observed).unwrap();
    assert!(
        written
            .contains("block_size_writable = false  # observed by it-attr2-block-size-read-only"),
        "{written}"
    );
    // Silent: recorded, never judged, and written out for the vendor to review.
    let silent = run("");
    let table = text(&silent.stdout);
    assert!(silent.status.success(), "{table}");
    assert!(
        table.contains("block_size_writable = false (not declared in the statement)"),
        "{table}"
    );
    let table: toml::Table = std::fs::read_to_string(&observed).unwrap().parse().unwrap();
    assert_eq!(
        table["statement"]["block_size_writable"],
        toml::Value::Boolean(false)
    );
}

#[test]
fn a_bad_case_file_is_named_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("image-transfer");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("broken.toml"),
        "id = \"x\"\ntitle = \"t\"\nlevel = \"must\"\nrequirement = \"r\"\nsource = \"s\"\n\n[[steps]]\nget = \"image_block_size\"\nexpect = { resul = \"success\" }\n",
    )
    .unwrap();
    let out = conform(&[
        "--target",
        "tcp://127.0.0.1:9",
        "--cases",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.toml: line 9: unknown field `resul`"),
        "{stderr}"
    );
}

#[test]
fn the_catalogue_has_every_case_file_valid_and_at_least_fifty() {
    let cases = harness::conform::load_catalogue(&root().join("cases")).unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for subject in ["image-transfer", "association", "xdlms", "transport"] {
        assert!(cases.iter().any(|c| c.subject == subject), "{subject}");
    }
}

/// The anchors GitHub gives the headings of a Markdown page.
fn anchors(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|heading| {
            heading
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_case_cites_a_primary_source_and_a_section_that_exists() {
    let protocol = std::fs::read_to_string(root().join("docs/protocol.md")).unwrap();
    let known = anchors(&protocol);
    let cases = harness::conform::embedded_catalogue().unwrap();
    for case in &cases {
        let cited: Vec<&str> = case
            .source
            .split('#')
            .skip(1)
            .map(|rest| rest.split([',', ')', ' ']).next().unwrap_or(""))
            .collect();
        assert!(
            !cited.is_empty(),
            "{}: no docs/protocol.md section",
            case.id
        );
        for anchor in cited {
            assert!(
                known.iter().any(|k| k == anchor),
                "{}: #{anchor} is not a section of docs/protocol.md",
                case.id
            );
        }
        let primary = [
            "Blue Book",
            "Green Book",
            "IEC 62056",
            "MCS301",
            "SGM1400",
            "CONNEXO",
            "OSGP",
            "gurux",
            "Gurux",
        ];
        assert!(
            primary.iter().any(|p| case.source.contains(p)),
            "{}: cites no primary source: {}",
            case.id,
            case.source
        );
    }
}

#[test]
fn the_built_in_catalogue_is_the_cases_folder() {
    let on_disk = harness::conform::load_catalogue(&root().join("cases")).unwrap();
    let built_in = harness::conform::embedded_catalogue().unwrap();
    let ids = |cases: &[harness::conform::Case]| -> Vec<(String, String)> {
        cases
            .iter()
            .map(|c| (c.id.clone(), c.subject.clone()))
            .collect()
    };
    assert_eq!(ids(&built_in), ids(&on_disk));
    assert!(built_in
        .iter()
        .all(|c| c.file.starts_with("cases") && c.file.extension().is_some()));
}
