//! Upgrade campaigns over many meters: bounded concurrency, passes that retry the meters that
//! failed for reasons a retry can fix, and the statistics operators read (the Landis+Gyr
//! upgrade guide's command history and download statistics).

use crate::target::Target;
use crate::transfer::{Driver, Outcome, Plan, Report, Step};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct CampaignSettings {
    /// Meters receiving blocks at once. A meter takes its place before it connects and gives
    /// it up once every block is in, so that meters waiting for verification or rebooting
    /// into the new image do not hold back the next ones.
    pub concurrency: usize,
    /// Passes over the meters still failing (1 = no retry).
    pub passes: u32,
}

/// The per-meter line of a campaign report.
#[derive(Debug, Clone, Serialize)]
pub struct MeterResult {
    /// The meter's report from its last attempt.
    #[serde(flatten)]
    pub report: Report,
    /// The pass in which it ended.
    pub pass: u32,
}

/// Duration percentiles in seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The statistics of a campaign.
#[derive(Debug, Clone, Serialize)]
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
    /// The first block sent to any meter (Unix seconds).
    pub first_block_at: Option<f64>,
    /// The last block sent to any meter (Unix seconds).
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
    /// Per-meter transfer durations of the succeeded meters.
    pub duration_percentiles: Option<Percentiles>,
    /// Failures by step.
    pub failures_by_step: std::collections::BTreeMap<String, usize>,
}

/// A campaign's summary and every meter's result.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignReport {
    /// The statistics.
    pub summary: CampaignSummary,
    /// Each meter, in target order.
    pub meters: Vec<MeterResult>,
}

/// True for failures another pass may fix (the meter was unreachable or busy); a meter that
/// rejected the image will reject it again.
fn retryable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Failed { step, .. } => {
            !matches!(step, Step::Verify | Step::CheckInfo | Step::BlockSize)
        }
        _ => false,
    }
}

fn succeeded(outcome: &Outcome) -> bool {
    !matches!(outcome, Outcome::Failed { .. })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs a campaign; `progress` is called with (done, total) after each meter, `after_pass`
/// with the pass number and the indices of the meters not (yet) upgraded after it.
pub async fn run(
    targets: Vec<Target>,
    plan: Arc<Plan>,
    settings: &CampaignSettings,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
    mut after_pass: impl FnMut(u32, &[usize]),
) -> CampaignReport {
    let started = Instant::now();
    let total = targets.len();
    let mut results: Vec<Option<MeterResult>> = vec![None; total];
    let mut succeeded_after_pass = Vec::new();
    let semaphore = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let progress = Arc::new(progress);
    let done = Arc::new(AtomicUsize::new(0));
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();
    let mut passes = 0;
    for pass in 1..=settings.passes.max(1) {
        let todo: Vec<usize> = (0..total)
            .filter(|&i| {
                results[i]
                    .as_ref()
                    .is_none_or(|r| retryable(&r.report.outcome))
            })
            .collect();
        if todo.is_empty() {
            break;
        }
        passes = pass;
        done.store(total - todo.len(), Ordering::Relaxed);
        let mut tasks = Vec::with_capacity(todo.len());
        for &i in &todo {
            let target = targets[i].clone();
            let plan = plan.clone();
            let semaphore = semaphore.clone();
            let progress = progress.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let slot = semaphore.acquire_owned().await.expect("semaphore open");
                let report = Driver::new(&target, &plan).holding(slot).run().await;
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                (i, report)
            }));
        }
        for task in tasks {
            let (i, report) = task.await.expect("transfer task");
            results[i] = Some(MeterResult { report, pass });
        }
        let failing: Vec<usize> = (0..total)
            .filter(|&i| {
                results[i]
                    .as_ref()
                    .is_some_and(|r| !succeeded(&r.report.outcome))
            })
            .collect();
        succeeded_after_pass.push(total - failing.len());
        after_pass(pass, &failing);
    }
    let meters: Vec<MeterResult> = results
        .into_iter()
        .map(|r| r.expect("every meter ran"))
        .collect();
    summarize(meters, passes, succeeded_after_pass, started.elapsed())
}

fn summarize(
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
            .filter_map(|m| m.report.first_block_at)
            .reduce(f64::min),
        last_block_at: meters
            .iter()
            .filter_map(|m| m.report.last_block_at)
            .reduce(f64::max),
        duration_seconds: wall.as_secs_f64(),
        blocks_sent: meters.iter().map(|m| m.report.blocks_sent as u64).sum(),
        blocks_needed: meters.iter().map(|m| m.report.blocks_needed as u64).sum(),
        retries: meters.iter().map(|m| m.report.retries as u64).sum(),
        passes,
        succeeded_after_pass,
        duration_percentiles: (!durations.is_empty()).then(|| Percentiles {
            p50: percentile(&durations, 0.50),
            p95: percentile(&durations, 0.95),
            p99: percentile(&durations, 0.99),
        }),
        failures_by_step,
    };
    CampaignReport { summary, meters }
}

impl CampaignSummary {
    /// The operator's table, as text.
    pub fn render(&self) -> String {
        let when = |t: Option<f64>| {
            t.map_or("-".into(), |s| {
                let dt = dlms::axdr::DateTime::from_unix_utc(s as u64);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    dt.date.year,
                    dt.date.month,
                    dt.date.day,
                    dt.time.hour,
                    dt.time.minute,
                    dt.time.second
                )
            })
        };
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
                "{} (succeeded after each: {:?})",
                self.passes, self.succeeded_after_pass
            ),
        );
        if let Some(p) = self.duration_percentiles {
            line(
                "per-meter duration",
                format!("p50 {:.2} s, p95 {:.2} s, p99 {:.2} s", p.p50, p.p95, p.p99),
            );
        }
        out
    }
}
