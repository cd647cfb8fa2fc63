//! JUnit XML (quick-junit): one test suite per target, one test case per case. Fails and
//! errors fail; non-stricts fail only under `--strict`; deviations in the baseline and
//! skipped cases are skipped, with the reason.

use crate::conform::verdict::{CaseResult, RunReport, Verdict};
use crate::session::Direction;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// The exchange lines a failure's body keeps (the last ones, nearest the verdict).
const BODY_EXCHANGE: usize = 20;

/// What a CI reader needs under a failure: the step, expected and observed, and the end of the
/// decoded exchange.
fn failure_body(c: &CaseResult) -> String {
    let mut body = String::new();
    if let Some(d) = &c.deviation {
        body.push_str(&format!(
            "step {} ({}, line {})\nexpected: {}\nobserved: {}\n",
            d.step + 1,
            d.action,
            d.line,
            d.expected,
            d.observed
        ));
    } else {
        body.push_str(&format!("{}\n", c.reason));
    }
    let tail = &c.exchange[c.exchange.len().saturating_sub(BODY_EXCHANGE)..];
    if !tail.is_empty() {
        body.push_str("\nexchange (the last lines):\n");
    }
    for e in tail {
        let arrow = match e.direction {
            Direction::Request => "->",
            Direction::Reply => "<-",
            Direction::Note => "--",
        };
        let first = e.decoded.lines().next().unwrap_or("");
        body.push_str(&format!("{:>8} ms {arrow} {} {}\n", e.at_ms, e.hex, first));
    }
    body
}

/// The XML document for `reports` (one suite each).
pub fn render(reports: &[RunReport], strict: bool) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("meterfleet conform");
    for report in reports {
        let mut suite = TestSuite::new(report.target.as_str());
        for c in &report.cases {
            let mut status = match (c.verdict, &c.baselined) {
                (_, Some(reason)) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("known deviation ({reason}): {}", c.reason));
                    s
                }
                (Verdict::Fail, None) => TestCaseStatus::non_success(NonSuccessKind::Failure),
                (Verdict::NonStrict, None) if strict => {
                    TestCaseStatus::non_success(NonSuccessKind::Failure)
                }
                (Verdict::Error, None) => TestCaseStatus::non_success(NonSuccessKind::Error),
                (Verdict::Skipped, None) => TestCaseStatus::skipped(),
                (Verdict::Pass | Verdict::Info | Verdict::NonStrict, None) => {
                    TestCaseStatus::success()
                }
            };
            if c.baselined.is_none() && c.verdict != Verdict::Pass {
                if let TestCaseStatus::NonSuccess { .. } | TestCaseStatus::Skipped { .. } = status {
                    status.set_message(c.reason.as_str());
                    status.set_type(c.verdict.name());
                }
                if let TestCaseStatus::NonSuccess { .. } = status {
                    status.set_description(failure_body(c));
                }
            }
            let mut case = TestCase::new(c.id.as_str(), status);
            case.set_classname(format!("{}.{}", report.target, c.subject));
            case.set_time(Duration::from_millis(c.duration_ms));
            if matches!(c.verdict, Verdict::Info | Verdict::NonStrict) {
                case.set_system_out(format!("{}: {}", c.verdict.name(), c.reason));
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}
