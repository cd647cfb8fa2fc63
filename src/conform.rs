//! `meterfleet conform`: run the conformance catalogue against a meter (a target file or a
//! bare `tcp://HOST:PORT`), or against the emulated profiles of the detection matrix.

use crate::target_args::TargetArgs;
use harness::conform::matrix::{render_matrix, MatrixLine};
use harness::conform::report::{console, html, json, junit};
use harness::conform::{
    embedded_catalogue, load_catalogue, preflight, run, Baseline, Case, CommandBench, Options,
    RunReport, Tier,
};
use harness::target::{statement, MeterTarget};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `meterfleet conform`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct ConformArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The meter of a targets file that names several.
    #[arg(long, value_name = "NAME")]
    meter: Option<String>,
    /// Run the catalogue against the conforming emulated profile and one profile per quirk,
    /// and print which cases catch each quirk.
    #[arg(long)]
    matrix: bool,
    /// A catalogue folder to run instead of the catalogue built into the binary.
    #[arg(long, value_name = "DIR")]
    cases: Option<PathBuf>,
    /// Run only these cases (repeatable).
    #[arg(long = "case", value_name = "ID")]
    only: Vec<String>,
    /// The run's seed (each case's seed derives from it and the case id).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Known deviations, each with a reason (overrides the target file's).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Non-strict verdicts fail the run too.
    #[arg(long)]
    strict: bool,
    /// How far cases may change a meter that is not emulated: write (configuration, restored
    /// after each case), transfer (initiate, blocks, verify) or activate (changes the running
    /// firmware); each allows the ones before it. Reads always run.
    #[arg(long, value_name = "TIER", value_parser = parse_tier, default_value = "read")]
    allow: Tier,
    /// List the cases and whether each would run, without connecting.
    #[arg(long)]
    dry_run: bool,
    /// Write the JSON report (schema meterfleet-conformance-report/1).
    #[arg(long, conflicts_with = "matrix")]
    json: Option<PathBuf>,
    /// Write JUnit XML.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the HTML page.
    #[arg(long)]
    html: Option<PathBuf>,
    /// With --html: JSON reports of earlier runs to show side by side (other meters or
    /// firmware versions).
    #[arg(long, value_name = "JSON", requires = "html")]
    compare: Vec<PathBuf>,
    /// Write what the run observed of the implementation statement's options as a statement
    /// table a vendor can review and put in the targets file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["matrix", "dry_run"])]
    statement_out: Option<PathBuf>,
}

const EXAMPLES: &str = "Examples:
  meterfleet conform --target tcp://127.0.0.1:4059
  meterfleet conform --target bench.toml --baseline known.toml --json report.json --junit report.xml --html report.html
  meterfleet conform --target fleet.toml --meter meter-0001 --case it-attr4-first-gap --seed 7
  meterfleet conform --target bench.toml --dry-run --allow activate
  meterfleet conform --target bench.toml --allow activate --statement-out observed.toml
  meterfleet conform --matrix";

fn parse_tier(name: &str) -> Result<Tier, String> {
    Tier::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
        format!("`{name}` is not a tier: {}", names.join(", "))
    })
}

/// Runs the command: 0 when nothing unexpected deviates, 1 when something does, 2 on errors.
pub fn run_command(args: ConformArgs) -> ExitCode {
    crate::process::exit_status(conform(&args))
}

fn select(args: &ConformArgs) -> Result<Vec<Case>, String> {
    let cases = match &args.cases {
        Some(dir) => load_catalogue(dir),
        None => embedded_catalogue(),
    }
    .map_err(|e| e.to_string())?;
    if args.only.is_empty() {
        return Ok(cases);
    }
    if let Some(unknown) = args
        .only
        .iter()
        .find(|id| !cases.iter().any(|c| &c.id == *id))
    {
        let catalogue = args
            .cases
            .as_ref()
            .map_or("the built-in catalogue".into(), |d| d.display().to_string());
        return Err(format!("no case `{unknown}` in {catalogue}"));
    }
    Ok(cases
        .into_iter()
        .filter(|c| args.only.contains(&c.id))
        .collect())
}

fn options(args: &ConformArgs) -> Options {
    Options {
        seed: args.seed,
        allow: args.allow,
        dry_run: args.dry_run,
        ..Options::default()
    }
}

fn write_reports(args: &ConformArgs, reports: &[RunReport]) -> Result<(), String> {
    if let (Some(path), [report]) = (&args.json, reports) {
        crate::process::write(path, &json::render(report))?;
    }
    if let Some(path) = &args.junit {
        let xml = junit::render(reports, args.strict).map_err(|e| format!("JUnit XML: {e}"))?;
        crate::process::write(path, &xml)?;
    }
    if let Some(path) = &args.html {
        let mut all = reports.to_vec();
        for earlier in &args.compare {
            let text = std::fs::read_to_string(earlier)
                .map_err(|e| format!("{}: {e}", earlier.display()))?;
            all.push(
                json::parse(&text, &earlier.display().to_string()).map_err(|e| e.to_string())?,
            );
        }
        crate::process::write(path, &html::render(&all))?;
    }
    Ok(())
}

/// The one meter the run tests: the target's only meter, or the one `--meter` names.
fn chosen_meter(args: &ConformArgs) -> Result<MeterTarget, String> {
    let meters = args.target.meters()?;
    let names = || {
        meters
            .iter()
            .map(|m| m.main.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&args.meter, meters.len()) {
        (None, 1) => Ok(meters[0].clone()),
        (None, _) => Err(format!(
            "the target names {} meters: choose one with --meter ({})",
            meters.len(),
            names()
        )),
        (Some(name), _) => meters
            .iter()
            .find(|m| &m.main.name == name)
            .cloned()
            .ok_or_else(|| format!("no meter `{name}` in the target ({})", names())),
    }
}

fn conform(args: &ConformArgs) -> Result<bool, String> {
    let cases = select(args)?;
    if args.matrix {
        let mut given = args.target.given();
        given.extend(args.meter.is_some().then_some("--meter"));
        if !given.is_empty() {
            return Err(format!(
                "--matrix runs emulated meters of its own: {} has no meaning with it",
                given.join(", ")
            ));
        }
        return matrix(args, &cases);
    }
    let target = chosen_meter(args)?;
    let baseline = match args.baseline.as_ref().or(target.baseline.as_ref()) {
        Some(path) => Baseline::load(path).map_err(|e| e.to_string())?,
        None => Baseline::default(),
    };
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    for stale in baseline.unknown_cases(&ids) {
        eprintln!("warning: the baseline lists `{stale}`, which is not in the catalogue");
    }
    let runtime = crate::process::runtime()?;
    if !args.dry_run {
        runtime
            .block_on(preflight(&target))
            .map_err(|e| format!("{e}; no case was judged"))?;
    }
    let mut report = runtime.block_on(run(
        &cases,
        &target,
        &mut CommandBench::new(&target),
        &options(args),
        |r| {
            eprintln!("{:40} {}", r.id, r.verdict.name());
        },
    ));
    baseline.apply(&mut report);
    report.judge(args.strict);
    if args.dry_run {
        let tiers: Vec<(String, &str)> = cases
            .iter()
            .map(|c| (c.id.clone(), c.tier.name()))
            .collect();
        print!("{}", console::render_plan(&report, &tiers));
        return Ok(true);
    }
    print!("{}", console::render(&report));
    write_reports(args, std::slice::from_ref(&report))?;
    if let Some(path) = &args.statement_out {
        let title = format!(
            "{} ({}), {} on {}",
            report.target,
            report.found.as_deref().unwrap_or("state unknown"),
            report.tool,
            harness::rfc3339::format(report.started_unix as f64)
        );
        let observed = report.observed_statement();
        let text = statement::render(&title, &target.statement, &observed);
        crate::process::write(path, &text)?;
    }
    let ids = |cases: &[&harness::conform::CaseResult]| {
        cases
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let blocking = report.blocking(args.strict);
    if !blocking.is_empty() {
        println!("deviations not in the baseline: {}", ids(&blocking));
    }
    let known: Vec<&harness::conform::CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.baselined.is_some())
        .collect();
    if !known.is_empty() {
        println!("known deviations (in the baseline): {}", ids(&known));
    }
    let errors = report.errors();
    if !errors.is_empty() {
        return Err(format!(
            "{} cases could not be judged, so the run is incomplete: {}",
            errors.len(),
            ids(&errors)
        ));
    }
    Ok(blocking.is_empty())
}

fn matrix(args: &ConformArgs, cases: &[Case]) -> Result<bool, String> {
    let unknown = lab::matrix::unknown_quirks(cases);
    if !unknown.is_empty() {
        return Err(format!(
            "detects names no quirk of the emulator: {}",
            unknown.join(", ")
        ));
    }
    let runtime = crate::process::runtime()?;
    let lines = runtime.block_on(lab::matrix::run(cases, &options(args)));
    print!("{}", render_matrix(&lines));
    let ok = lines.iter().all(MatrixLine::as_required);
    println!(
        "{}",
        if ok {
            "every quirk caught by the cases designed for it; the conforming profile (over the wrapper and HDLC) and every variant clean"
        } else {
            "the matrix is not as required (see the rows above)"
        }
    );
    let reports: Vec<RunReport> = lines.into_iter().map(|l| l.report).collect();
    write_reports(args, &reports)?;
    Ok(ok)
}
