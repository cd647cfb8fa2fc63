//! The JSON report: the [`RunReport`] as it is, schema `meterfleet-conformance-report/1`
//! (documented in `cases/README.md`).

use crate::conform::verdict::RunReport;

/// The report as pretty JSON.
pub fn render(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

/// Reads a report written by [`render`] (to show earlier runs side by side).
pub fn parse(text: &str, origin: &str) -> Result<RunReport, String> {
    let report: RunReport = serde_json::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    if report.schema != crate::conform::verdict::SCHEMA {
        return Err(format!(
            "{origin}: schema `{}`, expected `{}`",
            report.schema,
            crate::conform::verdict::SCHEMA
        ));
    }
    Ok(report)
}
