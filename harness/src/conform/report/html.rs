//! The static HTML page: the verdict table grouped by subject with one column per target
//! (Autobahn|Testsuite style), and for every deviation the requirement, expected vs observed
//! and the decoded exchange.

use crate::conform::verdict::{CaseResult, RunReport, Verdict};
use crate::html::escape;
use std::fmt::Write;

/// The most exchange lines shown per deviation (the JSON report keeps more).
const EXCHANGE_LINES: usize = 80;

fn anchor(target: usize, id: &str) -> String {
    format!("t{target}-{id}")
}

fn verdict_cell(target: usize, c: &CaseResult) -> String {
    let label = match &c.baselined {
        Some(_) => format!("{} (baseline)", c.verdict.name()),
        None => c.verdict.name().to_string(),
    };
    let linked = c.verdict.is_deviation() || c.verdict == Verdict::Error;
    let text = if linked {
        format!("<a href=\"#{}\">{label}</a>", anchor(target, &c.id))
    } else {
        label
    };
    format!(
        "<td class=\"{}\" title=\"{}\">{text}</td>",
        c.verdict.name(),
        escape(&c.reason)
    )
}

fn deviation_section(out: &mut String, target: usize, report: &RunReport, c: &CaseResult) {
    let _ = write!(
        out,
        "<section id=\"{}\"><h3>{}: {} <span class=\"{}\">{}</span></h3>",
        anchor(target, &c.id),
        escape(&report.target),
        escape(&c.id),
        c.verdict.name(),
        c.verdict.name()
    );
    let _ = write!(
        out,
        "<p>{}</p><blockquote>{}<br><cite>{}</cite></blockquote>",
        escape(&c.title),
        escape(&c.requirement),
        escape(&c.source)
    );
    if let Some(reason) = &c.baselined {
        let _ = write!(
            out,
            "<p><b>Known deviation (baseline):</b> {}</p>",
            escape(reason)
        );
    }
    match &c.deviation {
        Some(d) => {
            let _ = write!(
                out,
                "<table><tr><th>step</th><td>{} ({}, line {})</td></tr><tr><th>expected</th><td>{}</td></tr><tr><th>observed</th><td>{}</td></tr></table>",
                d.step + 1,
                escape(&d.action),
                d.line,
                escape(&d.expected),
                escape(&d.observed)
            );
        }
        None => {
            let _ = write!(out, "<p>{}</p>", escape(&c.reason));
        }
    }
    let deviating_from = c.deviation.as_ref().and_then(|d| d.exchange_from);
    let _ = write!(out, "<p><b>Ran:</b> {:.3} s", c.duration_ms as f64 / 1000.0);
    if deviating_from.is_some() {
        out.push_str(" (the deviating step's exchange is highlighted below)");
    }
    out.push_str("</p>");
    if !c.phases.is_empty() {
        let phases: Vec<String> = c
            .phases
            .iter()
            .map(|(phase, s)| format!("{phase} {s:.2} s"))
            .collect();
        let _ = write!(out, "<p><b>Phases:</b> {}</p>", phases.join(", "));
    }
    if !c.teardown.is_empty() {
        let lines: Vec<String> = c.teardown.iter().map(|l| escape(l)).collect();
        let _ = write!(out, "<p><b>Teardown:</b> {}</p>", lines.join("; "));
    }
    let shown = c.exchange.len().min(EXCHANGE_LINES);
    let skipped = c.exchange.len() - shown;
    let _ = write!(
        out,
        "<details><summary>Decoded exchange ({} lines{})</summary><table class=\"trace\"><tr><th>ms</th><th>dir</th><th>decoded</th><th>hex</th></tr>",
        c.exchange.len(),
        if skipped > 0 {
            format!(", the last {shown} shown")
        } else {
            String::new()
        }
    );
    for (i, e) in c.exchange.iter().enumerate().skip(skipped) {
        let hex: String = e.hex.chars().take(96).collect();
        // The deviating step's requests and replies stand out.
        let class = match deviating_from {
            Some(from) if i >= from => " class=\"deviating\"",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr{class}><td>{}</td><td>{:?}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            e.at_ms,
            e.direction,
            escape(&e.decoded.chars().take(400).collect::<String>()),
            escape(&hex)
        );
    }
    out.push_str("</table></details></section>\n");
}

/// Whether a case gets its own section: a deviation or an error.
fn shown_in_detail(c: &CaseResult) -> bool {
    c.verdict.is_deviation() || c.verdict == Verdict::Error
}

/// A run's deviations and errors in two lists, the new ones and those its baseline knows, each
/// linked to its section: the page's deviations-only view.
fn index_of_deviations(out: &mut String, target: usize, report: &RunReport) {
    let link = |c: &&CaseResult| {
        format!(
            "<a href=\"#{}\">{}</a> ({})",
            anchor(target, &c.id),
            escape(&c.id),
            c.verdict.name()
        )
    };
    let (known, new): (Vec<&CaseResult>, Vec<&CaseResult>) = report
        .cases
        .iter()
        .filter(|c| shown_in_detail(c))
        .partition(|c| c.baselined.is_some());
    let list = |cases: &[&CaseResult]| {
        if cases.is_empty() {
            "none".to_string()
        } else {
            cases.iter().map(link).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(
        out,
        "<p><b>{}</b>: new: {}; known (in the baseline): {}</p>",
        escape(&report.target),
        list(&new),
        list(&known)
    );
}

/// The page for one or more runs (targets, or firmware versions) side by side.
pub fn render(reports: &[RunReport]) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>meterfleet conformance</title><style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.15rem .5rem;text-align:left;vertical-align:top}td.pass{background:#c8e6c9}td.fail{background:#ef9a9a}td.non-strict{background:#ffe082}td.info{background:#bbdefb}td.skipped{background:#eee;color:#666}td.error{background:#ce93d8}span.fail{color:#b71c1c}span.non-strict{color:#e65100}span.error{color:#6a1b9a}blockquote{color:#444;border-left:3px solid #ccc;margin:.5rem 0;padding-left:.8rem}table.trace td{font-size:.8rem}table.trace code{white-space:pre-wrap}tr.deviating td{background:#fff3cd}</style></head><body>\n<h1>DLMS/COSEM image transfer conformance</h1>\n");
    out.push_str("<table><tr><th>target</th><th>address</th><th>overall</th><th>tool, catalogue</th><th>started</th><th>seed</th><th>pass</th><th>fail</th><th>non-strict</th><th>info</th><th>skipped</th><th>error</th><th>in baseline</th></tr>");
    for r in reports {
        let s = &r.summary;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}, {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.target),
            escape(&r.address),
            escape(r.outcome.as_deref().unwrap_or("")),
            escape(&r.tool),
            escape(&r.catalogue[..r.catalogue.len().min(12)]),
            crate::rfc3339::format(r.started_unix as f64),
            r.seed,
            s.pass,
            s.fail,
            s.non_strict,
            s.info,
            s.skipped,
            s.error,
            s.baselined
        );
    }
    out.push_str("</table>\n");
    for r in reports {
        let _ = writeln!(
            out,
            "<p><b>{}</b>: found with {}; left with {}.<br>Statement: {}</p>",
            escape(&r.target),
            escape(r.found.as_deref().unwrap_or("(not read)")),
            escape(
                r.left
                    .as_deref()
                    .unwrap_or("(not read: the bench resets the meter)")
            ),
            escape(&super::console::statement_line(r))
        );
    }
    let Some(first) = reports.first() else {
        out.push_str("</body></html>\n");
        return out;
    };
    let mut subjects: Vec<&str> = first.cases.iter().map(|c| c.subject.as_str()).collect();
    subjects.dedup();
    for subject in subjects {
        let _ = write!(
            out,
            "<h2>{}</h2><table><tr><th>case</th><th>level</th><th>title</th>",
            escape(subject)
        );
        for r in reports {
            let _ = write!(out, "<th>{}</th>", escape(&r.target));
        }
        out.push_str("</tr>");
        for case in first.cases.iter().filter(|c| c.subject == subject) {
            let level = serde_json::to_value(case.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{level}</td><td>{}</td>",
                escape(&case.id),
                escape(&case.title)
            );
            for (t, r) in reports.iter().enumerate() {
                match r.cases.iter().find(|c| c.id == case.id) {
                    Some(c) => out.push_str(&verdict_cell(t, c)),
                    None => out.push_str("<td>not run</td>"),
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Deviations and errors</h2>\n");
    for (t, r) in reports.iter().enumerate() {
        index_of_deviations(&mut out, t, r);
    }
    for (t, r) in reports.iter().enumerate() {
        for c in r.cases.iter().filter(|c| shown_in_detail(c)) {
            deviation_section(&mut out, t, r, c);
        }
    }
    out.push_str("</body></html>\n");
    out
}
