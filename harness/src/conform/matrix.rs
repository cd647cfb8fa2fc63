//! The detection matrix: the catalogue run against emulated profiles, the conforming ones
//! (which must come out clean) and one per vendor deviation (which must be caught), and the
//! table of which cases caught each.

use super::verdict::{RunReport, Verdict};

/// One line of the matrix: the profile, its counts, and the cases that caught it.
pub struct MatrixLine {
    /// The profile.
    pub name: String,
    /// Whether it is a conforming profile.
    pub conforming: bool,
    /// Its run.
    pub report: RunReport,
}

impl MatrixLine {
    /// Whether this row came out as it must: clean when conforming, caught otherwise, and
    /// no errors either way.
    pub fn as_required(&self) -> bool {
        let s = &self.report.summary;
        let clean = s.fail == 0 && s.non_strict == 0;
        s.error == 0 && clean == self.conforming
    }
}

/// The cases with fail or non-strict verdicts in `line`, the most specific first: a case that
/// catches few profiles says more about this one than a case that many profiles break.
fn caught_by(line: &MatrixLine, lines: &[MatrixLine]) -> Vec<String> {
    let catches = |id: &str| {
        lines
            .iter()
            .filter(|l| {
                l.report
                    .cases
                    .iter()
                    .any(|c| c.id == id && c.verdict.is_deviation())
            })
            .count()
    };
    let mut caught: Vec<(usize, String)> = line
        .report
        .cases
        .iter()
        .filter(|c| c.verdict.is_deviation())
        .map(|c| (catches(&c.id), format!("{} ({})", c.id, c.verdict.name())))
        .collect();
    caught.sort();
    caught.into_iter().map(|(_, text)| text).collect()
}

/// The matrix as a table.
pub fn render_matrix(lines: &[MatrixLine]) -> String {
    let mut out = format!(
        "{:40} {:>4} {:>10} {:>5}  {}\n",
        "profile", "fail", "non-strict", "error", "caught by"
    );
    for line in lines {
        let s = &line.report.summary;
        let caught = caught_by(line, lines);
        let cell = match (line.conforming, caught.is_empty()) {
            (true, true) => "clean, as required".to_string(),
            (false, true) => "NOT CAUGHT".to_string(),
            (_, false) if caught.len() > 3 => {
                format!("{}, and {} more", caught[..3].join(", "), caught.len() - 3)
            }
            (_, false) => caught.join(", "),
        };
        out.push_str(&format!(
            "{:40} {:>4} {:>10} {:>5}  {}\n",
            line.name, s.fail, s.non_strict, s.error, cell
        ));
        for c in line
            .report
            .cases
            .iter()
            .filter(|c| c.verdict == Verdict::Error)
        {
            out.push_str(&format!("{:40} error in {}: {}\n", "", c.id, c.reason));
        }
    }
    out
}
