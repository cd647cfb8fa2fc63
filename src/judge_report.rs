//! The judge's report on a head-end as files: JSON (schema `meterfleet-judge/1`), JUnit XML
//! (one test case per rule: a broken must fails, a broken should fails too, marked non-strict)
//! and an HTML page.

use emulator::judge::{Report, RuleVerdict};
use harness::html::escape;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;

/// What a rule's failure body says: its requirement, source and first occurrences.
fn body(r: &RuleVerdict) -> String {
    let mut out = format!(
        "{}\nsource: {}\n{} times on {} meters\n",
        r.rule.requirement,
        r.rule.source,
        r.count,
        r.meters.len()
    );
    for (meter, o) in &r.first {
        out.push_str(&format!("{meter}: {}\n", o.what));
    }
    out
}

/// JUnit XML: one suite, one test case per rule.
pub fn junit(report: &Report) -> Result<String, String> {
    let mut suite = TestSuite::new("meterfleet judge");
    for r in &report.rules {
        let status = if r.count == 0 {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{}: {}", r.verdict, r.rule.title));
            s.set_description(body(r));
            s
        };
        suite.add_test_case(TestCase::new(r.rule.id.clone(), status));
    }
    let mut junit = quick_junit::Report::new("meterfleet judge");
    junit.add_test_suite(suite);
    junit.to_string().map_err(|e| format!("JUnit XML: {e}"))
}

/// The HTML page: every rule with its verdict, and the occurrences of those broken.
pub fn html(report: &Report) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>meterfleet judge</title><style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.15rem .5rem;text-align:left;vertical-align:top}td.pass{background:#c8e6c9}td.fail{background:#ef9a9a}td.non-strict{background:#ffe082}</style></head><body>\n<h1>What the head-end did wrong</h1>\n",
    );
    out.push_str(&format!(
        "<p>{} meters judged the head-end by {} rules; {} broken.</p>\n<table><tr><th>rule</th><th>level</th><th>verdict</th><th>times</th><th>meters</th><th>requirement and source</th><th>first occurrences</th></tr>\n",
        report.meters,
        report.rules.len(),
        report.broken().len()
    ));
    for r in &report.rules {
        let level = serde_json::to_value(r.rule.level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let first: Vec<String> = r
            .first
            .iter()
            .map(|(m, o)| format!("{}: {}", escape(m), escape(&o.what)))
            .collect();
        out.push_str(&format!(
            "<tr><td>{}<br><small>{}</small></td><td>{level}</td><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td></tr>\n",
            escape(&r.rule.id),
            escape(&r.rule.title),
            r.count,
            r.meters.len(),
            escape(&r.rule.requirement),
            escape(&r.rule.source),
            first.join("<br>"),
            v = escape(&r.verdict),
        ));
    }
    out.push_str("</table></body></html>\n");
    out
}

/// Writes the report to `path` (JSON) and beside it with the extensions `xml` (JUnit) and
/// `html`.
pub fn write(path: &Path, report: &Report) -> Result<(), String> {
    let json = serde_json::to_string_pretty(report).expect("reports serialize");
    crate::process::write(path, &json)?;
    crate::process::write(&path.with_extension("xml"), &junit(report)?)?;
    crate::process::write(&path.with_extension("html"), &html(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use emulator::judge::Judge;

    #[test]
    fn a_clean_verdict_passes_every_rule_in_each_format() {
        let judge = Judge::default();
        let report = Report::of([("m-1", &judge)]);
        let xml = junit(&report).unwrap();
        assert_eq!(xml.matches("<testcase ").count(), report.rules.len());
        assert!(!xml.contains("<failure"), "{xml}");
        let page = html(&report);
        let line = format!(
            "1 meters judged the head-end by {} rules; 0 broken",
            report.rules.len()
        );
        assert!(page.contains(&line), "{page}");
    }
}
