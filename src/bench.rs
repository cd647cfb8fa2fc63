//! `meterfleet bench`: fleet memory and campaign throughput (`bench fleet`), one meter's block
//! rate (`bench meter`), the loopback ceiling every rate is printed beside (`bench ceiling`),
//! group delivery beside unicast (`bench group`), and a bounded soak (`bench soak`); the
//! measuring is in `lab`.

use emulator::scenario::Scenario;
use harness::transfer::BlockService;
use lab::fleet_bench::{self, CampaignArgs};
use std::process::ExitCode;

/// `meterfleet bench ...`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Fleet memory (idle, mid-transfer) and, with --campaign, a campaign's throughput beside
    /// the loopback ceiling of the same shape, measured in the same run.
    #[command(after_help = "Examples:
  meterfleet bench fleet --meters 10000 --campaign --concurrency 1000
  meterfleet bench fleet --meters 2000 --campaign --unconfirmed-blocks 16
  meterfleet bench fleet --campaign --scenario 10k")]
    Fleet {
        /// Meters in the fleet.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        meters: u32,
        /// Image size in KiB.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        image_kib: u32,
        /// Also run a campaign over the fleet, started as a separate `meterfleet emulate`
        /// process, and report block transfers per second (over the whole transfer, and over
        /// the middle half of the blocks with each side's CPU per block) beside the ceiling
        /// measured before and after it.
        #[arg(long)]
        campaign: bool,
        /// Meters receiving blocks at once in the campaign.
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
        /// Send the campaign's blocks as unconfirmed ACTIONs, N per write (as `meterfleet
        /// upgrade --unconfirmed-blocks`); without it every block is confirmed.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        unconfirmed_blocks: Option<u32>,
        /// Run the campaign over this scenario's fleet, with its faults and image (a file,
        /// or a built-in scenario such as 10k), instead of a clean fleet of --meters.
        #[arg(long, requires = "campaign")]
        scenario: Option<std::path::PathBuf>,
    },
    /// One meter's block rate (this driver against `meterfleet emulate` in another process)
    /// beside the loopback ceiling of the same shape, measured in the same run.
    #[command(after_help = "Examples:
  meterfleet bench meter
  meterfleet bench meter --image-kib 16384 --unconfirmed-blocks 16 --json meter.json")]
    Meter {
        /// Image size in KiB (1 KiB blocks).
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(16..=65_536))]
        image_kib: u32,
        /// Send the blocks as unconfirmed ACTIONs, N per write.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        unconfirmed_blocks: Option<u32>,
        /// Also write the figures as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
    },
    /// The emulator's own capacity: a fleet driven by a load generator that does no protocol
    /// work (frames built beforehand, replies not decoded): blocks per second and the fleet
    /// process's CPU time per block, beside the ceiling of the same shape.
    #[command(after_help = "Examples:
  meterfleet bench emulator --meters 1 --connections 1
  meterfleet bench emulator --meters 10000 --connections 1000 --seconds 5")]
    Emulator {
        /// Meters in the fleet.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60_000))]
        meters: u32,
        /// Connections kept busy, one meter each.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// How long to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Also write the figures as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
    },
    /// The loopback ceiling alone: bare round trips (or unanswered bursts) shaped like the
    /// block path, between this process and a server process, with no protocol work.
    #[command(after_help = "Examples:
  meterfleet bench ceiling
  meterfleet bench ceiling --connections 1000 --listeners 10000 --seconds 5
  meterfleet bench ceiling --burst 16
  meterfleet bench ceiling --connections 1000 --listeners 2000 --round-trips-per-connection 90")]
    Ceiling {
        /// Client connections.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Listeners in the server process, each on its own loopback address.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60_000))]
        listeners: u32,
        /// Requests per write, unanswered, instead of round trips.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        burst: Option<u32>,
        /// Round trips before a connection is closed and the next listener connected to (as
        /// a campaign's meters are); without it, each connection lasts the whole run.
        #[arg(long, conflicts_with = "burst", value_parser = clap::value_parser!(u64).range(1..))]
        round_trips_per_connection: Option<u64>,
        /// How long to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// The ceiling's server (started by the benches in a process of its own).
    #[command(
        hide = true,
        after_help = "Examples:\n  meterfleet bench ceiling-serve --listeners 1 --reply-bytes 13"
    )]
    CeilingServe {
        /// Listeners.
        #[arg(long)]
        listeners: usize,
        /// Bytes of each reply frame.
        #[arg(long)]
        reply_bytes: usize,
    },
    /// A scenario's group campaign beside a unicast campaign over the same fleet and seed:
    /// blocks sent and wall time, and their ratios.
    #[command(after_help = "Examples:
  meterfleet bench group
  meterfleet bench group --scenario my-multicast-fleet.toml --json group-vs-unicast.json")]
    Group {
        /// A scenario file, or the name of a built-in scenario, whose populations join a
        /// multicast group or sit behind a gateway.
        #[arg(long, default_value = "multicast")]
        scenario: std::path::PathBuf,
        /// Meters served at once in each campaign.
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
        /// Also write the comparison as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
    },
    /// Upgrade a scenario's fleet round after round for a bounded time, printing memory after
    /// each round.
    #[command(after_help = "Examples:
  meterfleet bench soak --minutes 30
  meterfleet bench soak --scenario default --minutes 5 --concurrency 500")]
    Soak {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(long, default_value = "gprs-lossy")]
        scenario: std::path::PathBuf,
        /// How long, in minutes (the round under way at the end finishes).
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        /// Meters upgraded at once.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Fleet {
            meters,
            image_kib,
            campaign,
            concurrency,
            unconfirmed_blocks,
            scenario,
        } => {
            let block_service = unconfirmed_blocks.map_or(BlockService::Confirmed, |burst| {
                BlockService::Unconfirmed { burst }
            });
            let executable = match current_exe() {
                Ok(path) => path,
                Err(e) => return finish(Err(e)),
            };
            finish(crate::process::runtime().and_then(|runtime| {
                let progress = crate::progress::CampaignProgress::start();
                fleet_bench::fleet(
                    &runtime,
                    meters,
                    image_kib,
                    campaign.then_some(CampaignArgs {
                        concurrency,
                        block_service,
                        scenario,
                        executable,
                    }),
                    progress.callback(),
                )
            }))
        }
        BenchCommand::Meter {
            image_kib,
            unconfirmed_blocks,
            json,
        } => finish(current_exe().and_then(|executable| {
            let service = unconfirmed_blocks.map_or(BlockService::Confirmed, |burst| {
                BlockService::Unconfirmed { burst }
            });
            // One meter, as `upgrade` runs one.
            let figures = crate::process::runtime_for(1)?.block_on(lab::meter_bench::meter(
                &executable,
                image_kib,
                service,
            ))?;
            println!(
                "one meter: {} blocks of 1 KiB in {:.2} s = {:.0} blocks/s",
                figures.blocks, figures.seconds, figures.per_second
            );
            println!("ceiling, the same run: {}", figures.ceiling);
            println!("ratio: {:.0} % of the ceiling", 100.0 * figures.ratio());
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&figures).expect("serializes");
                crate::process::write(&path, &text)?;
            }
            Ok(())
        })),
        BenchCommand::Emulator {
            meters,
            connections,
            seconds,
            json,
        } => finish(current_exe().and_then(|executable| {
            let figures = crate::process::runtime_for(connections)?.block_on(
                lab::capacity::measure(
                    &executable,
                    meters,
                    connections,
                    std::time::Duration::from_secs(seconds),
                ),
            )?;
            println!(
                "emulator, {} meters over {} connections: {:.0} blocks/s, {:.1} us of CPU per block ({:.2} cores)",
                figures.meters,
                figures.connections,
                figures.blocks_per_second,
                figures.cpu_us_per_block,
                figures.cores
            );
            println!("ceiling, the same run: {}", figures.ceiling);
            println!(
                "ratio: {:.0} % of the ceiling",
                100.0 * figures.blocks_per_second / figures.ceiling.per_second.max(1e-9)
            );
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&figures).expect("serializes");
                crate::process::write(&path, &text)?;
            }
            Ok(())
        })),
        BenchCommand::Ceiling {
            connections,
            listeners,
            burst,
            round_trips_per_connection,
            seconds,
        } => finish(current_exe().and_then(|executable| {
            let (request, reply) = lab::meter_bench::block_frames();
            let shape = lab::ceiling::Shape {
                listeners: listeners as usize,
                connections,
                request: request.len(),
                reply: reply.len(),
                burst: burst.map(|b| b as usize),
                round_trips_per_connection,
            };
            let ceiling = crate::process::runtime_for(connections)?.block_on(
                lab::ceiling::measure(&executable, shape, std::time::Duration::from_secs(seconds)),
            )?;
            println!("ceiling: {ceiling}");
            Ok(())
        })),
        BenchCommand::CeilingServe {
            listeners,
            reply_bytes,
        } => finish(
            // One listener, as one emulated meter is served; many, as a fleet is.
            crate::process::runtime_for(listeners)
                .and_then(|runtime| runtime.block_on(lab::ceiling::serve(listeners, reply_bytes))),
        ),
        BenchCommand::Group {
            scenario,
            concurrency,
            json,
        } => finish(
            Scenario::find(&scenario)
                .map_err(|e| e.to_string())
                .and_then(|scenario| {
                    let compared = crate::process::runtime()?
                        .block_on(lab::group_bench::compare(&scenario, concurrency))?;
                    println!(
                        "scenario {} (seed {}), {} meters: group campaign beside unicast",
                        scenario.name,
                        scenario.seed,
                        scenario.meter_count()
                    );
                    print!("{}", compared.render());
                    if let Some(path) = json {
                        let text = serde_json::to_string_pretty(&compared).expect("serializes");
                        crate::process::write(&path, &text)?;
                    }
                    Ok(())
                }),
        ),
        BenchCommand::Soak {
            scenario,
            minutes,
            concurrency,
        } => finish(
            Scenario::find(&scenario)
                .map_err(|e| e.to_string())
                .and_then(|scenario| {
                    crate::process::runtime()?.block_on(lab::soak::soak(
                        &scenario,
                        minutes,
                        concurrency,
                    ))
                }),
        ),
    }
}

fn current_exe() -> Result<std::path::PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
