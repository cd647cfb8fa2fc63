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
    /// Run a campaign plan (a file, or a built-in plan such as `mixed`) instead of one image
    /// for every meter: the scenario's releases are built and signed beside it in --out.
    #[arg(long)]
    plan: Option<PathBuf>,
}

/// The campaign plans shipped inside the binary: the repository's `plans/` folder.
static PLANS: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/plans");

/// The text of the plan `arg` names: the file if there is one, else the shipped plan.
fn plan_text(arg: &std::path::Path) -> Result<String, String> {
    if arg.exists() {
        return std::fs::read_to_string(arg).map_err(|e| format!("{}: {e}", arg.display()));
    }
    let name = arg.to_string_lossy();
    let file = format!("{}.toml", name.trim_end_matches(".toml"));
    PLANS
        .get_file(&file)
        .and_then(|f| f.contents_utf8())
        .map(str::to_string)
        .ok_or_else(|| {
            let known: Vec<String> = PLANS
                .files()
                .filter_map(|f| f.path().to_str()?.strip_suffix(".toml").map(String::from))
                .collect();
            format!(
                "{name}: no such file, nor a built-in plan ({})",
                known.join(", ")
            )
        })
}

const EXAMPLES: &str = "Examples:
  meterfleet demo
  meterfleet demo --scenario gprs-lossy --seed 7 --out reports/
  meterfleet demo --scenario my-fleet.toml --concurrency 200
  meterfleet demo --scenario mixed --plan mixed --out reports/";

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
    if let Some(plan) = &args.plan {
        return planned(&args, &scenario, plan);
    }
    let settings = CampaignSettings {
        concurrency: args.concurrency,
        passes: args.passes,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let progress = crate::progress::CampaignProgress::start();
    let (report, judged) = crate::process::runtime()?.block_on(lab::scenario_campaign::run(
        &scenario,
        &settings,
        progress.callback(),
    ))?;
    drop(progress);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let written = write_reports(&args.out, &report, &judged)?;
    let fleet = report
        .scenario
        .as_ref()
        .expect("a scenario campaign names its fleet");
    println!(
        "scenario {} (seed {}): {} meters, {} doomed by the scenario",
        fleet.name, fleet.seed, fleet.meters, fleet.doomed
    );
    print!("{}", report.render());
    let savable = fleet.meters - fleet.doomed;
    let saved = report
        .meters
        .iter()
        .filter(|m| m.upgraded && m.doomed != Some(true))
        .count();
    println!("{:<28} {saved} of {savable}", "upgraded (not doomed)");
    print!("{}", judged.render());
    println!("{written}");
    Ok(saved == savable)
}

/// Writes `report.json`, `report.html` and the judge's reports into `out`; says what it wrote.
fn write_reports(
    out: &std::path::Path,
    report: &harness::campaign::CampaignReport,
    judged: &emulator::judge::Report,
) -> Result<String, String> {
    let json = out.join("report.json");
    let page = out.join("report.html");
    let judge = out.join("judge.json");
    crate::judge_report::write(&judge, judged)?;
    crate::process::write(
        &json,
        &serde_json::to_string_pretty(report).expect("reports serialize"),
    )?;
    crate::process::write(&page, &html::render(report))?;
    Ok(format!(
        "wrote {}, {} and {} (with judge.xml and judge.html)",
        json.display(),
        page.display(),
        judge.display()
    ))
}

/// `demo --plan`: the scenario's releases built into --out beside the plan, and the plan run
/// over the fleet; the exit status is 0 when no meter the scenario does not doom failed.
fn planned(args: &DemoArgs, scenario: &Scenario, plan: &std::path::Path) -> Result<bool, String> {
    let text = plan_text(plan)?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for (version, image) in lab::scenario_campaign::release_images(scenario)? {
        crate::process::write_bytes(&args.out.join(format!("{version}.img")), &image)?;
    }
    let plan_path = args.out.join("plan.toml");
    crate::process::write(&plan_path, &text)?;
    let progress = crate::progress::CampaignProgress::start();
    let (report, judged) =
        crate::process::runtime()?.block_on(lab::scenario_campaign::run_plan(
            scenario,
            &plan_path,
            args.concurrency,
            progress.callback(),
        ))?;
    drop(progress);
    let written = write_reports(&args.out, &report, &judged)?;
    println!(
        "scenario {} (seed {}): {} meters, {} doomed by the scenario",
        scenario.name,
        scenario.seed,
        scenario.meter_count(),
        report.scenario.as_ref().map_or(0, |f| f.doomed)
    );
    if let Some(done) = &report.plan {
        print!("{}", done.render());
    }
    print!("{}", report.render());
    let failed_not_doomed = report
        .meters
        .iter()
        .filter(|m| {
            m.doomed != Some(true)
                && matches!(m.report.outcome, harness::transfer::Outcome::Failed { .. })
        })
        .count();
    println!("{:<28} {failed_not_doomed}", "failed (not doomed)");
    print!("{}", judged.render());
    println!("{written}");
    Ok(failed_not_doomed == 0)
}
