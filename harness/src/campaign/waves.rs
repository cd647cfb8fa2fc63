//! Running a campaign plan: step by step, each over the meters of its cohorts that pass its
//! version gate and need its image (a pre-scan per step, since earlier steps change what
//! meters run), in waves (a canary first) with halt thresholds checked before the next wave.

use super::plan::{CampaignPlan, Step};
use super::prescan::{self, Prescan, Verdict};
use super::report::summarize;
use super::{run_journalled, CampaignReport, CampaignSettings, CampaignSummary, Journalled};
use super::{MeterResult, PassSnapshot, Progress};
use crate::target::Target;
use crate::transfer::{Outcome, Step as DriverStep};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A meter of a plan's campaign: how it is reached and the labels its cohorts select by.
#[derive(Debug, Clone)]
pub struct PlanTarget {
    /// How it is reached.
    pub target: Target,
    /// Its labels (the targets file's).
    pub labels: BTreeMap<String, String>,
}

/// What a plan's campaign did, step by step and wave by wave.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanReport {
    /// `completed`, or `halted`.
    pub verdict: String,
    /// Why it halted, and before what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    /// Each step run (or halted in).
    pub steps: Vec<StepReport>,
}

impl PlanReport {
    /// What each step and wave did, and the verdict, for a console.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let p = &s.prescan;
            out.push_str(&format!(
                "step {:?} ({} to {}, part {}): {} meters selected, {} need it, {} on it already, {} unreachable, {} not normal, {} outside its cohorts, {} held by its gate\n",
                s.name,
                s.image,
                s.version,
                s.part,
                s.labelled,
                p.expected,
                p.on_target,
                p.unreachable,
                p.not_normal,
                s.outside_cohorts.len(),
                s.gated.len()
            ));
            for w in &s.waves {
                out.push_str(&format!(
                    "  {}: {} of {} succeeded\n",
                    w.name, w.summary.succeeded, w.summary.expected
                ));
            }
        }
        match &self.halted {
            Some(why) => out.push_str(&format!("plan {why}\n")),
            None => out.push_str("plan completed\n"),
        }
        out
    }
}

/// One step of a plan's campaign.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepReport {
    /// The step.
    pub name: String,
    /// The image, as the plan names it.
    pub image: String,
    /// The firmware part and the version it brings.
    pub part: u8,
    /// The version.
    pub version: String,
    /// Meters whose labels one of its cohorts selects (all, with no cohorts).
    pub labelled: usize,
    /// What the step's pre-scan found on them.
    pub prescan: Prescan,
    /// Meters whose running versions no cohort of the step selects.
    pub outside_cohorts: Vec<String>,
    /// Meters that need the image but fail the step's version gate, with why.
    pub gated: Vec<(String, String)>,
    /// The waves, in order.
    pub waves: Vec<WaveReport>,
}

/// One wave of a step.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WaveReport {
    /// `canary`, `wave 2`, ...
    pub name: String,
    /// The statistics of its meters.
    pub summary: CampaignSummary,
    /// The meters still incomplete after each of its passes.
    pub incomplete_after_pass: Vec<PassSnapshot>,
}

/// Runs `plan` over `targets`, `concurrency` meters receiving blocks at once, writing the
/// journal of `journalled` as it goes; `progress` is told after each meter's attempt.
pub async fn run_plan(
    targets: &[PlanTarget],
    plan: &CampaignPlan,
    concurrency: usize,
    journalled: &Journalled,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> CampaignReport {
    let started = Instant::now();
    let settings = CampaignSettings {
        concurrency,
        passes: plan.passes,
        confirm_only: false,
        point_to_point_below: plan.remainder,
    };
    let mut meters: Vec<MeterResult> = Vec::new();
    let mut steps = Vec::new();
    let mut halted = None;
    let mut passes = 0;
    'steps: for (s, step) in plan.steps.iter().enumerate() {
        let labelled: Vec<&PlanTarget> = targets
            .iter()
            .filter(|t| {
                step.cohorts.is_empty() || step.cohorts.iter().any(|c| c.labelled(&t.labels))
            })
            .collect();
        let scanned: Vec<Target> = labelled.iter().map(|t| t.target.clone()).collect();
        let prescan = prescan::scan(&scanned, &step.plan, concurrency).await;
        let mut report = StepReport {
            name: step.name.clone(),
            image: step.image_name.clone(),
            part: step.plan.part,
            version: String::from_utf8_lossy(&step.plan.expected_version).into_owned(),
            labelled: labelled.len(),
            prescan: prescan.clone(),
            outside_cohorts: Vec::new(),
            gated: Vec::new(),
            waves: Vec::new(),
        };
        let expected = eligible(step, &labelled, &prescan, &mut report);
        if let Some(why) = unreachable_halt(plan, &prescan) {
            halted = Some(format!("halted before step {:?}: {why}", step.name));
            steps.push(report);
            break;
        }
        let waves = waves_of(plan, expected);
        for (w, wave) in waves.iter().enumerate() {
            let name = if w == 0 && plan.canary.is_some() {
                "canary".to_string()
            } else {
                format!("wave {}", w + 1)
            };
            let progress = progress.clone();
            let wave_report = run_journalled(
                wave.clone(),
                step.plan.clone(),
                &settings,
                journalled,
                &step.name,
                move |p| progress(p),
            )
            .await;
            passes = passes.max(wave_report.summary.passes);
            let why = wave_halt(plan, &wave_report.meters);
            for mut m in wave_report.meters {
                m.step = Some(step.name.clone());
                m.wave = Some(name.clone());
                meters.push(m);
            }
            report.waves.push(WaveReport {
                name: name.clone(),
                summary: wave_report.summary,
                incomplete_after_pass: wave_report.incomplete_after_pass,
            });
            if let Some(why) = why {
                let next = match (waves.get(w + 1), plan.steps.get(s + 1)) {
                    (Some(_), _) => format!("wave {} of step {:?}", w + 2, step.name),
                    (None, Some(next)) => format!("step {:?}", next.name),
                    (None, None) => "the end of the plan".into(),
                };
                halted = Some(format!(
                    "halted after the {name} of step {:?}, before {next}: {why}",
                    step.name
                ));
                steps.push(report);
                break 'steps;
            }
        }
        steps.push(report);
    }
    // Each wave counts its own passes: the plan report has them, wave by wave.
    let mut campaign = summarize(meters, passes, Vec::new(), started.elapsed());
    campaign.plan = Some(PlanReport {
        verdict: if halted.is_some() {
            "halted"
        } else {
            "completed"
        }
        .into(),
        halted,
        steps,
    });
    campaign
}

/// The step's expected meters, in target order: its cohorts' running versions, the pre-scan's
/// verdict, and its gate; the others go to `report`.
fn eligible(
    step: &Step,
    labelled: &[&PlanTarget],
    prescan: &Prescan,
    report: &mut StepReport,
) -> Vec<Target> {
    let mut expected = Vec::new();
    for (t, scan) in labelled.iter().zip(&prescan.meters) {
        if scan.verdict != Verdict::Needs {
            continue;
        }
        let selected = step.cohorts.is_empty()
            || step
                .cohorts
                .iter()
                .any(|c| c.selects(&t.labels, &scan.versions));
        if !selected {
            report.outside_cohorts.push(scan.meter.clone());
        } else if let Some(why) = step.gate_refuses(&scan.versions) {
            report.gated.push((scan.meter.clone(), why));
        } else {
            expected.push(t.target.clone());
        }
    }
    expected
}

/// The waves of a step: the canary, then the rest in waves of the plan's size (or at once).
fn waves_of(plan: &CampaignPlan, mut expected: Vec<Target>) -> Vec<Vec<Target>> {
    let mut waves = Vec::new();
    if expected.is_empty() {
        return waves;
    }
    if let Some(canary) = plan.canary {
        let rest = expected.split_off(canary.of(expected.len()));
        waves.push(std::mem::replace(&mut expected, rest));
    }
    let size = plan.wave_size.unwrap_or(usize::MAX);
    while !expected.is_empty() {
        let rest = expected.split_off(size.min(expected.len()));
        waves.push(std::mem::replace(&mut expected, rest));
    }
    waves
}

/// The threshold a wave's results cross, if any.
fn wave_halt(plan: &CampaignPlan, meters: &[MeterResult]) -> Option<String> {
    let failed = meters
        .iter()
        .filter(|m| matches!(m.report.outcome, Outcome::Failed { .. }))
        .count();
    let rejected = meters
        .iter()
        .filter(|m| {
            matches!(
                m.report.outcome,
                Outcome::Failed {
                    step: DriverStep::Verify,
                    ..
                }
            )
        })
        .count();
    let rate = 100.0 * failed as f64 / meters.len().max(1) as f64;
    if let Some(limit) = plan.halt.failure_percent.filter(|l| rate > *l) {
        return Some(format!(
            "{failed} of {} meters failed ({rate:.1} %, over the {limit} % threshold)",
            meters.len()
        ));
    }
    if let Some(limit) = plan.halt.verification_failures.filter(|l| rejected >= *l) {
        return Some(format!(
            "{rejected} meters rejected the image at verification (the threshold is {limit})"
        ));
    }
    None
}

/// The unreachable share of a step's pre-scan, when it crosses the plan's threshold.
fn unreachable_halt(plan: &CampaignPlan, prescan: &Prescan) -> Option<String> {
    let share = 100.0 * prescan.unreachable as f64 / prescan.targets.max(1) as f64;
    plan.halt
        .unreachable_percent
        .filter(|l| share > *l)
        .map(|limit| {
            format!(
                "{} of {} meters unreachable at the pre-scan ({share:.1} %, over the {limit} % threshold)",
                prescan.unreachable, prescan.targets
            )
        })
}
