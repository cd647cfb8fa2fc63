//! `meterfleet bench soak`: a scenario's fleet upgraded round after round (each round a new
//! firmware version) for a bounded time, with the process's memory after every round, to show
//! that nothing grows.

use crate::keys;
use crate::memory::rss_kib;
use crate::scenario_campaign::{fleet_plan, fleet_targets, prepare, scenario_image};
use emulator::fleet;
use emulator::scenario::Scenario;
use harness::campaign::{self, CampaignSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs rounds until `minutes` have passed (the round under way finishes), printing a line
/// after each.
pub async fn soak(scenario: &Scenario, minutes: u64, concurrency: usize) -> Result<(), String> {
    prepare(scenario)?;
    let fleet = fleet::start(
        scenario,
        *keys::vendor(scenario.seed).verifying_key(),
        *keys::stranger(scenario.seed).verifying_key(),
    )
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
        let image = scenario_image(scenario, version.as_bytes(), scenario.seed + round)?;
        let plan = fleet_plan(image, version.as_bytes(), scenario.image.part);
        let settings = CampaignSettings {
            concurrency,
            passes: 3,
            confirm_only: false,
            point_to_point_below: 0,
        };
        let round_started = Instant::now();
        let report = campaign::run(targets.clone(), Arc::new(plan), &settings, |_| {}).await;
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
}
