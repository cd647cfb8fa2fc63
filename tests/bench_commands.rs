//! The benches run and report what they measured, each figure beside its ceiling (their
//! figures themselves are in docs/figures.md: speed is measured in benchmarks, never asserted
//! in tests). One test, so that the ceiling's server (127.120.0.1:4059) is never started twice
//! at once.

mod common;

use common::{output_in, text};

fn json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let file = dir.join("figures.json");
    let mut all = args.to_vec();
    all.extend(["--json", file.to_str().unwrap()]);
    let out = output_in(dir, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("% of the ceiling"),
        "{}",
        text(&out.stdout)
    );
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

#[test]
fn the_benches_report_beside_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    // Five transfers of a 64 KiB image in 1 KiB blocks (and the image's header block).
    let meter = json(dir.path(), &["bench", "meter", "--image-kib", "64"]);
    let blocks = meter["blocks"].as_u64().unwrap();
    assert!(blocks >= 5 * 64, "{meter}");
    assert!(meter["per_second"].as_f64().unwrap() > 0.0, "{meter}");
    assert_eq!(meter["ceiling"]["shape"]["connections"], 1, "{meter}");
    assert!(
        meter["ceiling"]["per_second"].as_f64().unwrap() > 0.0,
        "{meter}"
    );

    let fleet = json(
        dir.path(),
        &[
            "bench",
            "emulator",
            "--meters",
            "20",
            "--connections",
            "4",
            "--seconds",
            "1",
        ],
    );
    assert_eq!(fleet["meters"], 20, "{fleet}");
    assert_eq!(fleet["connections"], 4, "{fleet}");
    assert!(
        fleet["blocks_per_second"].as_f64().unwrap() > 0.0,
        "{fleet}"
    );
    assert!(fleet["cpu_us_per_block"].as_f64().unwrap() > 0.0, "{fleet}");
    assert_eq!(fleet["ceiling"]["shape"]["listeners"], 20, "{fleet}");

    // A campaign's block rate beside the ceiling measured before and after it, over the
    // whole transfer and over the middle half of the blocks the fleet counted; its request
    // rate there also beside a ceiling that opens as many connections.
    let out = output_in(
        dir.path(),
        &[
            "bench",
            "fleet",
            "--meters",
            "20",
            "--image-kib",
            "16",
            "--campaign",
            "--concurrency",
            "4",
        ],
    );
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}\n{}", text(&out.stderr));
    for line in [
        "ceiling before the campaign: ",
        "ceiling after the campaign: ",
        "first block to the last bit-string: ",
        "the middle half of the blocks as the fleet stored them: ",
        "campaign request rate there ",
        "ceiling with the campaign's connections, after the campaign: ",
        "beside the ceiling with its connections",
    ] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
    // Every block is a request, and each meter is sent more than its blocks.
    let per_block: f64 = printed
        .split_once("requests a block")
        .and_then(|(before, _)| before.rsplit(' ').nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("requests a block: {printed}"));
    assert!(per_block > 1.0 && per_block < 5.0, "{per_block}: {printed}");

    let out = output_in(
        dir.path(),
        &[
            "bench",
            "ceiling",
            "--round-trips-per-connection",
            "5",
            "--seconds",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("each closed and another opened after 5 round trips"),
        "{}",
        text(&out.stdout)
    );

    let out = output_in(
        dir.path(),
        &["bench", "ceiling", "--burst", "4", "--seconds", "1"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("4 per write"),
        "{}",
        text(&out.stdout)
    );
}
