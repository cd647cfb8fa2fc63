//! `meterfleet upgrade`: upgrade one meter, or run a campaign over a targets file.

mod group_args;
mod journalled;

use crate::target_args::TargetArgs;
use group_args::GroupArgs;
use harness::campaign::journal::{self, Journal};
use harness::campaign::plan::CampaignPlan;
use harness::campaign::prescan;
use harness::campaign::waves::{self, PlanTarget};
use harness::campaign::{self, CampaignReport, CampaignSettings, Journalled};
use harness::target::{shared_valid_image, MeterTarget, Target};
use harness::transfer::{Activation, BlockService, Driver, ImageNaming, Outcome, Plan};
use journalled::{confirm_journalled, confirmations, reopen, wait_until};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `meterfleet upgrade`.
#[derive(Debug, clap::Args, serde::Serialize, serde::Deserialize)]
#[command(after_help = EXAMPLES)]
pub struct UpgradeArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The image file (default: the `images.valid` every meter of a targets file names).
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// The image identifier for initiate (default: the version in an MFIM image's header, else
    /// the file name).
    #[arg(long)]
    identifier: Option<String>,
    /// The version the part must report afterwards (default: the identifier).
    #[arg(long, value_name = "ID")]
    expect_version: Option<String>,
    /// The firmware part b (default: the part in an MFIM image's header, else 1).
    #[arg(long)]
    part: Option<u8>,
    /// When to activate: now, at=UNIX_SECONDS, or no.
    #[arg(long, default_value = "now")]
    activate: String,
    /// Zero-pad the last block to the block size.
    #[arg(long)]
    pad_last_block: bool,
    /// Send the blocks as unconfirmed ACTIONs, N per write, and read the bit-string after
    /// each pass to find what landed, as a multicast transfer does (wrapper only; a meter that
    /// takes none of them gets the rest confirmed). Without it every block is confirmed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    unconfirmed_blocks: Option<u32>,
    #[command(flatten)]
    #[serde(default)]
    group: GroupArgs,
    /// Keep every APDU exchanged (hex and decoded) in the JSON report.
    #[arg(long)]
    trace: bool,
    /// Seconds a meter may stay unreachable (reboots, cuts) before it counts as failed.
    #[arg(long, default_value = "120", value_name = "SECONDS", value_parser = crate::target_args::seconds)]
    reconnect_deadline: Duration,
    /// Seconds the first connection may take before the meter counts as unreachable.
    #[arg(long, default_value = "15", value_name = "SECONDS", value_parser = crate::target_args::seconds)]
    connect_deadline: Duration,
    /// Meters receiving blocks at once (campaigns, default 64); a meter gives its place up
    /// once every block is in.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Passes over the meters still failing (campaigns, default 3).
    #[arg(long)]
    passes: Option<u32>,
    /// With --unconfirmed-blocks: once a pass leaves no more than N meters to do, the next
    /// passes send them their blocks point-to-point, confirmed.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    point_to_point_below: Option<usize>,
    /// Write the campaign report as JSON (schema meterfleet-campaign-report/1).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the campaign report as an HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write JUnit XML: one test case per meter, failed unless it was upgraded.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run the campaign plan in FILE (TOML: images, cohorts, steps with version gates and
    /// activation, waves with a canary and halt thresholds, passes) over the targets.
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    plan: Option<PathBuf>,
    /// Journal the campaign in FILE as it goes, so that `--resume FILE` can take it up where
    /// it stood if it is stopped or killed; the same command run again over the same FILE (a
    /// job's pod restarted) goes on where it stands.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    #[serde(skip)]
    journal: Option<PathBuf>,
    /// Go on with the campaign journalled in FILE, with the arguments it was started with:
    /// meters done stay done, transfers under way resume from the blocks the meters hold.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    resume: Option<PathBuf>,
    /// With an activation scheduled (--activate at=...), stay until its time and confirm each
    /// meter's new identifier; without it, `--confirm JOURNAL` does that later.
    #[arg(long)]
    #[serde(default)]
    await_activation: bool,
    /// Serve the campaign's progress as Prometheus metrics at http://ADDR/metrics while it
    /// runs (meters done and failed in the pass, meters upgraded, blocks sent).
    #[arg(long, value_name = "ADDR")]
    #[serde(default)]
    metrics: Option<std::net::SocketAddr>,
    /// Confirm the activations the campaign journalled in FILE scheduled: read each such
    /// meter's new identifier, send nothing else.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "journal"])]
    #[serde(skip)]
    confirm: Option<PathBuf>,
}

/// The image to send and what names it: `--image`, else the valid image the targets file
/// names for every meter; the flags name it over the file.
fn image(args: &UpgradeArgs, meters: &[MeterTarget]) -> Result<(Vec<u8>, ImageNaming), String> {
    let flags = ImageNaming {
        identifier: args.identifier.clone().map(String::into_bytes),
        version: args.expect_version.clone().map(String::into_bytes),
        part: args.part,
        fallback: Vec::new(),
    };
    if let Some(path) = &args.image {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        return Ok((
            bytes,
            flags.or(ImageNaming {
                fallback: stem.unwrap_or_default().into_bytes(),
                ..ImageNaming::default()
            }),
        ));
    }
    let (valid, part) = shared_valid_image(meters)
        .map_err(|e| e.to_string())?
        .ok_or("--image is required: the target names no images.valid")?;
    Ok((
        valid.bytes.to_vec(),
        flags.or(ImageNaming {
            identifier: Some(valid.identifier.clone()),
            version: Some(valid.version.clone()),
            part,
            fallback: Vec::new(),
        }),
    ))
}

/// What a campaign runs: one image for every meter, or a plan's steps.
enum Work {
    /// One image.
    Image(Plan),
    /// A campaign plan.
    Plan(CampaignPlan),
}

impl Work {
    /// The images it sends, as the journal's header names them: the one image's SHA-256, or
    /// that of the plan's images one after the other.
    fn digest(&self) -> String {
        match self {
            Work::Image(plan) => journal::image_digest(&plan.image),
            Work::Plan(p) => {
                let all: Vec<u8> = p
                    .steps
                    .iter()
                    .flat_map(|s| s.plan.image.iter().copied())
                    .collect();
                journal::image_digest(&all)
            }
        }
    }
}

/// The campaign's work: `--plan`'s steps on the settings of the flags, else the image.
fn work(args: &UpgradeArgs, meters: &[MeterTarget]) -> Result<Work, String> {
    let Some(path) = &args.plan else {
        return plan(args, meters).map(Work::Image);
    };
    if args.image.is_some() {
        return Err("--plan names its images: --image cannot go with it".into());
    }
    let base = settings(args, Plan::new(Vec::new(), b""))?;
    CampaignPlan::load(path, &base)
        .map(Work::Plan)
        .map_err(|e| e.to_string())
}

fn plan(args: &UpgradeArgs, meters: &[MeterTarget]) -> Result<Plan, String> {
    let (image, naming) = image(args, meters)?;
    settings(args, Plan::for_image(image, naming))
}

/// `plan` with the flags' settings: activation, padding, block service, deadlines, trace.
fn settings(args: &UpgradeArgs, plan: Plan) -> Result<Plan, String> {
    let activation = match args.activate.as_str() {
        "now" => Activation::Now,
        "no" => Activation::No,
        other => match other.strip_prefix("at=").and_then(|t| t.parse().ok()) {
            Some(secs) => Activation::At(secs),
            None => {
                return Err(format!(
                    "--activate {other}: expected now, no or at=UNIX_SECONDS"
                ))
            }
        },
    };
    Ok(Plan {
        activation,
        pad_last_block: args.pad_last_block,
        block_service: match (args.group.delivery(), args.unconfirmed_blocks) {
            (Some(delivery), _) => BlockService::Group(delivery),
            (None, Some(burst)) => BlockService::Unconfirmed { burst },
            (None, None) => BlockService::Confirmed,
        },
        trace: args.trace,
        reconnect_deadline: args.reconnect_deadline,
        connect_deadline: args.connect_deadline,
        ..plan
    })
}

fn write_reports(args: &UpgradeArgs, report: &CampaignReport) -> Result<(), String> {
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(report).expect("reports serialize");
        crate::process::write(path, &text)?;
    }
    if let Some(path) = &args.html {
        crate::process::write(path, &harness::campaign::html::render(report))?;
    }
    if let Some(path) = &args.junit {
        let xml =
            harness::campaign::junit::render(report).map_err(|e| format!("JUnit XML: {e}"))?;
        crate::process::write(path, &xml)?;
    }
    Ok(())
}

/// Runs the upgrade; the exit status is 0 only if every meter reached the new firmware (or,
/// with --activate no or at=, was verified and left ready).
pub fn run(args: UpgradeArgs) -> ExitCode {
    crate::process::exit_status(execute(args))
}

fn execute(args: UpgradeArgs) -> Result<bool, String> {
    let (args, resumed) = match args.resume.clone().or(args.confirm.clone()) {
        Some(path) => {
            let (again, journal, header, standing) = reopen(args, &path)?;
            (again, Some((path, journal, header, standing)))
        }
        None => (args, None),
    };
    let meters = args.target.meters()?;
    let work = work(&args, &meters)?;
    let digest = work.digest();
    let journalled = match resumed {
        Some((path, journal, header, standing)) => {
            if header.image_sha256 != digest {
                return Err(format!(
                    "{}: the image changed since the campaign started (its SHA-256 is now {digest}, the journal names {})",
                    path.display(),
                    header.image_sha256
                ));
            }
            Journalled {
                journal: Some(Arc::new(journal)),
                standing,
            }
        }
        None => {
            let header = journal::Header {
                schema: journal::SCHEMA.into(),
                command: serde_json::to_value(&args).expect("arguments serialize"),
                image_sha256: digest,
            };
            match &args.journal {
                Some(path) if path.exists() => same_campaign(path, &header)?,
                Some(path) => Journalled {
                    journal: Some(Arc::new(Journal::create(path, &header)?)),
                    standing: journal::Standing::default(),
                },
                None => Journalled {
                    journal: None,
                    standing: journal::Standing::default(),
                },
            }
        }
    };
    if args.confirm.is_some() {
        return confirm_journalled(&args, meters, &work, &journalled);
    }
    campaign_of(args, meters, work, journalled)
}

/// A `--journal FILE` that exists: the same campaign started again (the same command and
/// image, as an orchestrator restarts a job's pod) goes on where the journal stands; any other
/// campaign's journal is left alone.
fn same_campaign(path: &std::path::Path, header: &journal::Header) -> Result<Journalled, String> {
    let (journal, existing, standing) = Journal::resume(path)?;
    if existing.command != header.command || existing.image_sha256 != header.image_sha256 {
        return Err(format!(
            "{}: a journal of another campaign is there (resume it with --resume, or remove it)",
            path.display()
        ));
    }
    println!(
        "{} journals this very campaign ({} records): going on where it stands",
        path.display(),
        standing.records
    );
    Ok(Journalled {
        journal: Some(Arc::new(journal)),
        standing,
    })
}

fn campaign_of(
    args: UpgradeArgs,
    mut meters: Vec<MeterTarget>,
    work: Work,
    journalled: Journalled,
) -> Result<bool, String> {
    let plan = match work {
        Work::Image(plan) => plan,
        Work::Plan(plan) => return run_plan(&args, meters, &plan, &journalled),
    };
    if meters.len() == 1 {
        if let Some(flag) = [
            (args.concurrency.is_some(), "--concurrency"),
            (args.passes.is_some(), "--passes"),
        ]
        .iter()
        .find_map(|(given, flag)| given.then_some(flag))
        {
            return Err(format!(
                "{flag} is for campaigns: the target names one meter"
            ));
        }
    }
    let targets: Vec<Target> = meters.drain(..).map(|m| m.main).collect();
    let runtime = crate::process::runtime_for(targets.len())?;
    if targets.len() == 1 && journalled.journal.is_none() {
        let driver = Driver::new(&targets[0], &plan).watched(|e| {
            println!(
                "{:>8.3} s  {:<13} {}",
                e.at_ms as f64 / 1000.0,
                e.step.name(),
                e.message
            );
        });
        let report = runtime.block_on(driver.run());
        println!("{}: {}", report.meter, report.outcome);
        let ok = !matches!(report.outcome, Outcome::Failed { .. });
        write_reports(&args, &CampaignReport::of_one(report))?;
        return Ok(ok);
    }
    let settings = CampaignSettings {
        concurrency: args.concurrency.unwrap_or(64),
        passes: args.passes.unwrap_or(3),
        confirm_only: false,
        point_to_point_below: args.point_to_point_below.unwrap_or(0),
    };
    let plan = Arc::new(plan);
    let prescan = runtime.block_on(prescan::scan(&targets, &plan, settings.concurrency));
    print!("{}", prescan.render());
    let expected: Vec<Target> = prescan
        .expected_indices()
        .into_iter()
        .map(|i| targets[i].clone())
        .collect();
    let progress = crate::progress::CampaignProgress::start();
    let mut report = runtime.block_on(campaign::run_journalled(
        expected,
        plan.clone(),
        &settings,
        &journalled,
        "",
        watched(&args, &runtime, &progress)?,
    ));
    drop(progress);
    if let (true, Activation::At(at)) = (args.await_activation, plan.activation) {
        let ready: Vec<Target> = report
            .meters
            .iter()
            .filter(|m| m.report.outcome == Outcome::ReadyForActivation)
            .filter_map(|m| targets.iter().find(|t| t.name == m.report.meter).cloned())
            .collect();
        wait_until(at);
        let confirmed = runtime.block_on(confirmations(&args, ready, plan, &journalled, ""));
        report = report.with_confirmations(confirmed);
    }
    let left_out = prescan.unreachable + prescan.not_normal;
    report.prescan = Some(prescan);
    print!("{}", report.render());
    print_field_reports(&report);
    if left_out > 0 {
        println!(
            "{left_out} meters left out by the pre-scan are not upgraded (the reports list them)"
        );
    }
    write_reports(&args, &report)?;
    Ok(report.summary.failed == 0 && left_out == 0)
}

/// The campaign's progress callback: the display, and the `--metrics` endpoint when asked
/// for (served on `runtime` until it ends).
fn watched(
    args: &UpgradeArgs,
    runtime: &tokio::runtime::Runtime,
    display: &crate::progress::CampaignProgress,
) -> Result<impl Fn(campaign::Progress) + Send + Sync + 'static, String> {
    let metrics = Arc::new(crate::campaign_metrics::CampaignMetrics::default());
    if let Some(address) = args.metrics {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(address))
            .map_err(|e| format!("--metrics {address}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        if !bound.ip().is_loopback() {
            println!("warning: the campaign's metrics at {bound} are reachable from other hosts");
        }
        println!("campaign metrics on http://{bound}/metrics");
        runtime.spawn(crate::campaign_metrics::serve(listener, metrics.clone()));
    }
    let display = display.callback();
    Ok(move |p: campaign::Progress| {
        metrics.update(&p);
        display(p);
    })
}

/// The command history and the download statistics, as the operator's tables.
fn print_field_reports(report: &CampaignReport) {
    use harness::campaign::field_reports::{render_downloads, render_history};
    println!(
        "\ncommand history\n{}",
        render_history(&report.command_history)
    );
    println!(
        "firmware download statistics\n{}",
        render_downloads(&report.downloads)
    );
}

/// Runs a campaign plan over `meters` and prints what each step and wave did.
fn run_plan(
    args: &UpgradeArgs,
    meters: Vec<MeterTarget>,
    plan: &CampaignPlan,
    journalled: &Journalled,
) -> Result<bool, String> {
    let targets: Vec<PlanTarget> = meters
        .into_iter()
        .map(|m| PlanTarget {
            target: m.main,
            labels: m.labels,
        })
        .collect();
    let runtime = crate::process::runtime()?;
    let progress = crate::progress::CampaignProgress::start();
    let concurrency = args.concurrency.unwrap_or(64);
    let report = runtime.block_on(waves::run_plan(
        &targets,
        plan,
        concurrency,
        journalled,
        std::sync::Arc::new(watched(args, &runtime, &progress)?),
    ));
    drop(progress);
    let done = report.plan.as_ref().expect("a plan's report");
    print!("{}", done.render());
    print!("{}", report.render());
    print_field_reports(&report);
    write_reports(args, &report)?;
    Ok(done.halted.is_none() && report.summary.failed == 0)
}

const EXAMPLES: &str = "Examples:
  meterfleet upgrade --target tcp://127.0.0.1:4059 --image fw.img
  meterfleet upgrade --target hdlc+tcp://10.0.0.5:4059 --client 1 --password 12345678 --image fw.img
  meterfleet upgrade --target meter.toml --hls-keys keys.toml --client 48 --image fw.img --json upgrade.json
  meterfleet upgrade --target fleet.toml --image fw.img --concurrency 100 --passes 3
  meterfleet upgrade --target multicast-fleet.toml --image fw.img --group --group-repair-every 100
  meterfleet upgrade --target fleet.toml --image fw.img --shard-index 0 --shard-count 4 --json shard-0.json";
