//! The detection matrix: the catalogue run against emulated profiles, and the table of what
//! each row gave. Two kinds of row: a meter the catalogue must find clean (the conforming
//! profile, and every variant the standard permits), and a meter with one quirk, which the
//! cases designed for it (`detects` in the case file) must each catch.

use super::verdict::{RunReport, Verdict};

/// What a row of the matrix must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// No fail, no non-strict: a conforming meter, or a legitimate variant of one.
    Clean,
    /// The quirk of this name, caught (fail or non-strict) by every case that `detects` it.
    Caught(String),
}

/// One line of the matrix: the profile, what it must give, and its run.
pub struct MatrixLine {
    /// The profile.
    pub name: String,
    /// What it must give.
    pub expectation: Expectation,
    /// Its run.
    pub report: RunReport,
    /// The cases designed to catch this row's quirk (none for a clean row).
    pub designated: Vec<String>,
}

impl MatrixLine {
    /// The designated cases that did not catch the quirk.
    pub fn missed(&self) -> Vec<&str> {
        self.designated
            .iter()
            .filter(|id| {
                !self
                    .report
                    .cases
                    .iter()
                    .any(|c| &c.id == *id && c.verdict.is_deviation())
            })
            .map(String::as_str)
            .collect()
    }

    /// Whether this row came out as it must, with no errors either way: clean, or caught by
    /// at least one designated case and missed by none.
    pub fn as_required(&self) -> bool {
        let s = &self.report.summary;
        s.error == 0
            && match self.expectation {
                Expectation::Clean => s.fail == 0 && s.non_strict == 0,
                Expectation::Caught(_) => !self.designated.is_empty() && self.missed().is_empty(),
            }
    }
}

/// The cases with fail or non-strict verdicts in `line`.
fn deviating(line: &MatrixLine) -> Vec<String> {
    line.report
        .cases
        .iter()
        .filter(|c| c.verdict.is_deviation())
        .map(|c| format!("{} ({})", c.id, c.verdict.name()))
        .collect()
}

/// What the last column says of a row.
fn verdict_cell(line: &MatrixLine) -> String {
    let deviating = deviating(line);
    match &line.expectation {
        Expectation::Clean if deviating.is_empty() => "clean, as required".into(),
        Expectation::Clean => format!("MUST BE CLEAN: {}", deviating.join(", ")),
        Expectation::Caught(_) if line.designated.is_empty() => {
            "NO CASE DETECTS IT (detects = [...] in a case)".into()
        }
        Expectation::Caught(_) => {
            let missed = line.missed();
            let caught: Vec<&str> = line
                .designated
                .iter()
                .map(String::as_str)
                .filter(|id| !missed.contains(id))
                .collect();
            let mut cell = format!("caught by {}", caught.join(", "));
            if caught.is_empty() {
                cell = "NOT CAUGHT".into();
            }
            if !missed.is_empty() {
                cell.push_str(&format!("; MISSED BY {}", missed.join(", ")));
            }
            let others = deviating.len().saturating_sub(caught.len());
            match others {
                0 => {}
                1 => cell.push_str(" (and 1 other case)"),
                n => cell.push_str(&format!(" (and {n} other cases)")),
            }
            cell
        }
    }
}

/// The matrix as a table: the clean rows, then the quirk rows.
pub fn render_matrix(lines: &[MatrixLine]) -> String {
    let mut out = format!(
        "{:52} {:>4} {:>10} {:>5}  {}\n",
        "profile", "fail", "non-strict", "error", "as required"
    );
    for line in lines {
        let s = &line.report.summary;
        out.push_str(&format!(
            "{:52} {:>4} {:>10} {:>5}  {}\n",
            line.name,
            s.fail,
            s.non_strict,
            s.error,
            verdict_cell(line)
        ));
        for c in line
            .report
            .cases
            .iter()
            .filter(|c| c.verdict == Verdict::Error)
        {
            out.push_str(&format!("{:52} error in {}: {}\n", "", c.id, c.reason));
        }
    }
    out
}
