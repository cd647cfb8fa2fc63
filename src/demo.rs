//! `meterfleet demo`: the default fleet in-process, upgraded by the harness's driver, with the
//! operator's report on the terminal and in `report.json` and `report.html`.

use emulator::scenario::Scenario;
use harness::campaign::{html, CampaignSettings};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `meterfleet demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct DemoArgs {
    /// A scenario file, or the name of a built-in scenario.
    #[arg(long, default_value = "default")]
    scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// The folder report.json and report.html go to.
    #[arg(short, long, default_value = ".")]
    out: PathBuf,
    /// Meters upgraded at once.
    #[arg(long, default_value_t = 500)]
    concurrency: usize,
    /// Passes over the meters still failing.
    #[arg(long, default_value_t = 3)]
    passes: u32,
}

const EXAMPLES: &str = "Examples:
  meterfleet demo
  meterfleet demo --scenario gprs-lossy --seed 7 --out reports/
  meterfleet demo --scenario my-fleet.toml --concurrency 200";

/// Runs the demo; the exit status is 0 when every meter the scenario does not doom is upgraded.
pub fn run(args: DemoArgs) -> ExitCode {
    crate::process::exit_status(execute(args))
}

fn execute(args: DemoArgs) -> Result<bool, String> {
    let mut scenario = Scenario::find(&args.scenario).map_err(|e| e.to_string())?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    lab::scenario_campaign::prepare(&scenario)?;
    let settings = CampaignSettings {
        concurrency: args.concurrency,
        passes: args.passes,
        confirm_only: false,
    };
    let progress = crate::progress::CampaignProgress::start();
    let (report, judged) = crate::process::runtime()?.block_on(lab::scenario_campaign::run(
        &scenario,
        &settings,
        progress.callback(),
    ))?;
    drop(progress);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let json = args.out.join("report.json");
    let page = args.out.join("report.html");
    let judge = args.out.join("judge.json");
    crate::judge_report::write(&judge, &judged)?;
    crate::process::write(
        &json,
        &serde_json::to_string_pretty(&report).expect("reports serialize"),
    )?;
    crate::process::write(&page, &html::render(&report))?;
    let fleet = report
        .scenario
        .as_ref()
        .expect("a scenario campaign names its fleet");
    println!(
        "scenario {} (seed {}): {} meters, {} doomed by the scenario",
        fleet.name, fleet.seed, fleet.meters, fleet.doomed
    );
    print!("{}", report.summary.render());
    let savable = fleet.meters - fleet.doomed;
    let saved = report
        .meters
        .iter()
        .filter(|m| m.upgraded && m.doomed != Some(true))
        .count();
    println!("{:<28} {saved} of {savable}", "upgraded (not doomed)");
    print!("{}", judged.render());
    println!(
        "wrote {}, {} and {} (with judge.xml and judge.html)",
        json.display(),
        page.display(),
        judge.display()
    );
    Ok(saved == savable)
}
