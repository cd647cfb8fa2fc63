//! `meterfleet bench soak`: a scenario's fleet upgraded round after round (each round a new
//! firmware version) for a bounded time, with the process's memory after every round, to show
//! that nothing grows.

use crate::demo::{fleet_plan, fleet_targets, key};
use emulator::fleet;
use emulator::scenario::Scenario;
use harness::campaign::{self, CampaignSettings};
use rand::{RngCore, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This process's resident memory in KiB.
fn rss_kib() -> u64 {
    crate::bench::proc_kb("/proc/self/status", "VmRSS:")
}

/// Runs rounds until `minutes` have passed (the round under way finishes).
pub fn soak(path: &Path, minutes: u64, concurrency: usize) -> Result<(), String> {
    let scenario = Scenario::find(path).map_err(|e| e.to_string())?;
    let vendor = key(scenario.seed, "meterfleet demo vendor");
    let stranger = key(scenario.seed, "meterfleet demo stranger");
    fleet::ensure_open_files(fleet::files_needed(scenario.meter_count() as usize, true))?;
    let runtime = crate::process::runtime()?;
    runtime.block_on(async {
        let fleet = fleet::start(&scenario, *vendor.verifying_key(), *stranger.verifying_key())
            .await?;
        let targets = fleet_targets(&fleet);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(minutes * 60);
        println!(
            "soak: scenario {} ({} meters, time scale {}), {minutes} min, concurrency {concurrency}",
            scenario.name,
            targets.len(),
            scenario.time_scale
        );
        println!(
            "{:>5} {:>9} {:>10} {:>9} {:>9}",
            "round", "elapsed", "upgraded", "wall s", "RSS MiB"
        );
        let first_rss = rss_kib();
        let mut round = 0u64;
        while Instant::now() < deadline {
            round += 1;
            let version = format!("SOAK-{round}");
            let mut payload = vec![0u8; scenario.image.size as usize];
            rand_chacha::ChaCha8Rng::seed_from_u64(scenario.seed + round).fill_bytes(&mut payload);
            let image = dlms::image::build(
                &vendor,
                scenario.image.part,
                version.as_bytes(),
                &payload,
            )
            .ok_or("the scenario's image part is out of range")?;
            let plan = fleet_plan(image, version.as_bytes(), scenario.image.part);
            let settings = CampaignSettings {
                concurrency,
                passes: 3,
            };
            let round_started = Instant::now();
            let report =
                campaign::run(targets.clone(), Arc::new(plan), &settings, |_, _| {}, |_, _| {})
                    .await;
            let upgraded = report
                .meters
                .iter()
                .filter(|m| m.report.outcome.upgraded())
                .count();
            println!(
                "{round:>5} {:>8}s {:>10} {:>9.1} {:>9.1}",
                started.elapsed().as_secs(),
                format!("{upgraded}/{}", targets.len()),
                round_started.elapsed().as_secs_f64(),
                rss_kib() as f64 / 1024.0,
            );
        }
        println!(
            "RSS after the first round's start {:.1} MiB, at the end {:.1} MiB",
            first_rss as f64 / 1024.0,
            rss_kib() as f64 / 1024.0
        );
        Ok(())
    })
}
