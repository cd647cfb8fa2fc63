//! The console table: case, level, verdict and a one-line reason.

use crate::conform::verdict::RunReport;

/// The width of the case column: the longest id, at least the header's.
fn id_width(report: &RunReport) -> usize {
    report
        .cases
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(4)
        .max(4)
}

/// The statement as one line: `name = value` pairs, or that none was declared.
pub fn statement_line(report: &RunReport) -> String {
    if report.statement.is_empty() {
        return "none declared (every open option is recorded as info)".into();
    }
    report
        .statement
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table and a summary line.
pub fn render(report: &RunReport) -> String {
    let id_width = id_width(report);
    let mut out = String::new();
    if let Some(found) = &report.found {
        out.push_str(&format!("{}: found with {found}\n", report.target));
    }
    out.push_str(&format!("statement: {}\n\n", statement_line(report)));
    out.push_str(&format!(
        "{:id_width$}  {:6}  {:10}  reason\n",
        "case", "level", "verdict"
    ));
    for c in &report.cases {
        let level = serde_json::to_value(c.level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut reason = c.reason.clone();
        if let Some(b) = &c.baselined {
            reason = format!("[baseline: {b}] {reason}");
        }
        out.push_str(&format!(
            "{:id_width$}  {:6}  {:10}  {}\n",
            c.id,
            level,
            c.verdict.name(),
            one_line(&reason, 160)
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\n{}: {} cases: {} pass, {} fail, {} non-strict, {} info, {} skipped, {} error ({} deviations in the baseline)\n",
        report.target, s.total, s.pass, s.fail, s.non_strict, s.info, s.skipped, s.error, s.baselined
    ));
    if let Some(outcome) = &report.outcome {
        let short = &report.catalogue[..report.catalogue.len().min(12)];
        out.push_str(&format!(
            "overall: {outcome} ({}, catalogue {short}, seed {})\n",
            report.tool, report.seed
        ));
    }
    if let Some(left) = &report.left {
        out.push_str(&format!("the meter was left with {left}\n"));
    }
    out
}

/// A dry run's plan: each case with its tier and whether it would run, or why not.
pub fn render_plan(report: &RunReport, tiers: &[(String, &'static str)]) -> String {
    let width = id_width(report);
    let mut out = format!("{:width$}  {:8}  plan\n", "case", "tier");
    let mut would_run = 0;
    for c in &report.cases {
        let tier = tiers
            .iter()
            .find(|(id, _)| *id == c.id)
            .map_or("", |(_, t)| *t);
        let plan = if c.reason == crate::conform::WOULD_RUN {
            would_run += 1;
            "would run".to_string()
        } else {
            format!("would skip: {}", one_line(&c.reason, 140))
        };
        out.push_str(&format!("{:width$}  {:8}  {plan}\n", c.id, tier));
    }
    out.push_str(&format!(
        "\n{}: {} cases: {would_run} would run, {} would be skipped (dry run: nothing was sent)\n",
        report.target,
        report.cases.len(),
        report.cases.len() - would_run
    ));
    out
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
