//! The JSON report: the [`RunReport`] as it is, schema `meterfleet-conformance-report/1`
//! (documented in `cases/README.md`).

use crate::conform::verdict::RunReport;
use crate::file_error::FileError;

/// The report as pretty JSON.
pub fn render(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

/// Reads a report written by [`render`] (to show earlier runs side by side).
pub fn parse(text: &str, origin: &str) -> Result<RunReport, FileError> {
    let invalid = |message: String| FileError::Invalid {
        origin: origin.to_owned(),
        line: None,
        field: None,
        message,
    };
    let report: RunReport = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if report.schema != crate::conform::verdict::SCHEMA {
        return Err(invalid(format!(
            "schema `{}`, expected `{}`",
            report.schema,
            crate::conform::verdict::SCHEMA
        )));
    }
    Ok(report)
}
