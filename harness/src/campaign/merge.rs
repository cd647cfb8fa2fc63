//! The campaign reports of a sharded run merged into one report of the same schema: every
//! shard's meters in shard order, the statistics counted again over all of them, the shards'
//! pre-scans, plan steps, pass snapshots and group deliveries put side by side. Shards run at
//! the same time, so the merged wall time is the longest shard's.

use super::group::{self, GroupReport};
use super::prescan::Prescan;
use super::report::{summarize, PassSnapshot, BITMAPS_PER_PASS, SCHEMA};
use super::waves::{PlanReport, StepReport, WaveReport};
use super::{CampaignReport, CampaignSummary};
use std::time::Duration;

/// Merges the shard reports `shards`, in shard order.
pub fn merge(shards: Vec<CampaignReport>) -> Result<CampaignReport, String> {
    if shards.is_empty() {
        return Err("no reports to merge".into());
    }
    if let Some(other) = shards.iter().find(|r| r.schema != SCHEMA) {
        return Err(format!(
            "a report of schema {:?}, not {SCHEMA:?}",
            other.schema
        ));
    }
    let passes = shards.iter().map(|r| r.summary.passes).max().unwrap_or(0);
    let wall = shards
        .iter()
        .map(|r| r.summary.duration_seconds)
        .fold(0.0, f64::max);
    let succeeded_after_pass = after_each_pass(shards.iter().map(|r| &r.summary), passes);
    let mut groups: Vec<GroupReport> = Vec::new();
    let mut meters = Vec::new();
    let mut snapshots: Vec<Vec<PassSnapshot>> = Vec::new();
    let mut scenario: Option<super::ScenarioInfo> = None;
    let mut prescans = Vec::new();
    let mut plans = Vec::new();
    let mut point_to_point_from: Option<u32> = None;
    for shard in shards {
        match (scenario.as_mut(), shard.scenario) {
            (Some(merged), Some(s)) => {
                merged.meters += s.meters;
                merged.doomed += s.doomed;
            }
            (None, s) => scenario = s,
            (Some(_), None) => {}
        }
        if let Some(p) = shard.summary.point_to_point_from_pass {
            point_to_point_from = Some(point_to_point_from.map_or(p, |q| q.min(p)));
        }
        meters.extend(shard.meters);
        snapshots.push(shard.incomplete_after_pass);
        prescans.extend(shard.prescan);
        plans.extend(shard.plan);
        groups.extend(shard.group);
    }
    let mut report = summarize(
        meters,
        passes,
        succeeded_after_pass,
        Duration::from_secs_f64(wall),
    );
    report.scenario = scenario;
    report.summary.point_to_point_from_pass = point_to_point_from;
    report.incomplete_after_pass = side_by_side(snapshots);
    report.prescan = merge_prescans(prescans);
    report.plan = merge_plans(plans)?;
    group::account(&mut report, groups);
    Ok(report)
}

/// Meters succeeded after each pass, over every shard: a shard that needed fewer passes keeps
/// its last count.
fn after_each_pass<'a>(
    summaries: impl Iterator<Item = &'a CampaignSummary>,
    passes: u32,
) -> Vec<usize> {
    let mut total = vec![0; passes as usize];
    for s in summaries {
        let last = s.succeeded_after_pass.last().copied().unwrap_or(0);
        for (i, n) in total.iter_mut().enumerate() {
            *n += s.succeeded_after_pass.get(i).copied().unwrap_or(last);
        }
    }
    total
}

/// Pass snapshots of several shards, pass by pass: their counts added, their meters listed
/// (up to [`BITMAPS_PER_PASS`]).
fn side_by_side(shards: Vec<Vec<PassSnapshot>>) -> Vec<PassSnapshot> {
    let passes = shards.iter().map(Vec::len).max().unwrap_or(0);
    (0..passes)
        .map(|i| {
            let of_pass: Vec<&PassSnapshot> = shards.iter().filter_map(|s| s.get(i)).collect();
            PassSnapshot {
                pass: i as u32 + 1,
                count: of_pass.iter().map(|p| p.count).sum(),
                meters: of_pass
                    .iter()
                    .flat_map(|p| p.meters.iter().cloned())
                    .take(BITMAPS_PER_PASS)
                    .collect(),
            }
        })
        .collect()
}

fn merge_prescans(prescans: Vec<Prescan>) -> Option<Prescan> {
    prescans.into_iter().reduce(|mut a, b| {
        a.targets += b.targets;
        a.expected += b.expected;
        a.on_target += b.on_target;
        a.unreachable += b.unreachable;
        a.not_normal += b.not_normal;
        a.meters.extend(b.meters);
        a
    })
}

/// Plan reports of several shards of one plan: step by step and wave by wave (the shards ran
/// the same plan, so the same steps); halted if any shard halted.
fn merge_plans(plans: Vec<PlanReport>) -> Result<Option<PlanReport>, String> {
    let mut plans = plans.into_iter();
    let Some(mut merged) = plans.next() else {
        return Ok(None);
    };
    for plan in plans {
        if merged.halted.is_none() && plan.halted.is_some() {
            merged.verdict = plan.verdict.clone();
            merged.halted = plan.halted.clone();
        }
        for (i, step) in plan.steps.into_iter().enumerate() {
            match merged.steps.get_mut(i) {
                Some(into) if into.name == step.name => merge_step(into, step),
                Some(into) => {
                    return Err(format!(
                        "the shards ran different plans: step {} is {:?} in one, {:?} in another",
                        i + 1,
                        into.name,
                        step.name
                    ))
                }
                None => merged.steps.push(step),
            }
        }
    }
    Ok(Some(merged))
}

fn merge_step(into: &mut StepReport, step: StepReport) {
    into.labelled += step.labelled;
    if let Some(p) = merge_prescans(vec![into.prescan.clone(), step.prescan]) {
        into.prescan = p;
    }
    into.outside_cohorts.extend(step.outside_cohorts);
    into.gated.extend(step.gated);
    for (i, wave) in step.waves.into_iter().enumerate() {
        match into.waves.get_mut(i) {
            Some(w) => merge_wave(w, wave),
            None => into.waves.push(wave),
        }
    }
}

/// A wave's statistics over its shards: the counts added, the rates and the times taken again.
fn merge_wave(into: &mut WaveReport, wave: WaveReport) {
    let (a, b) = (&mut into.summary, wave.summary);
    a.expected += b.expected;
    a.succeeded += b.succeeded;
    a.failed += b.failed;
    a.blocks_sent += b.blocks_sent;
    a.blocks_needed += b.blocks_needed;
    a.retries += b.retries;
    a.passes = a.passes.max(b.passes);
    a.duration_seconds = a.duration_seconds.max(b.duration_seconds);
    a.first_block_at = min_time(a.first_block_at, b.first_block_at);
    a.last_block_at = a
        .last_block_at
        .into_iter()
        .chain(b.last_block_at)
        .reduce(f64::max);
    for (step, n) in b.failures_by_step {
        *a.failures_by_step.entry(step).or_default() += n;
    }
    let percent = |n: usize| 100.0 * n as f64 / a.expected.max(1) as f64;
    a.success_percent = percent(a.succeeded);
    a.unsuccessful_percent = percent(a.failed);
    into.incomplete_after_pass = side_by_side(vec![
        std::mem::take(&mut into.incomplete_after_pass),
        wave.incomplete_after_pass,
    ]);
}

fn min_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.into_iter().chain(b).reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Outcome, Report};

    fn report_of(meter: &str, upgraded: bool) -> CampaignReport {
        let mut r = Report::starting(meter, b"APP-2.0.0");
        r.blocks_needed = 10;
        r.blocks_sent = 12;
        r.outcome = if upgraded {
            Outcome::Upgraded {
                evidence: crate::transfer::Evidence::ActiveFirmwareIdentifier("APP-2.0.0".into()),
            }
        } else {
            Outcome::Failed {
                step: crate::transfer::Step::Verify,
                reason: "bad signature".into(),
            }
        };
        CampaignReport::of_one(r)
    }

    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let written = serde_json::to_string(&report_of("m-1", true)).unwrap();
        let read: CampaignReport = serde_json::from_str(&written).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), written);
    }

    #[test]
    fn shards_add_up_meter_by_meter() {
        let merged = merge(vec![report_of("m-1", true), report_of("m-2", false)]).unwrap();
        let s = &merged.summary;
        assert_eq!((s.expected, s.succeeded, s.failed), (2, 1, 1));
        assert_eq!((s.blocks_sent, s.blocks_needed), (24, 20));
        assert_eq!(s.failures_by_step.get("verify"), Some(&1));
        let names: Vec<&str> = merged
            .meters
            .iter()
            .map(|m| m.report.meter.as_str())
            .collect();
        assert_eq!(names, ["m-1", "m-2"]);
        assert!(merge(Vec::new()).is_err());
    }
}
