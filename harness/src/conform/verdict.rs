//! Verdicts, case results, the report of a run, and the baseline of known deviations.

use super::case::Level;
use crate::file_error::FileError;
use crate::session::TraceEntry;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The JSON report's schema name; bump the number on any incompatible change.
pub const SCHEMA: &str = "meterfleet-conformance-report/1";

/// A case's verdict (h2spec and Autobahn style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// A `must` was broken.
    Fail,
    /// A `should` was broken.
    NonStrict,
    /// Behaviour the standard leaves open, recorded.
    Info,
    /// Not applicable to this target, with the reason.
    Skipped,
    /// The run itself broke (no connection, an unexpected silence).
    Error,
}

impl Verdict {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NonStrict => "non-strict",
            Verdict::Info => "info",
            Verdict::Skipped => "skipped",
            Verdict::Error => "error",
        }
    }

    /// The verdict a broken expectation earns at `level` (a contradicted statement always
    /// fails).
    pub fn for_deviation(level: Level, against_statement: bool) -> Self {
        if against_statement {
            return Verdict::Fail;
        }
        match level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::NonStrict,
            Level::Info => Verdict::Info,
        }
    }

    /// Whether this is a deviation of the meter (fail or non-strict).
    pub fn is_deviation(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::NonStrict)
    }
}

/// An expectation the meter broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    /// The step (0-based) and its line in the case file.
    pub step: usize,
    /// The line.
    pub line: usize,
    /// What the step did.
    pub action: String,
    /// What the case expected.
    pub expected: String,
    /// What the meter did.
    pub observed: String,
    /// The meter contradicted its own implementation statement: a fail whatever the case's
    /// level.
    #[serde(default)]
    pub against_statement: bool,
    /// Where in the case's exchange the deviating step's requests begin.
    #[serde(default)]
    pub exchange_from: Option<usize>,
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// The case title.
    pub title: String,
    /// Its folder.
    pub subject: String,
    /// Its level.
    pub level: Level,
    /// The verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The requirement checked, quoted.
    pub requirement: String,
    /// Its source.
    pub source: String,
    /// The broken expectation, for fail, non-strict and some info verdicts.
    pub deviation: Option<Deviation>,
    /// What info steps recorded.
    pub observations: Vec<String>,
    /// The baseline's reason, when the deviation is a known one.
    pub baselined: Option<String>,
    /// The seed of the case's random choices (`--case ID --seed N` replays it).
    pub seed: u64,
    /// How long it ran.
    pub duration_ms: u64,
    /// The APDUs exchanged, decoded (kept for deviations and errors).
    pub exchange: Vec<TraceEntry>,
    /// What the teardown put back (or could not) of what the case changed.
    #[serde(default)]
    pub teardown: Vec<String>,
    /// Seconds spent in each phase of the upgrade the case ran (`transfer`, `verify`,
    /// `activate`).
    #[serde(default)]
    pub phases: std::collections::BTreeMap<String, f64>,
    /// The statement options the case observed, as the meter showed them.
    #[serde(default)]
    pub statement: std::collections::BTreeMap<String, toml::Value>,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Cases run or skipped.
    pub total: usize,
    /// pass
    pub pass: usize,
    /// fail
    pub fail: usize,
    /// non-strict
    pub non_strict: usize,
    /// info
    pub info: usize,
    /// skipped
    pub skipped: usize,
    /// error
    pub error: usize,
    /// Deviations the baseline lists.
    pub baselined: usize,
}

/// The results of one run against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// The target's name.
    pub target: String,
    /// The address.
    pub address: String,
    /// The run's seed.
    pub seed: u64,
    /// When the run started (Unix seconds).
    pub started_unix: u64,
    /// The tool and its version (`meterfleet 0.1.0`).
    #[serde(default)]
    pub tool: String,
    /// SHA-256 over the digests of the case files run, in order: which catalogue ran.
    #[serde(default)]
    pub catalogue: String,
    /// The overall verdict once the baseline is applied: `pass`, `fail` (a deviation the
    /// baseline does not list) or `incomplete` (a case in error it does not list).
    #[serde(default)]
    pub outcome: Option<String>,
    /// Counts.
    pub summary: Summary,
    /// One entry per case, in catalogue order.
    pub cases: Vec<CaseResult>,
    /// The state the run found the meter in: its image transfer status and active firmware
    /// identifier (not read on a dry run).
    #[serde(default)]
    pub found: Option<String>,
    /// The state the run left a meter in that no bench resets: its image transfer status and
    /// active firmware identifier.
    #[serde(default)]
    pub left: Option<String>,
    /// The implementation statement the cases followed, as the targets file declares it.
    #[serde(default)]
    pub statement: std::collections::BTreeMap<String, toml::Value>,
}

impl RunReport {
    /// What the cases observed of the statement's options, case by case, in catalogue order.
    pub fn observed_statement(&self) -> Vec<crate::target::statement::Observation> {
        self.cases
            .iter()
            .flat_map(|c| {
                c.statement
                    .iter()
                    .map(|(option, value)| crate::target::statement::Observation {
                        option: option.clone(),
                        value: value.clone(),
                        case: c.id.clone(),
                    })
            })
            .collect()
    }

    /// Recounts the summary from the cases.
    pub fn recount(&mut self) {
        let mut s = Summary {
            total: self.cases.len(),
            ..Summary::default()
        };
        for c in &self.cases {
            match c.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::NonStrict => s.non_strict += 1,
                Verdict::Info => s.info += 1,
                Verdict::Skipped => s.skipped += 1,
                Verdict::Error => s.error += 1,
            }
            if c.baselined.is_some() {
                s.baselined += 1;
            }
        }
        self.summary = s;
    }

    /// Sets the overall verdict from the cases (after the baseline is applied).
    pub fn judge(&mut self, strict: bool) {
        let outcome = if !self.errors().is_empty() {
            "incomplete"
        } else if !self.blocking(strict).is_empty() {
            "fail"
        } else {
            "pass"
        };
        self.outcome = Some(outcome.into());
    }

    /// The deviations that make the run fail: fails (and non-stricts under `strict`) that the
    /// baseline does not list.
    pub fn blocking(&self, strict: bool) -> Vec<&CaseResult> {
        self.unlisted(|v| v == Verdict::Fail || (strict && v == Verdict::NonStrict))
    }

    /// The cases that could not be judged (the run broke, not the meter) and that the baseline
    /// does not list: the run is incomplete.
    pub fn errors(&self) -> Vec<&CaseResult> {
        self.unlisted(|v| v == Verdict::Error)
    }

    fn unlisted(&self, wanted: impl Fn(Verdict) -> bool) -> Vec<&CaseResult> {
        self.cases
            .iter()
            .filter(|c| c.baselined.is_none() && wanted(c.verdict))
            .collect()
    }
}

/// Known deviations, each with the reason it is accepted (rustls' BoGo shim keeps such a list).
///
/// ```toml
/// [[deviation]]
/// case = "it-attr4-first-gap"
/// reason = "vendor firmware 1.2 sets attribute 4 to the last block + 1; fixed in 1.3"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The entries.
    #[serde(default)]
    pub deviation: Vec<BaselineEntry>,
}

/// One known deviation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// The case id.
    pub case: String,
    /// Why it is accepted.
    pub reason: String,
}

impl Baseline {
    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let text = FileError::read(path)?;
        let baseline: Baseline = crate::toml_file::parse(&text, &path.display().to_string())?;
        if let Some((i, _)) = baseline
            .deviation
            .iter()
            .enumerate()
            .find(|(_, d)| d.reason.trim().is_empty())
        {
            return Err(FileError::Invalid {
                origin: path.display().to_string(),
                line: None,
                field: Some(format!("deviation[{i}].reason")),
                message: "every known deviation needs a reason".into(),
            });
        }
        Ok(baseline)
    }

    /// Marks the results the baseline lists, and recounts.
    pub fn apply(&self, report: &mut RunReport) {
        for c in &mut report.cases {
            if c.verdict.is_deviation() || c.verdict == Verdict::Error {
                c.baselined = self
                    .deviation
                    .iter()
                    .find(|d| d.case == c.id)
                    .map(|d| d.reason.clone());
            }
        }
        report.recount();
    }

    /// Entries naming cases the catalogue does not have (stale baselines).
    pub fn unknown_cases<'a>(&'a self, ids: &[&str]) -> Vec<&'a str> {
        self.deviation
            .iter()
            .map(|d| d.case.as_str())
            .filter(|c| !ids.contains(c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: id.into(),
            title: String::new(),
            subject: "image".into(),
            level: Level::Must,
            verdict,
            reason: String::new(),
            requirement: String::new(),
            source: String::new(),
            deviation: None,
            observations: Vec::new(),
            baselined: None,
            seed: 0,
            duration_ms: 0,
            exchange: Vec::new(),
            teardown: Vec::new(),
            phases: Default::default(),
            statement: Default::default(),
        }
    }

    #[test]
    fn only_unlisted_fails_block_and_non_strict_only_when_strict() {
        let mut report = RunReport {
            schema: SCHEMA.into(),
            target: "t".into(),
            address: "a".into(),
            seed: 1,
            started_unix: 0,
            tool: String::new(),
            catalogue: String::new(),
            outcome: None,
            summary: Summary::default(),
            found: None,
            left: None,
            statement: Default::default(),
            cases: vec![
                result("a", Verdict::Fail),
                result("b", Verdict::Fail),
                result("c", Verdict::NonStrict),
                result("d", Verdict::Pass),
                result("e", Verdict::Error),
            ],
        };
        let baseline: Baseline =
            toml::from_str("[[deviation]]\ncase = \"a\"\nreason = \"known\"\n").unwrap();
        baseline.apply(&mut report);
        let ids = |strict| -> Vec<String> {
            report
                .blocking(strict)
                .iter()
                .map(|c| c.id.clone())
                .collect()
        };
        assert_eq!(ids(false), vec!["b"]);
        assert_eq!(ids(true), vec!["b", "c"]);
        assert_eq!(report.errors()[0].id, "e");
        assert_eq!(report.summary.fail, 2);
        assert_eq!(report.summary.baselined, 1);
        assert_eq!(baseline.unknown_cases(&["b"]), vec!["a"]);
    }
}
