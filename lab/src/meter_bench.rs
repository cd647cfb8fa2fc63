//! `meterfleet bench meter`: one meter's block rate (meterfleet's driver in this process
//! against `meterfleet emulate` in another), beside the one-connection ceiling of the same
//! frame sizes measured in the same run.

use crate::ceiling::{self, Ceiling, Shape};
use dlms::apdu::{ActionOutcome, ActionResponse, ActionResult, InvokeIdAndPriority};
use dlms::cosem::image_transfer::{self as it, method};
use dlms::wrapper::wrap;
use dlms::Codec;
use harness::target::{Auth, Target, Transport};
use harness::transfer::BlockService;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The block size the bench's meter offers.
pub const BLOCK_SIZE: usize = 1024;

/// One meter's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MeterFigures {
    /// Blocks sent.
    pub blocks: u64,
    /// From the first block sent to the last (seconds).
    pub seconds: f64,
    /// Blocks per second.
    pub per_second: f64,
    /// The ceiling of the same shape, measured after the meter.
    pub ceiling: Ceiling,
}

impl MeterFigures {
    /// The rate as a share of the ceiling.
    pub fn ratio(&self) -> f64 {
        self.per_second / self.ceiling.per_second.max(1e-9)
    }
}

/// The wrapped frames of one block transfer: the ACTION carrying a [`BLOCK_SIZE`] block and its
/// success response.
pub fn block_frames() -> (Vec<u8>, Vec<u8>) {
    let parameters = it::block_parameters(0, &[0x5A; BLOCK_SIZE]);
    let request = it::action_request(
        InvokeIdAndPriority(0xC1),
        method::IMAGE_BLOCK_TRANSFER,
        Some(&parameters),
    )
    .to_bytes();
    let reply = ActionResponse::Normal {
        iip: InvokeIdAndPriority(0xC1),
        outcome: ActionOutcome::bare(ActionResult::SUCCESS),
    }
    .to_bytes();
    (
        wrap(1, 1, &request).expect("fits"),
        wrap(1, 1, &reply).expect("fits"),
    )
}

/// Upgrades one emulated meter [`ROUNDS`] times with an image of `image_kib` KiB in 1 KiB
/// blocks, then measures the ceiling of the same shape for as long as the blocks took (at
/// least a second).
pub async fn meter(
    executable: &Path,
    image_kib: u32,
    block_service: BlockService,
) -> Result<MeterFigures, String> {
    let dir = std::env::temp_dir().join(format!("meterfleet-bench-meter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&dir, executable, image_kib, block_service).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    dir: &Path,
    executable: &Path,
    image_kib: u32,
    block_service: BlockService,
) -> Result<MeterFigures, String> {
    let key = crate::keys::bench_key();
    let public = dir.join("vendor.pub");
    crate::keys::write_public(&key, &public)?;
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "image_block_size = {BLOCK_SIZE}\nmax_pdu_size = 2048\nactivation_reboot_ms = 200\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(executable)
        .args(["emulate", "--listen", "127.0.0.1:0", "--trust-key"])
        .arg(&public)
        .arg("--profile")
        .arg(&profile)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the meter: {e}"))?;
    let line = crate::child::first_line(&mut child).await?;
    let address: std::net::SocketAddr = line
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("the meter did not say where it listens: {line:?}"))?;
    let mut blocks = 0u64;
    let mut seconds = 0.0;
    for round in 0..ROUNDS {
        // Each round a new version, so that the meter takes the image again.
        let version = format!("BENCH-{}", round + 2);
        let (sent, took) = upgrade_once(address, &key, &version, image_kib, block_service).await?;
        blocks += sent;
        seconds += took;
    }
    let _ = child.kill().await;
    let (request, reply) = block_frames();
    let shape = Shape {
        listeners: 1,
        connections: 1,
        request: request.len(),
        reply: reply.len(),
        burst: match block_service {
            BlockService::Unconfirmed { burst } => Some(burst as usize),
            _ => None,
        },
        round_trips_per_connection: None,
    };
    let ceiling =
        ceiling::measure(executable, shape, Duration::from_secs_f64(seconds.max(1.0))).await?;
    Ok(MeterFigures {
        blocks,
        seconds,
        per_second: blocks as f64 / seconds.max(1e-9),
        ceiling,
    })
}

/// How many transfers one measurement adds up (one 4 MiB image takes well under a second).
const ROUNDS: u32 = 5;

/// One upgrade of the meter at `address`: the blocks sent, and the seconds from the first
/// block sent until the meter's bit-string showed them all.
async fn upgrade_once(
    address: std::net::SocketAddr,
    key: &p256::ecdsa::SigningKey,
    version: &str,
    image_kib: u32,
    block_service: BlockService,
) -> Result<(u64, f64), String> {
    let payload = vec![0x5A; image_kib as usize * 1024];
    let image = dlms::image::build(key, 1, version.as_bytes(), &payload).expect("valid parameters");
    let mut target = Target::new(address, Transport::Wrapper);
    target.client_sap = 1;
    target.auth = Auth::Lls(b"12345678".to_vec());
    let plan = harness::transfer::Plan {
        block_service,
        ..harness::transfer::Plan::new(image, version.as_bytes())
    };
    let settings = harness::campaign::CampaignSettings {
        concurrency: 1,
        passes: 1,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let report = harness::campaign::run(vec![target], Arc::new(plan), &settings, |_| {}).await;
    let meter = report.meters.first().ok_or("no meter in the report")?;
    if !matches!(
        meter.report.outcome,
        harness::transfer::Outcome::Upgraded { .. }
    ) {
        return Err(format!(
            "the meter was not upgraded: {:?}",
            meter.report.outcome
        ));
    }
    let first = meter.report.first_block_at().ok_or("no block sent")?;
    // Until the bit-string showed every block in: unconfirmed blocks are not done when sent.
    let last = crate::fleet_bench::last_complete(&report.meters);
    Ok((u64::from(meter.report.blocks_sent), (last - first).max(0.0)))
}
