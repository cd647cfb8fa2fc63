//! The campaign report: one JSON schema (`meterfleet-campaign-report/1`) for `upgrade` and
//! `demo`, its statistics (the Landis+Gyr guide's command history and download statistics),
//! and the operator's table. Times are RFC 3339 in UTC; durations carry their unit in the name.

use crate::transfer::{Outcome, Report};
use serde::Serialize;
use std::time::Duration;

/// The schema name every campaign report carries.
pub const SCHEMA: &str = "meterfleet-campaign-report/1";

/// The per-meter line of a campaign report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MeterResult {
    /// The meter's report from its last attempt.
    #[serde(flatten)]
    pub report: Report,
    /// The pass in which it ended.
    pub pass: u32,
    /// Whether it runs the new firmware.
    pub upgraded: bool,
    /// Whether the scenario made it impossible to upgrade (emulated fleets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doomed: Option<bool>,
    /// The plan step it ran in, for a plan's campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The wave of that step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
}

/// Duration percentiles in seconds.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The statistics of a campaign.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CampaignSummary {
    /// Meters in the campaign.
    pub expected: usize,
    /// Meters running the new firmware (or verified, when activation was not asked for).
    pub succeeded: usize,
    /// Meters that did not get there.
    pub failed: usize,
    /// succeeded / expected, in percent.
    pub success_percent: f64,
    /// failed / expected, in percent.
    pub unsuccessful_percent: f64,
    /// The first block sent to any meter (Unix seconds; RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub first_block_at: Option<f64>,
    /// The last block sent to any meter (Unix seconds; RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub last_block_at: Option<f64>,
    /// Wall time of the whole campaign, in seconds.
    pub duration_seconds: f64,
    /// Block transfers sent, resends included.
    pub blocks_sent: u64,
    /// Block transfers the images needed.
    pub blocks_needed: u64,
    /// Requests repeated after failures.
    pub retries: u64,
    /// Passes run.
    pub passes: u32,
    /// Succeeded meters after each pass.
    pub succeeded_after_pass: Vec<usize>,
    /// The first pass whose blocks went point-to-point, confirmed, because few enough meters
    /// remained (campaigns with unconfirmed blocks and a remainder threshold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_to_point_from_pass: Option<u32>,
    /// Per-meter transfer durations of the succeeded meters.
    #[serde(rename = "duration_percentiles_seconds")]
    pub duration_percentiles: Option<Percentiles>,
    /// Failures by step.
    pub failures_by_step: std::collections::BTreeMap<String, usize>,
}

/// A campaign's summary and every meter's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CampaignReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// The emulated fleet, when the campaign ran over one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioInfo>,
    /// A plan's steps and waves, and its verdict, when the campaign ran one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::waves::PlanReport>,
    /// What the pre-scan found before any block, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prescan: Option<super::prescan::Prescan>,
    /// The statistics.
    pub summary: CampaignSummary,
    /// The command history: per image and command, expected, attempted, succeeded, failed,
    /// when issued and the latest response.
    pub command_history: Vec<super::field_reports::CommandRow>,
    /// The firmware download statistics, per image.
    pub downloads: Vec<super::field_reports::DownloadStats>,
    /// Each meter, in target order.
    pub meters: Vec<MeterResult>,
    /// The meters still incomplete after each pass, where their bitmaps are known.
    pub incomplete_after_pass: Vec<PassSnapshot>,
    /// What group delivery did, per route, when the campaign delivered to groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<super::group::GroupReport>,
}

impl CampaignReport {
    /// The summary for a terminal, with what group delivery did where it ran.
    pub fn render(&self) -> String {
        let mut out = self.summary.render();
        for group in &self.group {
            out.push_str(&group.render());
        }
        out
    }

    /// The report of a single meter's upgrade, in the same schema as a campaign's.
    pub fn of_one(report: Report) -> Self {
        let wall = report.duration;
        let ok = usize::from(succeeded(&report.outcome));
        summarize(vec![MeterResult::new(report, 1)], 1, vec![ok], wall)
    }
}

impl CampaignReport {
    /// This report with the confirmations of `confirmed` (a later run that only confirmed
    /// scheduled activations): each confirmed meter's outcome, phases and events are added to
    /// its line, and the statistics counted again.
    pub fn with_confirmations(self, confirmed: CampaignReport) -> CampaignReport {
        let mut meters = self.meters;
        for c in confirmed.meters {
            let Some(m) = meters.iter_mut().find(|m| m.report.meter == c.report.meter) else {
                continue;
            };
            m.upgraded = c.upgraded;
            m.report.outcome = c.report.outcome;
            m.report.phases.extend(c.report.phases);
            m.report.events.extend(c.report.events);
            m.report.duration += c.report.duration;
        }
        let wall = std::time::Duration::from_secs_f64(
            self.summary.duration_seconds + confirmed.summary.duration_seconds,
        );
        let mut report = summarize(
            meters,
            self.summary.passes,
            self.summary.succeeded_after_pass,
            wall,
        );
        report.scenario = self.scenario;
        report.plan = self.plan;
        report.prescan = self.prescan;
        report.incomplete_after_pass = self.incomplete_after_pass;
        report
    }
}

impl MeterResult {
    /// A meter's last report and the pass it ended in.
    pub fn new(report: Report, pass: u32) -> Self {
        MeterResult {
            upgraded: report.outcome.upgraded(),
            report,
            pass,
            doomed: None,
            step: None,
            wave: None,
        }
    }
}

/// The emulated fleet a campaign ran over, when it was one (`demo`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    pub image_size_bytes: usize,
}

/// An incomplete meter after a pass: why, and the blocks it held.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Bitmap {
    /// The meter.
    pub meter: String,
    /// Why it is not done (its outcome in the pass).
    pub reason: String,
    /// Its attribute 3 as the driver last read it, block 0 first; none where the meter gives
    /// only attribute 4, or the transfer never got that far.
    pub bitmap: Option<String>,
}

/// The most incomplete meters a pass snapshot lists with their bit-strings.
pub const BITMAPS_PER_PASS: usize = 64;

/// The meters not upgraded after a pass (bitmaps for the first [`BITMAPS_PER_PASS`]).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PassSnapshot {
    /// The pass.
    pub pass: u32,
    /// How many meters were not upgraded.
    pub count: usize,
    /// Their bitmaps.
    pub meters: Vec<Bitmap>,
}

/// Whether a meter counts as succeeded.
pub(super) fn succeeded(outcome: &Outcome) -> bool {
    !matches!(outcome, Outcome::Failed { .. })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The report of a campaign over `meters`.
pub(super) fn summarize(
    meters: Vec<MeterResult>,
    passes: u32,
    succeeded_after_pass: Vec<usize>,
    wall: Duration,
) -> CampaignReport {
    let expected = meters.len();
    let ok = meters
        .iter()
        .filter(|m| succeeded(&m.report.outcome))
        .count();
    let mut durations: Vec<f64> = meters
        .iter()
        .filter(|m| succeeded(&m.report.outcome))
        .map(|m| m.report.duration.as_secs_f64())
        .collect();
    durations.sort_by(f64::total_cmp);
    let mut failures_by_step = std::collections::BTreeMap::new();
    for m in &meters {
        if let Outcome::Failed { step, .. } = &m.report.outcome {
            let name = serde_json::to_value(step)
                .ok()
                .and_then(|v| v.as_str().map(String::from));
            *failures_by_step
                .entry(name.unwrap_or_default())
                .or_insert(0) += 1;
        }
    }
    let percent = |n: usize| {
        if expected == 0 {
            0.0
        } else {
            100.0 * n as f64 / expected as f64
        }
    };
    let summary = CampaignSummary {
        expected,
        succeeded: ok,
        failed: expected - ok,
        success_percent: percent(ok),
        unsuccessful_percent: percent(expected - ok),
        first_block_at: meters
            .iter()
            .filter_map(|m| m.report.first_block_at())
            .reduce(f64::min),
        last_block_at: meters
            .iter()
            .filter_map(|m| m.report.last_block_at())
            .reduce(f64::max),
        duration_seconds: wall.as_secs_f64(),
        blocks_sent: meters.iter().map(|m| m.report.blocks_sent as u64).sum(),
        blocks_needed: meters.iter().map(|m| m.report.blocks_needed as u64).sum(),
        retries: meters.iter().map(|m| m.report.retries as u64).sum(),
        passes,
        succeeded_after_pass,
        point_to_point_from_pass: None,
        duration_percentiles: (!durations.is_empty()).then(|| Percentiles {
            p50: percentile(&durations, 0.50),
            p95: percentile(&durations, 0.95),
            p99: percentile(&durations, 0.99),
        }),
        failures_by_step,
    };
    CampaignReport {
        schema: SCHEMA.to_string(),
        scenario: None,
        plan: None,
        prescan: None,
        summary,
        command_history: super::field_reports::command_history(&meters),
        downloads: super::field_reports::download_statistics(&meters),
        meters,
        incomplete_after_pass: Vec::new(),
        group: Vec::new(),
    }
}

impl CampaignSummary {
    /// The operator's table, as text.
    pub fn render(&self) -> String {
        let when = |t: Option<f64>| t.map_or("-".into(), crate::rfc3339::format);
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<28} {v}\n"));
        line("expected", self.expected.to_string());
        line(
            "succeeded",
            format!("{} ({:.1} %)", self.succeeded, self.success_percent),
        );
        line(
            "failed",
            format!("{} ({:.1} %)", self.failed, self.unsuccessful_percent),
        );
        for (step, n) in &self.failures_by_step {
            line(&format!("  failed at {step}"), n.to_string());
        }
        line("first block", when(self.first_block_at));
        line("last block", when(self.last_block_at));
        line("duration", format!("{:.1} s", self.duration_seconds));
        line(
            "blocks sent / needed",
            format!("{} / {}", self.blocks_sent, self.blocks_needed),
        );
        line("retries", self.retries.to_string());
        line(
            "passes",
            format!(
                "{} (succeeded after each: {})",
                self.passes,
                counts(&self.succeeded_after_pass)
            ),
        );
        if let Some(pass) = self.point_to_point_from_pass {
            line(
                "point-to-point",
                format!("from pass {pass}: the remainder's blocks went confirmed"),
            );
        }
        if let Some(p) = self.duration_percentiles {
            line(
                "per-meter duration",
                format!("p50 {:.2} s, p95 {:.2} s, p99 {:.2} s", p.p50, p.p95, p.p99),
            );
        }
        out
    }
}

/// Counts as a list: `[986, 996]`.
pub(super) fn counts(values: &[usize]) -> String {
    let shown: Vec<String> = values.iter().map(usize::to_string).collect();
    format!("[{}]", shown.join(", "))
}
