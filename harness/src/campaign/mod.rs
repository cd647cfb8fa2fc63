//! Upgrade campaigns over many meters: bounded concurrency, passes that retry the meters that
//! failed for reasons a retry can fix, and the statistics operators read (the Landis+Gyr
//! upgrade guide's command history and download statistics).

pub mod field_reports;
pub mod group;
pub mod group_link;
pub mod html;
pub mod journal;
pub mod junit;
pub mod merge;
pub mod plan;
pub mod prescan;
mod report;
pub mod waves;

pub use report::{
    Bitmap, CampaignReport, CampaignSummary, MeterResult, PassSnapshot, Percentiles, ScenarioInfo,
    BITMAPS_PER_PASS, SCHEMA,
};

use crate::target::Target;
use crate::transfer::{BlockService, Driver, Outcome, Phase, Plan, Report, Step};
use journal::{Journal, Record, Standing};
use report::{succeeded, summarize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
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
    /// Only confirm an activation invoked or scheduled earlier: read each meter's new
    /// identifier, send nothing else.
    pub confirm_only: bool,
    /// Once a pass leaves no more than this many meters to do, the next passes send their
    /// blocks point-to-point, confirmed, whatever the plan's block service (0: never).
    pub point_to_point_below: usize,
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

/// Where a campaign stands, for progress displays: told after each meter ends its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The pass under way, from 1.
    pub pass: u32,
    /// Meters done: succeeded in an earlier pass, or ended their attempt in this one. Calls
    /// from concurrent meters may arrive out of order; a display keeps the largest.
    pub done: usize,
    /// Meters in the campaign.
    pub total: usize,
    /// Meters whose attempt in this pass failed, so far.
    pub failed: usize,
    /// Block transfers the attempt that just ended sent.
    pub blocks_sent: u32,
    /// Whether that attempt left its meter on the new firmware.
    pub upgraded: bool,
}

/// Runs a campaign; `progress` is told after each meter's attempt.
pub async fn run(
    targets: Vec<Target>,
    plan: Arc<Plan>,
    settings: &CampaignSettings,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> CampaignReport {
    let journal = Journalled {
        journal: None,
        standing: Standing::default(),
    };
    run_journalled(targets, plan, settings, &journal, "", progress).await
}

/// A campaign's journal, and where its meters stood when it was read (nothing for a new one).
#[derive(Debug)]
pub struct Journalled {
    /// The journal written as the campaign goes, if any.
    pub journal: Option<Arc<Journal>>,
    /// Where each meter stood: meters done are not run again, the others resume from the
    /// phase they reached.
    pub standing: Standing,
}

/// The name a meter goes by in the journal: its own, within `scope` (a plan's step) if any.
pub fn journal_key(scope: &str, meter: &str) -> String {
    if scope.is_empty() {
        meter.to_string()
    } else {
        format!("{scope}/{meter}")
    }
}

/// [`run`], writing `journalled`'s journal as it goes and taking each meter up where the
/// journal left it; `scope` names the plan step the meters are journalled under ("" for none).
pub async fn run_journalled(
    targets: Vec<Target>,
    plan: Arc<Plan>,
    settings: &CampaignSettings,
    journalled: &Journalled,
    scope: &str,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> CampaignReport {
    let started = Instant::now();
    let total = targets.len();
    let Journalled { journal, standing } = journalled;
    let keys: Vec<String> = targets
        .iter()
        .map(|t| journal_key(scope, &t.name))
        .collect();
    // Meters done in an earlier run keep that result; the others resume where they stood.
    let mut results: Vec<Option<MeterResult>> = targets
        .iter()
        .zip(&keys)
        .map(|(t, key)| {
            let (pass, outcome) = standing.ended.get(key)?;
            // Confirming takes up exactly the meters an earlier run left ready.
            (!settings.confirm_only && standing.done(key)).then(|| {
                let report = Report::carried(&t.name, &plan.expected_version, outcome.clone());
                MeterResult::new(report, *pass)
            })
        })
        .collect();
    let mut reached: Vec<Option<Phase>> = keys
        .iter()
        .map(|key| standing.reached.get(key).copied())
        .collect();
    let mut succeeded_after_pass = Vec::new();
    let mut snapshots = Vec::new();
    let mut point_to_point_from = None;
    let semaphore = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let progress = Arc::new(progress);
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();
    let mut group_reports = Vec::new();
    // Group delivery first: the drivers then verify and activate, sending what is missing.
    let plan = match plan.block_service {
        BlockService::Group(delivery) if !settings.confirm_only => {
            let todo: Vec<usize> = (0..total).filter(|&i| results[i].is_none()).collect();
            let resume: Vec<bool> = reached
                .iter()
                .map(|r| r.is_some_and(|p| p >= Phase::Initiate))
                .collect();
            let delivered = group::deliver(
                &targets,
                &todo,
                &resume,
                &plan,
                delivery,
                settings.concurrency,
            )
            .await;
            for i in delivered.initiated {
                reached[i] = reached[i].max(Some(Phase::Initiate));
                if let Some(journal) = &journal {
                    journal.reached(&keys[i], Phase::Initiate);
                }
            }
            group_reports = delivered.reports;
            Arc::new(Plan {
                block_service: BlockService::Confirmed,
                ..(*plan).clone()
            })
        }
        _ => plan,
    };
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
        // The remainder goes point-to-point, confirmed, once it is small enough.
        let remainder = pass > 1 && todo.len() <= settings.point_to_point_below;
        let pass_plan = match plan.block_service {
            BlockService::Unconfirmed { .. } if remainder => {
                point_to_point_from.get_or_insert(pass);
                Arc::new(Plan {
                    block_service: BlockService::Confirmed,
                    ..(*plan).clone()
                })
            }
            _ => plan.clone(),
        };
        done.store(total - todo.len(), Ordering::Relaxed);
        failed.store(0, Ordering::Relaxed);
        let mut tasks = Vec::with_capacity(todo.len());
        for &i in &todo {
            let target = targets[i].clone();
            let plan = pass_plan.clone();
            let semaphore = semaphore.clone();
            let progress = progress.clone();
            let done = done.clone();
            let failed = failed.clone();
            let journal = journal.clone();
            let key = keys[i].clone();
            let from = reached[i];
            let confirm_only = settings.confirm_only;
            tasks.push(tokio::spawn(async move {
                let slot = semaphore.acquire_owned().await.expect("semaphore open");
                let mut driver = Driver::new(&target, &plan).holding(slot);
                if confirm_only {
                    driver = driver.confirming();
                } else if let Some(from) = from {
                    driver = driver.resuming(from);
                }
                if let Some(journal) = &journal {
                    let (journal, key) = (journal.clone(), key.clone());
                    driver = driver.on_phase(move |phase| journal.reached(&key, phase));
                }
                // Boxed: every meter's task is spawned at once, and a driver's future (some
                // 4 KiB) is only allocated once the meter has a slot.
                let report = Box::pin(driver.run()).await;
                if let Some(journal) = &journal {
                    journal.record(&Record::Outcome {
                        meter: key,
                        pass,
                        outcome: report.outcome.clone(),
                    });
                }
                let failed = if succeeded(&report.outcome) {
                    failed.load(Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed) + 1
                };
                progress(Progress {
                    pass,
                    done: done.fetch_add(1, Ordering::Relaxed) + 1,
                    total,
                    failed,
                    blocks_sent: report.blocks_sent,
                    upgraded: report.outcome.upgraded(),
                });
                (i, report)
            }));
        }
        for task in tasks {
            let (i, report) = task.await.expect("transfer task");
            // The next pass takes the meter up from the furthest phase it reached.
            reached[i] = report.phases.keys().copied().max().max(reached[i]);
            results[i] = Some(MeterResult::new(report, pass));
        }
        let failing: Vec<usize> = (0..total)
            .filter(|&i| {
                results[i]
                    .as_ref()
                    .is_some_and(|r| !succeeded(&r.report.outcome))
            })
            .collect();
        succeeded_after_pass.push(total - failing.len());
        snapshots.push(PassSnapshot {
            pass,
            count: failing.len(),
            meters: failing
                .iter()
                .take(BITMAPS_PER_PASS)
                .filter_map(|&i| results[i].as_ref())
                .map(|r| Bitmap {
                    meter: r.report.meter.clone(),
                    reason: r.report.outcome.to_string(),
                    bitmap: r.report.bitmap.clone(),
                })
                .collect(),
        });
    }
    let meters: Vec<MeterResult> = results
        .into_iter()
        .map(|r| r.expect("every meter ran"))
        .collect();
    let mut report = summarize(meters, passes, succeeded_after_pass, started.elapsed());
    report.incomplete_after_pass = snapshots;
    report.summary.point_to_point_from_pass = point_to_point_from;
    group::account(&mut report, group_reports);
    report
}
