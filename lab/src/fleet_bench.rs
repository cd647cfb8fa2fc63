//! `meterfleet bench fleet`: memory per meter at fleet scale, idle and in the middle of a
//! transfer, and a campaign's block throughput with the fleet in another process (a
//! `meterfleet emulate --scenario` started from the same executable).

use crate::memory;
use dlms::apdu::InvokeIdAndPriority;
use dlms::association::ClientSettings;
use dlms::cosem::image_transfer::{self as it, method};
use dlms::{Codec, Data};
use emulator::scenario::Scenario;
use harness::transfer::BlockService;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A clean fleet of `meters` from `first_address`, for an image of `image_kib` KiB in 1 KiB
/// blocks.
pub(crate) fn scenario_text(meters: u32, image_kib: u32, first_address: &str) -> String {
    format!(
        "name = \"bench\"\nseed = 1\nfirst_address = \"{first_address}\"\n[image]\npart = 1\nversion = \"BENCH-2\"\nsize = {}\n[[population]]\nname = \"m\"\ncount = {meters}\nprofile = {{ image_block_size = 1024, max_pdu_size = 2048, activation_reboot_ms = 1000 }}\n",
        image_kib * 1024
    )
}

fn scenario(meters: u32, image_kib: u32) -> Scenario {
    // Away from the addresses of the campaign's fleet, so that the two never meet.
    Scenario::from_toml(
        &scenario_text(meters, image_kib, "127.3.0.1"),
        "bench scenario",
    )
    .expect("the bench scenario is valid")
}

fn action(method_id: i8, parameters: Data<'_>) -> Vec<u8> {
    it::action_request(InvokeIdAndPriority(0xC1), method_id, Some(&parameters)).to_bytes()
}

/// How the bench's campaign runs.
pub struct CampaignArgs {
    /// Meters receiving blocks at once.
    pub concurrency: usize,
    /// Confirmed blocks, or unconfirmed bursts.
    pub block_service: BlockService,
    /// The fleet's scenario (a file or a built-in name); a clean fleet of the bench's meters
    /// without one.
    pub scenario: Option<PathBuf>,
    /// The `meterfleet` executable that runs the campaign's fleet.
    pub executable: PathBuf,
}

/// Fleet memory, then, with `campaign`, a campaign's throughput, printed as they are measured.
pub fn fleet(
    runtime: &tokio::runtime::Runtime,
    meters: u32,
    image_kib: u32,
    campaign: Option<CampaignArgs>,
    progress: impl Fn(harness::campaign::Progress) + Send + Sync + 'static,
) -> Result<(), String> {
    let scenario = scenario(meters, image_kib);
    let key = crate::keys::bench_key();
    let payload = vec![0x5A; (image_kib * 1024) as usize];
    let image = dlms::image::build(&key, 1, b"BENCH-2", &payload).expect("valid image parameters");
    // This process holds the fleet's listeners, and later (the fleet gone, the campaign's
    // fleet in a child process) one client socket per meter at most.
    let files = emulator::fleet::files_needed(meters as usize, false).required;
    emulator::fleet::ensure_open_files(emulator::fleet::FilesNeeded {
        required: files,
        wanted: files,
        per_connection: 1,
    })?;
    println!(
        "machine: {} cores; fleet of {meters} meters, {image_kib} KiB image in 1 KiB blocks",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let before = memory::with_kernel_bytes();
    let started = Instant::now();
    let fleet = runtime.block_on(emulator::fleet::start(
        &scenario,
        *key.verifying_key(),
        *key.verifying_key(),
    ))?;
    let start_time = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let idle = memory::with_kernel_bytes().saturating_sub(before);
    println!(
        "meters started: {} in {:.2} s; idle: {:.1} KiB per meter (process RSS + kernel slab)",
        fleet.meters.len(),
        start_time.as_secs_f64(),
        idle as f64 / 1024.0 / meters as f64
    );
    // Half of the image into every meter, through its request handling (no sockets).
    let aarq = ClientSettings::default().aarq().to_bytes();
    let initiate = action(
        method::IMAGE_TRANSFER_INITIATE,
        it::initiate_parameters(b"BENCH-2", image.len() as u32),
    );
    let half = image.len().div_ceil(1024) / 2;
    let blocks: Vec<Vec<u8>> = (0..half)
        .map(|n| {
            action(
                method::IMAGE_BLOCK_TRANSFER,
                it::block_parameters(n as u32, &image[n * 1024..(n + 1) * 1024]),
            )
        })
        .collect();
    let now = emulator::net::host::now_ms();
    for m in &fleet.meters {
        m.host.with_meter(|meter| {
            meter.handle_apdu(now, 0, 16, &aarq);
            meter.handle_apdu(now, 0, 16, &initiate);
            for b in &blocks {
                meter.handle_apdu(now, 0, 16, b);
            }
            meter.disconnect(0, now);
        });
    }
    std::thread::sleep(Duration::from_millis(500));
    let mid = memory::with_kernel_bytes().saturating_sub(before);
    println!(
        "mid-transfer ({half} of {} blocks in every meter): {:.1} KiB per meter",
        image.len().div_ceil(1024),
        mid as f64 / 1024.0 / meters as f64
    );
    drop(fleet);
    if let Some(args) = campaign {
        let fleet = match &args.scenario {
            Some(path) => CampaignFleet::from_scenario(path, &key)?,
            None => CampaignFleet {
                scenario: scenario_text(meters, image_kib, "127.2.0.1"),
                image,
                version: b"BENCH-2".to_vec(),
                doomed: 0,
            },
        };
        let (request, reply) = crate::meter_bench::block_frames();
        let shape = crate::ceiling::Shape {
            listeners: meters as usize,
            connections: args.concurrency.min(meters as usize),
            request: request.len(),
            reply: reply.len(),
            burst: match args.block_service {
                BlockService::Unconfirmed { burst } => Some(burst as usize),
                _ => None,
            },
            round_trips_per_connection: None,
        };
        // The ceiling before and after the campaign: on a shared machine it moves from minute
        // to minute, and the campaign is held against the mean of the two.
        let ceiling = |when, shape| {
            let ceiling = runtime.block_on(crate::ceiling::measure(
                &args.executable,
                shape,
                CEILING_TIME,
            ))?;
            println!("ceiling {when} the campaign: {ceiling}");
            Ok::<_, String>(ceiling.per_second)
        };
        let before = ceiling("before", shape)?;
        let rates = runtime.block_on(campaign_rate(fleet, &args, progress))?;
        let after = ceiling("after", shape)?;
        let mean = ((before + after) / 2.0).max(1e-9);
        println!(
            "campaign block rate, first block to the last bit-string: {:.0}/s = {:.0} % of the \
             ceiling ({mean:.0}/s, the mean of the two)",
            rates.whole,
            100.0 * rates.whole / mean
        );
        match rates.middle_half {
            Some(m) => {
                println!(
                    "campaign block rate, the middle half of the blocks as the fleet stored \
                     them: {:.0}/s = {:.0} % of the ceiling; CPU per block there: {:.1} us in \
                     the fleet, {:.1} us in the harness",
                    m.per_second,
                    100.0 * m.per_second / mean,
                    m.fleet_cpu_us,
                    m.harness_cpu_us
                );
                let requests = m.per_second * m.requests_per_block;
                println!(
                    "campaign request rate there (a round trip each: the blocks, and the \
                     association, reads, verification and activation of the meters around \
                     them): {:.2} requests a block, {requests:.0}/s = {:.0} % of the ceiling",
                    m.requests_per_block,
                    100.0 * requests / mean
                );
                // The campaign also opens connections (each meter's transfer, and its
                // confirmation after the reboot): the same round trips with the same churn.
                if let (None, Some(per_connection)) = (shape.burst, m.requests_per_connection) {
                    let churn = crate::ceiling::Shape {
                        round_trips_per_connection: Some(per_connection.round().max(1.0) as u64),
                        ..shape
                    };
                    let churned = ceiling("with the campaign's connections, after", churn)?;
                    println!(
                        "campaign request rate there beside the ceiling with its connections \
                         ({per_connection:.0} requests a connection): {:.0} % of {churned:.0}/s",
                        100.0 * requests / churned.max(1e-9)
                    );
                }
            }
            None => {
                println!("campaign block rate, the middle half: the fleet's counter was not read")
            }
        }
    }
    Ok(())
}

/// The fleet a campaign runs over, in the child process.
struct CampaignFleet {
    /// Its scenario (TOML).
    scenario: String,
    /// The signed image, as the scenario describes it.
    image: Vec<u8>,
    /// The image's version.
    version: Vec<u8>,
    /// Meters no head-end can upgrade.
    doomed: usize,
}

impl CampaignFleet {
    /// The fleet of a scenario file, with an image signed by `key` to its [image] section.
    fn from_scenario(path: &Path, key: &p256::ecdsa::SigningKey) -> Result<Self, String> {
        let (text, origin) = Scenario::find_text(path).map_err(|e| e.to_string())?;
        let scenario = Scenario::from_toml(&text, &origin).map_err(|e| e.to_string())?;
        let version = scenario.image.version.as_bytes().to_vec();
        let payload = vec![0x5A; scenario.image.size as usize];
        let image = dlms::image::build(key, scenario.image.part, &version, &payload)
            .ok_or("the scenario's image part or version is out of range")?;
        let doomed = scenario.meters().iter().filter(|m| m.doomed()).count();
        Ok(CampaignFleet {
            scenario: text,
            image,
            version,
            doomed,
        })
    }
}

/// How long the ceiling is measured, before the campaign and again after it.
const CEILING_TIME: Duration = Duration::from_secs(3);

/// How often the fleet's counters are read during the campaign.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A campaign's block rates.
struct CampaignRates {
    /// Blocks per second from the first block sent to the last meter's complete bit-string.
    whole: f64,
    /// The middle half of the blocks the fleet stored, if its counters could be read.
    middle_half: Option<crate::fleet_counter::MiddleHalf>,
}

/// A campaign against a fleet in a separate `meterfleet emulate --scenario` process, and its
/// block rates.
async fn campaign_rate(
    fleet: CampaignFleet,
    args: &CampaignArgs,
    progress: impl Fn(harness::campaign::Progress) + Send + Sync + 'static,
) -> Result<CampaignRates, String> {
    let dir = std::env::temp_dir().join(format!("meterfleet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let public = dir.join("vendor.pub");
    crate::keys::write_public(&crate::keys::bench_key(), &public)?;
    let scenario_file = dir.join("bench.toml");
    std::fs::write(&scenario_file, &fleet.scenario).map_err(|e| e.to_string())?;
    let targets = dir.join("targets.toml");
    let fleet_log = dir.join("fleet.log");
    let mut child = crate::child::spawn_fleet(
        &args.executable,
        &scenario_file,
        &public,
        &targets,
        std::fs::File::create(&fleet_log)
            .map_err(|e| e.to_string())?
            .into(),
    )?;
    let line = crate::child::first_line(&mut child).await?;
    if line.is_empty() {
        let log = std::fs::read_to_string(&fleet_log).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("the fleet process did not start: {}", log.trim()));
    }
    let targets: Vec<harness::target::Target> = harness::target::file::load(&targets)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| m.main)
        .collect();
    let plan = harness::transfer::Plan {
        poll_interval: Duration::from_millis(100),
        block_service: args.block_service,
        ..harness::transfer::Plan::new(fleet.image, &fleet.version)
    };
    let settings = harness::campaign::CampaignSettings {
        concurrency: args.concurrency,
        passes: 3,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let sampler = crate::fleet_counter::control_address(&line)
        .zip(child.id())
        .map(|(control, pid)| {
            tokio::spawn(crate::fleet_counter::sample(
                control,
                pid,
                SAMPLE_EVERY,
                stopped,
            ))
        });
    let report =
        harness::campaign::run(targets, std::sync::Arc::new(plan), &settings, progress).await;
    let _ = stop.send(());
    let middle_half = match sampler {
        Some(task) => task.await.ok().and_then(|s| s.middle_half()),
        None => None,
    };
    let s = &report.summary;
    let first_block = s.first_block_at.unwrap_or(0.0);
    let span = last_complete(&report.meters) - first_block;
    println!(
        "campaign: {} of {} meters upgraded in {:.1} s wall (passes: {}); {} block transfers in {:.1} s \
         (first block sent to the last meter's complete bit-string): {:.0} blocks/s",
        s.succeeded,
        s.expected,
        s.duration_seconds,
        s.passes,
        s.blocks_sent,
        span,
        s.blocks_sent as f64 / span.max(1e-9)
    );
    let [before, blocks, after] = mean_phases(&report.meters);
    println!(
        "per meter (mean): {before:.2} s before the first block, {blocks:.2} s sending blocks, \
         {after:.2} s verifying, activating and confirming"
    );
    let can = s.expected - fleet.doomed;
    for (pass, succeeded) in s.succeeded_after_pass.iter().enumerate() {
        println!(
            "after pass {}: {succeeded} upgraded, {:.2} % of the {can} meters the scenario does not doom",
            pass + 1,
            100.0 * *succeeded as f64 / can.max(1) as f64
        );
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(CampaignRates {
        whole: s.blocks_sent as f64 / span.max(1e-9),
        middle_half,
    })
}

/// When the last meter's bit-string showed every block in (Unix seconds): the end of the
/// block transfers, whether they were confirmed one by one or pushed unconfirmed.
pub(crate) fn last_complete(meters: &[harness::campaign::MeterResult]) -> f64 {
    meters
        .iter()
        .filter_map(|m| {
            let r = &m.report;
            r.events
                .iter()
                .rfind(|e| e.step == harness::transfer::Step::Completeness)
                .map(|e| r.started_at + e.at_ms as f64 / 1000.0)
        })
        .fold(0.0, f64::max)
}

/// Mean seconds per meter before its first block, from its first to its last block sent, and
/// after its last block until the end.
fn mean_phases(meters: &[harness::campaign::MeterResult]) -> [f64; 3] {
    let mut sums = [0.0; 3];
    for m in meters {
        let r = &m.report;
        let first = r.first_block_at().unwrap_or(r.started_at);
        let last = r.last_block_at().unwrap_or(first);
        sums[0] += first - r.started_at;
        sums[1] += last - first;
        sums[2] += r.started_at + r.duration.as_secs_f64() - last;
    }
    sums.map(|t| t / meters.len().max(1) as f64)
}
