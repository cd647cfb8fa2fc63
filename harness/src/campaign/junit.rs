//! A campaign as JUnit XML (quick-junit), for CI: one test suite, one test case per meter, a
//! failure for each meter that did not end upgraded (or verified, when activation was not
//! asked for), with its step and reason, and for each meter the pre-scan left out (one
//! already on the target version passes).

use super::prescan::Verdict;
use super::report::{succeeded, CampaignReport};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// The XML document of `report`.
pub fn render(report: &CampaignReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("meterfleet upgrade");
    let mut suite = TestSuite::new("campaign");
    for m in &report.meters {
        let status = if succeeded(&m.report.outcome) {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(m.report.outcome.to_string());
            s
        };
        let mut case = TestCase::new(m.report.meter.as_str(), status);
        case.set_time(m.report.duration)
            .set_classname(format!("pass {}", m.pass));
        suite.add_test_case(case);
    }
    // The meters the pre-scan kept out of the campaign: already done, or left out (a failure).
    let scanned = report.prescan.iter().flat_map(|p| &p.meters);
    for m in scanned {
        let status = match &m.verdict {
            Verdict::Needs => continue,
            Verdict::OnTarget => TestCaseStatus::success(),
            Verdict::Unreachable(why) | Verdict::NotNormal(why) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("left out by the pre-scan: {why}"));
                s
            }
        };
        let mut case = TestCase::new(m.meter.as_str(), status);
        case.set_classname("pre-scan");
        suite.add_test_case(case);
    }
    suite.set_time(Duration::from_secs_f64(report.summary.duration_seconds));
    junit.add_test_suite(suite);
    junit.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Outcome, Report as MeterReport, Step};

    fn meter(name: &str, outcome: Outcome) -> MeterReport {
        MeterReport {
            meter: name.into(),
            version: "APP-2".into(),
            started_at: 0.0,
            outcome,
            blocks_needed: 1,
            blocks_sent: 1,
            passes: 1,
            retries: 0,
            reconnects: 0,
            phases: Default::default(),
            bitmap: None,
            duration: Duration::from_millis(1500),
            events: Vec::new(),
            trace: Vec::new(),
        }
    }

    #[test]
    fn each_meter_is_a_test_case_and_failures_carry_their_reason() {
        let mut report = CampaignReport::of_one(meter("ok", Outcome::ReadyForActivation));
        let failed = CampaignReport::of_one(meter(
            "bad",
            Outcome::Failed {
                step: Step::Verify,
                reason: "bad signature".into(),
            },
        ));
        report.meters.extend(failed.meters);
        let xml = render(&report).unwrap();
        assert!(
            xml.contains(r#"tests="2""#) && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(xml.contains("failed at verify: bad signature"), "{xml}");
    }
}
