//! `meterfleet demo`: the default fleet in-process, upgraded by the harness's driver, with the
//! operator's report on the terminal and in `report.json` and `report.html`.

use emulator::fleet::{self, Fleet};
use emulator::scenario::Scenario;
use harness::campaign::{self, CampaignSettings, CampaignSummary};
use harness::target::{Target, Transport};
use harness::transfer::{Outcome, Plan};
use p256::ecdsa::SigningKey;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Arguments of `meterfleet demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A scenario file, or the name of a built-in scenario.
    #[arg(long, default_value = "default")]
    scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write report.json and report.html.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Meters upgraded at once.
    #[arg(long, default_value_t = 500)]
    concurrency: usize,
    /// Passes over the meters still failing.
    #[arg(long, default_value_t = 3)]
    passes: u32,
}

/// What the demo ran.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    /// The scenario's name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// Meters in the fleet.
    pub meters: usize,
    /// Meters the scenario dooms (they trust another vendor's key).
    pub doomed: usize,
    /// The image version.
    pub image_version: String,
    /// The image size in bytes.
    pub image_size: usize,
}

/// One meter's line in the demo report.
#[derive(Debug, Clone, Serialize)]
pub struct MeterLine {
    /// The meter.
    pub name: String,
    /// Whether the scenario doomed it.
    pub doomed: bool,
    /// Whether it runs the new firmware.
    pub upgraded: bool,
    /// The outcome, as text.
    pub outcome: String,
    /// Block transfers sent.
    pub blocks_sent: u32,
    /// Blocks the image needs.
    pub blocks_needed: u32,
    /// The campaign pass it ended in.
    pub pass: u32,
    /// When its transfer started (Unix seconds).
    pub started_at: f64,
    /// Its transfer's duration.
    pub duration_seconds: f64,
    /// Its first block (Unix seconds).
    pub first_block_at: Option<f64>,
    /// Its last block (Unix seconds).
    pub last_block_at: Option<f64>,
}

/// A meter's received blocks after a pass.
#[derive(Debug, Clone, Serialize)]
pub struct Bitmap {
    /// The meter.
    pub meter: String,
    /// Its attribute 3, block 0 first.
    pub bitmap: String,
}

/// The meters not upgraded after a pass (bitmaps for the first 64).
#[derive(Debug, Clone, Serialize)]
pub struct PassSnapshot {
    /// The pass.
    pub pass: u32,
    /// How many meters were not upgraded.
    pub count: usize,
    /// Their bitmaps.
    pub meters: Vec<Bitmap>,
}

/// The demo's report (report.json).
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The schema of this file.
    pub schema: &'static str,
    /// What ran.
    pub scenario: ScenarioInfo,
    /// The campaign's statistics.
    pub summary: CampaignSummary,
    /// Every meter, in fleet order.
    pub meters: Vec<MeterLine>,
    /// The meters still incomplete after each pass.
    pub incomplete_after_pass: Vec<PassSnapshot>,
}

/// A key derived from the seed, so a demo replays with the same keys.
pub(crate) fn key(seed: u64, role: &str) -> SigningKey {
    let digest = Sha256::new()
        .chain_update(role)
        .chain_update(seed.to_be_bytes())
        .finalize();
    SigningKey::from_slice(&digest).expect("a SHA-256 digest is a valid P-256 scalar")
}

/// Runs the demo; the exit status is 0 when every meter the scenario does not doom is upgraded.
pub fn run(args: DemoArgs) -> ExitCode {
    crate::process::exit_status(execute(args))
}

fn execute(args: DemoArgs) -> Result<bool, String> {
    let mut scenario = Scenario::find(&args.scenario).map_err(|e| e.to_string())?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let report = demo(&scenario, args.concurrency, args.passes)?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let json = args.out.join("report.json");
    let html = args.out.join("report.html");
    std::fs::write(
        &json,
        serde_json::to_string_pretty(&report).expect("the report serializes"),
    )
    .map_err(|e| format!("{}: {e}", json.display()))?;
    std::fs::write(&html, crate::html_report::render(&report))
        .map_err(|e| format!("{}: {e}", html.display()))?;
    let s = &report.summary;
    println!(
        "scenario {} (seed {}): {} meters, {} doomed by the scenario",
        report.scenario.name, report.scenario.seed, report.scenario.meters, report.scenario.doomed
    );
    print!("{}", s.render());
    let savable = report.scenario.meters - report.scenario.doomed;
    let saved = report
        .meters
        .iter()
        .filter(|m| m.upgraded && !m.doomed)
        .count();
    println!("{:<28} {saved} of {savable}", "upgraded (not doomed)");
    println!("wrote {} and {}", json.display(), html.display());
    Ok(saved == savable)
}

/// The campaign targets of an in-process fleet, one per meter.
pub(crate) fn fleet_targets(fleet: &Fleet) -> Vec<Target> {
    fleet
        .meters
        .iter()
        .map(|m| {
            let mut t = Target::parse(&m.plan.address.to_string(), Transport::Wrapper)
                .expect("a socket address");
            t.name = m.plan.name.clone();
            t.request_timeout = Duration::from_secs(5);
            t
        })
        .collect()
}

/// The transfer plan of an in-process campaign: quick polling, a minute for verification and
/// for a meter to come back.
pub(crate) fn fleet_plan(image: Vec<u8>, version: &[u8], part: u8) -> Plan {
    Plan {
        part,
        poll_interval: Duration::from_millis(100),
        verify_deadline: Duration::from_secs(60),
        reconnect_deadline: Duration::from_secs(60),
        ..Plan::new(image, version)
    }
}

/// Starts the scenario's fleet, runs the campaign, and gathers the report.
pub fn demo(scenario: &Scenario, concurrency: usize, passes: u32) -> Result<DemoReport, String> {
    let vendor = key(scenario.seed, "meterfleet demo vendor");
    let stranger = key(scenario.seed, "meterfleet demo stranger");
    let mut payload = vec![0u8; scenario.image.size as usize];
    rand_chacha::ChaCha8Rng::seed_from_u64(scenario.seed).fill_bytes(&mut payload);
    let version = scenario.image.version.as_bytes();
    let image = dlms::image::build(&vendor, scenario.image.part, version, &payload)
        .ok_or("the scenario's image part or version is out of range")?;
    let image_len = image.len();
    fleet::ensure_open_files(fleet::files_needed(scenario.meter_count() as usize, true))?;
    let runtime = crate::process::runtime()?;
    runtime.block_on(async {
        let fleet: Fleet =
            fleet::start(scenario, *vendor.verifying_key(), *stranger.verifying_key()).await?;
        let targets = fleet_targets(&fleet);
        let plan = fleet_plan(image, version, scenario.image.part);
        let settings = CampaignSettings {
            concurrency,
            passes,
        };
        let snapshots = Arc::new(Mutex::new(Vec::new()));
        let snaps = snapshots.clone();
        let hosts: Vec<_> = fleet
            .meters
            .iter()
            .map(|m| (m.plan.name.clone(), m.host.clone()))
            .collect();
        let report = campaign::run(
            targets,
            Arc::new(plan),
            &settings,
            crate::progress::bar(),
            move |pass, failing| {
                let meters = failing
                    .iter()
                    .take(64)
                    .map(|&i| Bitmap {
                        meter: hosts[i].0.clone(),
                        bitmap: hosts[i].1.with_meter(|m| {
                            m.state()
                                .transfer
                                .received
                                .iter()
                                .map(|b| if *b { '1' } else { '0' })
                                .collect()
                        }),
                    })
                    .collect();
                snaps.lock().expect("snapshots").push(PassSnapshot {
                    pass,
                    count: failing.len(),
                    meters,
                });
            },
        )
        .await;
        let meters = report
            .meters
            .iter()
            .zip(&fleet.meters)
            .map(|(r, m)| MeterLine {
                name: r.report.meter.clone(),
                doomed: m.plan.doomed(),
                upgraded: r.report.outcome.upgraded(),
                outcome: match &r.report.outcome {
                    Outcome::Failed { step, reason } => format!("failed at {step:?}: {reason}"),
                    other => format!("{other:?}"),
                },
                blocks_sent: r.report.blocks_sent,
                blocks_needed: r.report.blocks_needed,
                pass: r.pass,
                started_at: r.report.started_at,
                duration_seconds: r.report.duration.as_secs_f64(),
                first_block_at: r.report.first_block_at,
                last_block_at: r.report.last_block_at,
            })
            .collect();
        let incomplete_after_pass = snapshots.lock().expect("snapshots").clone();
        Ok(DemoReport {
            schema: "meterfleet-demo-report/1",
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                seed: scenario.seed,
                meters: fleet.meters.len(),
                doomed: fleet.doomed(),
                image_version: scenario.image.version.clone(),
                image_size: image_len,
            },
            summary: report.summary,
            meters,
            incomplete_after_pass,
        })
    })
}
