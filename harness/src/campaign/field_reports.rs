//! The reports operators of the field read (the Landis+Gyr RF mesh upgrade guide's): the
//! command history, one row per command the campaign issued, and the firmware download
//! statistics, one row per image. Both come from each meter's phase times and outcome, so a
//! campaign over real meters has them as well as one over an emulated fleet.

use super::MeterResult;
use crate::transfer::{Outcome, Phase, Step};
use serde::Serialize;
use std::collections::BTreeMap;

/// The commands of a firmware upgrade, as the command history lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Initiate and send the blocks until the bit-string is complete.
    Download,
    /// image_verify, until status 3.
    Verify,
    /// image_activate (or the activation scheduled).
    Activate,
    /// The new identifier read back after the reboot.
    Confirm,
}

impl Command {
    /// Every command, in the order the campaign issues them.
    pub const ALL: [Command; 4] = [
        Command::Download,
        Command::Verify,
        Command::Activate,
        Command::Confirm,
    ];

    /// The command's name, as reports write it.
    pub const fn name(self) -> &'static str {
        match self {
            Command::Download => "download",
            Command::Verify => "verify",
            Command::Activate => "activate",
            Command::Confirm => "confirm",
        }
    }

    /// The phases whose times are when the command was issued and when it was answered.
    fn phases(self) -> (Phase, Phase) {
        match self {
            Command::Download => (Phase::Initiate, Phase::LastBlock),
            Command::Verify => (Phase::LastBlock, Phase::Verify),
            Command::Activate => (Phase::Verify, Phase::Activate),
            Command::Confirm => (Phase::Activate, Phase::Confirm),
        }
    }

    /// What became of the command on meter `m`: not sent (`None`), succeeded, or failed.
    fn on(self, m: &MeterResult) -> Option<bool> {
        let has = |p: Phase| m.report.phases.contains_key(&p);
        let failed_at = |steps: &[Step]| matches!(&m.report.outcome, Outcome::Failed { step, .. } if steps.contains(step));
        let verifying = [Step::Verify, Step::CheckInfo, Step::Activate, Step::Confirm];
        let (sent, succeeded) = match self {
            // All blocks in: the meter was asked to verify.
            Command::Download => (
                has(Phase::Initiate),
                has(Phase::Verify) || failed_at(&verifying),
            ),
            Command::Verify => (
                has(Phase::Verify) || failed_at(&verifying),
                has(Phase::Verify),
            ),
            Command::Activate => (
                has(Phase::Activate) || failed_at(&[Step::Activate]),
                has(Phase::Activate) && !failed_at(&[Step::Activate]),
            ),
            Command::Confirm => (
                has(Phase::Activate) || has(Phase::Confirm) || failed_at(&[Step::Confirm]),
                has(Phase::Confirm),
            ),
        };
        sent.then_some(succeeded)
    }
}

/// One row of the command history.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CommandRow {
    /// The image version the command was for.
    pub version: String,
    /// The command.
    pub command: Command,
    /// Meters the campaign expected.
    pub expected: usize,
    /// Meters it was sent to.
    pub total_attempted: usize,
    /// Meters where it succeeded.
    pub succeeded: usize,
    /// Meters where it failed.
    pub failed: usize,
    /// succeeded / expected, in percent.
    pub success_percent: f64,
    /// failed / expected, in percent.
    pub unsuccessful_percent: f64,
    /// When it was first issued (RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub command_issued: Option<f64>,
    /// When the latest meter answered it (RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub latest_response: Option<f64>,
}

/// The firmware download statistics of one image.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DownloadStats {
    /// The image version.
    pub version: String,
    /// The first block sent to any meter (RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub first_packet: Option<f64>,
    /// The last block sent to any meter (RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize_option",
        deserialize_with = "crate::rfc3339::deserialize_option"
    )]
    pub last_packet: Option<f64>,
    /// From the first to the last block, in seconds.
    pub duration_seconds: f64,
    /// Blocks sent, resends included.
    pub packets_sent: u64,
    /// Blocks the meters needed.
    pub packets_needed: u64,
}

/// The command history of `meters`, per image version and command.
pub fn command_history(meters: &[MeterResult]) -> Vec<CommandRow> {
    let mut rows = Vec::new();
    for (version, of_image) in by_version(meters) {
        let expected = of_image.len();
        for command in Command::ALL {
            let results: Vec<(&MeterResult, bool)> = of_image
                .iter()
                .filter_map(|m| command.on(m).map(|ok| (*m, ok)))
                .collect();
            if results.is_empty() && command != Command::Download {
                continue;
            }
            let succeeded = results.iter().filter(|(_, ok)| *ok).count();
            // Not succeeded: failed, since every meter's attempt has ended.
            let failed = results.len() - succeeded;
            let (sent, done) = command.phases();
            let at = |m: &MeterResult, p: Phase| m.report.phases.get(&p).copied();
            let percent = |n: usize| 100.0 * n as f64 / expected.max(1) as f64;
            rows.push(CommandRow {
                version: version.clone(),
                command,
                expected,
                total_attempted: results.len(),
                succeeded,
                failed,
                success_percent: percent(succeeded),
                unsuccessful_percent: percent(failed),
                command_issued: results
                    .iter()
                    .filter_map(|(m, _)| at(m, sent))
                    .reduce(f64::min),
                latest_response: results
                    .iter()
                    .filter_map(|(m, _)| at(m, done))
                    .reduce(f64::max),
            });
        }
    }
    rows
}

/// The download statistics of `meters`, per image version.
pub fn download_statistics(meters: &[MeterResult]) -> Vec<DownloadStats> {
    by_version(meters)
        .into_iter()
        .map(|(version, of_image)| {
            let first = of_image
                .iter()
                .filter_map(|m| m.report.first_block_at())
                .reduce(f64::min);
            let last = of_image
                .iter()
                .filter_map(|m| m.report.last_block_at())
                .reduce(f64::max);
            DownloadStats {
                version,
                first_packet: first,
                last_packet: last,
                duration_seconds: match (first, last) {
                    (Some(a), Some(b)) => b - a,
                    _ => 0.0,
                },
                packets_sent: of_image
                    .iter()
                    .map(|m| u64::from(m.report.blocks_sent))
                    .sum(),
                packets_needed: of_image
                    .iter()
                    .map(|m| u64::from(m.report.blocks_needed))
                    .sum(),
            }
        })
        .collect()
}

/// `meters` by the version their transfer brings, in order of first appearance.
fn by_version(meters: &[MeterResult]) -> Vec<(String, Vec<&MeterResult>)> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&MeterResult>> = BTreeMap::new();
    for m in meters {
        let v = m.report.version.clone();
        if !groups.contains_key(&v) {
            order.push(v.clone());
        }
        groups.entry(v).or_default().push(m);
    }
    order
        .into_iter()
        .map(|v| {
            let g = groups.remove(&v).unwrap_or_default();
            (v, g)
        })
        .collect()
}

/// The download statistics as the operator's table.
pub fn render_downloads(rows: &[DownloadStats]) -> String {
    let when = |t: Option<f64>| t.map_or("-".into(), crate::rfc3339::format);
    let mut out = format!(
        "{:<12} {:<24} {:<24} {:>10} {:>12} {:>14}\n",
        "version", "first packet", "last packet", "duration", "packets sent", "packets needed"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:<24} {:<24} {:>8.1} s {:>12} {:>14}\n",
            r.version,
            when(r.first_packet),
            when(r.last_packet),
            r.duration_seconds,
            r.packets_sent,
            r.packets_needed
        ));
    }
    out
}

/// The command history as the operator's table.
pub fn render_history(rows: &[CommandRow]) -> String {
    let when = |t: Option<f64>| t.map_or("-".into(), crate::rfc3339::format);
    let mut out = format!(
        "{:<12} {:<9} {:>8} {:>9} {:>9} {:>6} {:>8} {:>13}  {:<24} {}\n",
        "version",
        "command",
        "expected",
        "attempted",
        "succeeded",
        "failed",
        "success",
        "unsuccessful",
        "command issued",
        "latest response"
    );
    for r in rows {
        let command = r.command.name();
        out.push_str(&format!(
            "{:<12} {:<9} {:>8} {:>9} {:>9} {:>6} {:>7.1}% {:>12.1}%  {:<24} {}\n",
            r.version,
            command,
            r.expected,
            r.total_attempted,
            r.succeeded,
            r.failed,
            r.success_percent,
            r.unsuccessful_percent,
            when(r.command_issued),
            when(r.latest_response)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Evidence, Report};
    use std::time::Duration;

    fn meter(name: &str, phases: &[(Phase, f64)], outcome: Outcome, sent: u32) -> MeterResult {
        let mut report = Report::carried(name, b"APP-2", outcome);
        report.phases = phases.iter().copied().collect();
        report.blocks_sent = sent;
        report.blocks_needed = 10;
        report.duration = Duration::from_secs(1);
        MeterResult::new(report, 1)
    }

    #[test]
    fn the_history_counts_each_command_from_the_phases_and_the_failures() {
        use Phase::*;
        let upgraded = Outcome::Upgraded {
            evidence: Evidence::TransferStatusSix,
        };
        let failed = |step| Outcome::Failed {
            step,
            reason: "x".into(),
        };
        let meters = [
            meter(
                "a",
                &[
                    (Initiate, 10.0),
                    (FirstBlock, 11.0),
                    (LastBlock, 20.0),
                    (Verify, 21.0),
                    (Activate, 22.0),
                    (Confirm, 30.0),
                ],
                upgraded,
                10,
            ),
            meter(
                "b",
                &[(Initiate, 12.0), (FirstBlock, 12.5), (LastBlock, 25.0)],
                failed(Step::Verify),
                12,
            ),
            meter(
                "c",
                &[(Initiate, 13.0), (FirstBlock, 14.0), (LastBlock, 15.0)],
                failed(Step::Completeness),
                4,
            ),
            meter("d", &[], failed(Step::Connect), 0),
        ];
        let rows = command_history(&meters);
        let row = |c| rows.iter().find(|r| r.command == c).unwrap();
        let download = row(Command::Download);
        assert_eq!(
            (
                download.expected,
                download.total_attempted,
                download.succeeded,
                download.failed
            ),
            (4, 3, 2, 1)
        );
        assert_eq!(
            (download.command_issued, download.latest_response),
            (Some(10.0), Some(25.0))
        );
        let verify = row(Command::Verify);
        assert_eq!(
            (verify.total_attempted, verify.succeeded, verify.failed),
            (2, 1, 1)
        );
        assert_eq!(verify.success_percent, 25.0);
        assert_eq!(row(Command::Confirm).succeeded, 1);
        let stats = download_statistics(&meters);
        assert_eq!(stats.len(), 1);
        assert_eq!(
            (stats[0].first_packet, stats[0].last_packet),
            (Some(11.0), Some(25.0))
        );
        assert_eq!(
            (
                stats[0].packets_sent,
                stats[0].packets_needed,
                stats[0].duration_seconds
            ),
            (26, 40, 14.0)
        );
        assert!(render_history(&rows).contains("APP-2        download"));
    }
}
