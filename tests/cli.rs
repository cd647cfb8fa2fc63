//! The command line as a newcomer meets it, from an empty folder: the built-in catalogue and
//! scenarios, readable decoding, completions and the manual page.

mod common;

use common::{output_in as meterfleet_in, text, Emulator};

#[test]
fn conform_runs_the_built_in_catalogue_from_an_empty_folder() {
    let empty = tempfile::tempdir().unwrap();
    let meter = Emulator::start(&[]);
    let target = format!("tcp://127.0.0.1:{}", meter.port);
    let out = meterfleet_in(
        empty.path(),
        &[
            "conform",
            "--target",
            &target,
            "--case",
            "it-attr1-logical-name",
            "--case",
            "it-attr2-block-size-type",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 cases: 2 pass"), "{stdout}");
    let dry = meterfleet_in(empty.path(), &["conform", "--target", &target, "--dry-run"]);
    let plan = text(&dry.stdout);
    let case_files = std::fs::read_dir(common::root().join("cases"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|d| d.is_dir() && !d.ends_with("reports"))
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .filter(|f| f.as_ref().unwrap().path().extension() == Some("toml".as_ref()))
        .count();
    assert!(plan.contains(&format!("{case_files} cases: ")), "{plan}");
    assert!(
        plan.contains("would skip: changes the meter (tier transfer): run with --allow transfer"),
        "{plan}"
    );
    assert!(
        plan.contains("it-attr1-logical-name") && plan.contains("would run"),
        "{plan}"
    );
}

#[test]
fn decode_names_the_image_transfer_object() {
    let empty = tempfile::tempdir().unwrap();
    let out = meterfleet_in(
        empty.path(),
        &["decode", "C0 01 C1 00 12 00 00 2C 00 00 FF 06 00"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("0-0:44.0.0.255"), "{stdout}");
    assert!(stdout.contains("image_transfer_status"), "{stdout}");
}

#[test]
fn completions_and_the_manual_page_are_printed() {
    let empty = tempfile::tempdir().unwrap();
    let bash = meterfleet_in(empty.path(), &["completions", "bash"]);
    assert!(bash.status.success());
    let script = text(&bash.stdout);
    assert!(
        script.contains("complete -F") && script.contains("conform"),
        "{script}"
    );
    let man = meterfleet_in(empty.path(), &["manpage"]);
    assert!(man.status.success());
    assert!(text(&man.stdout).starts_with(".ie") || text(&man.stdout).contains(".TH meterfleet"));
}

#[test]
fn a_scenario_is_found_by_name_from_an_empty_folder() {
    let empty = tempfile::tempdir().unwrap();
    let out = meterfleet_in(
        empty.path(),
        &[
            "bench",
            "soak",
            "--scenario",
            "no-such-scenario",
            "--minutes",
            "0",
        ],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let shipped = emulator::scenario::Scenario::shipped_names();
    assert!(shipped.contains(&"default") && shipped.contains(&"mixed"));
    assert!(
        stderr.contains(&format!("built in: {}", shipped.join(", "))),
        "{stderr}"
    );
}

#[test]
fn conform_judges_no_case_when_the_peer_is_not_a_meter() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 256];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let empty = tempfile::tempdir().unwrap();
    let out = meterfleet_in(
        empty.path(),
        &["conform", "--target", &format!("tcp://127.0.0.1:{port}")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}{}", text(&out.stdout));
    assert!(
        stderr.contains("could not talk to 127.0.0.1") && stderr.contains("no case was judged"),
        "{stderr}"
    );
    assert!(
        !text(&out.stdout).contains(" fail "),
        "{}",
        text(&out.stdout)
    );
}
