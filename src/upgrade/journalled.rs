//! The journal's side of `meterfleet upgrade`: `--resume` and `--confirm` take the campaign
//! and its arguments from a journal; scheduled activations are waited for and confirmed.

use super::{print_field_reports, write_reports, UpgradeArgs, Work};
use harness::campaign::journal::{self, Journal};
use harness::campaign::{self, CampaignReport, CampaignSettings, Journalled};
use harness::target::{MeterTarget, Target};
use harness::transfer::{Activation, Outcome, Plan};
use std::sync::Arc;
use std::time::Duration;

/// The arguments and journal of `--resume FILE` (or `--confirm FILE`): the command the
/// journal was started with (report files and `--metrics` given now replace its), and where
/// its meters stood.
pub(super) fn reopen(
    args: UpgradeArgs,
    path: &std::path::Path,
) -> Result<(UpgradeArgs, Journal, journal::Header, journal::Standing), String> {
    let how = if args.confirm.is_some() {
        "--confirm"
    } else {
        "--resume"
    };
    if let Some(flag) = args.target.given().first() {
        return Err(format!(
            "{how} takes the target, image and settings from the journal: {flag} cannot go with it"
        ));
    }
    if args.image.is_some() || args.plan.is_some() {
        return Err(format!(
            "{how} takes the images from the journal: --image and --plan cannot go with it"
        ));
    }
    let confirm = args.confirm.clone();
    let (journal, header, standing) = Journal::resume(path)?;
    let mut again: UpgradeArgs = serde_json::from_value(header.command.clone())
        .map_err(|e| format!("{}:1: the command: {e}", path.display()))?;
    again.json = args.json.or(again.json);
    again.html = args.html.or(again.html);
    again.junit = args.junit.or(again.junit);
    again.metrics = args.metrics.or(again.metrics);
    match confirm {
        Some(_) => {
            again.confirm = confirm;
            println!(
                "confirming the scheduled activations the campaign journalled in {} ({} records) names",
                path.display(),
                standing.records
            );
        }
        None => {
            again.resume = Some(path.to_path_buf());
            println!(
                "resuming the campaign journalled in {} ({} records)",
                path.display(),
                standing.records
            );
        }
    }
    Ok((again, journal, header, standing))
}

/// The scheduled activations a journal names, per plan step (the scope its meters are
/// journalled under, "" for a campaign of one image): the meters verified and scheduled.
fn scheduled(
    work: &Work,
    meters: &[MeterTarget],
    standing: &journal::Standing,
) -> Vec<(String, Arc<Plan>, Vec<Target>)> {
    let scopes: Vec<(String, Arc<Plan>)> = match work {
        Work::Image(plan) => vec![(String::new(), Arc::new(plan.clone()))],
        Work::Plan(p) => p
            .steps
            .iter()
            .map(|s| (s.name.clone(), s.plan.clone()))
            .collect(),
    };
    scopes
        .into_iter()
        .filter(|(_, plan)| matches!(plan.activation, Activation::At(_)))
        .map(|(scope, plan)| {
            let targets = meters
                .iter()
                .filter(|m| {
                    let key = campaign::journal_key(&scope, &m.main.name);
                    standing.reached.get(&key) >= Some(&harness::transfer::Phase::Activate)
                        && matches!(
                            standing.ended.get(&key),
                            Some((_, Outcome::ReadyForActivation))
                        )
                })
                .map(|m| m.main.clone())
                .collect();
            (scope, plan, targets)
        })
        .collect()
}

/// `--confirm JOURNAL`: confirms the activations the journal's campaign scheduled.
pub(super) fn confirm_journalled(
    args: &UpgradeArgs,
    meters: Vec<MeterTarget>,
    work: &Work,
    journalled: &Journalled,
) -> Result<bool, String> {
    let runtime = crate::process::runtime()?;
    let mut reports = Vec::new();
    for (scope, plan, targets) in scheduled(work, &meters, &journalled.standing) {
        let Activation::At(at) = plan.activation else {
            continue;
        };
        wait_until(at);
        reports.push(runtime.block_on(confirmations(args, targets, plan, journalled, &scope)));
    }
    let Some(mut report) = reports.pop() else {
        println!("the journal names no scheduled activation to confirm");
        return Ok(true);
    };
    for earlier in reports {
        report = earlier.with_confirmations(report);
    }
    print!("{}", report.render());
    print_field_reports(&report);
    write_reports(args, &report)?;
    Ok(report.summary.failed == 0)
}

/// Sleeps until the scheduled time `at` (Unix seconds) has passed, saying so.
pub(super) fn wait_until(at: u64) {
    let now = harness::transfer::unix_seconds(std::time::SystemTime::now());
    let wait = at as f64 - now;
    if wait > 0.0 {
        println!(
            "waiting {wait:.0} s for the activation scheduled at {}",
            harness::rfc3339::format(at as f64)
        );
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

/// Confirms the activations of `targets` (scheduled by `plan`): nothing is sent but reads.
pub(super) async fn confirmations(
    args: &UpgradeArgs,
    targets: Vec<Target>,
    plan: Arc<Plan>,
    journalled: &Journalled,
    scope: &str,
) -> CampaignReport {
    let settings = CampaignSettings {
        concurrency: args.concurrency.unwrap_or(64),
        passes: 1,
        confirm_only: true,
        point_to_point_below: 0,
    };
    campaign::run_journalled(targets, plan, &settings, journalled, scope, |_| {}).await
}
