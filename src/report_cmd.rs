//! `meterfleet report merge`: the reports of a sharded run (campaign, judge or conformance)
//! merged into one, the schema read from each file.

use harness::campaign::{html, junit, merge, CampaignReport};
use std::path::PathBuf;
use std::process::ExitCode;

/// `meterfleet report ...`
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Merge the reports of a run's shards: campaign reports into one campaign report (JSON,
    /// HTML, JUnit), judge reports into one judge report (JSON with JUnit and HTML beside it),
    /// conformance reports into one HTML page and one JUnit file.
    #[command(after_help = "Examples:
  meterfleet report merge shard-0.json shard-1.json shard-2.json --json campaign.json --html campaign.html
  meterfleet report merge judge-*.json --json judge.json
  meterfleet report merge conform-*.json --html conformance.html --junit conformance.xml")]
    Merge {
        /// The shards' reports, in shard order.
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// Write the merged report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the merged report as an HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Write the merged report as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
}

/// Runs the command.
pub fn run(command: ReportCommand) -> ExitCode {
    let ReportCommand::Merge {
        reports,
        json,
        html: page,
        junit: xml,
    } = command;
    crate::process::exit_status(merged(&reports, &Outputs { json, page, xml }).map(|()| true))
}

struct Outputs {
    json: Option<PathBuf>,
    page: Option<PathBuf>,
    xml: Option<PathBuf>,
}

fn merged(paths: &[PathBuf], out: &Outputs) -> Result<(), String> {
    let mut texts = Vec::new();
    let mut schema = None;
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let this = value["schema"].as_str().unwrap_or_default().to_string();
        match &schema {
            None => schema = Some(this),
            Some(first) if *first != this => {
                return Err(format!(
                    "{}: a report of schema {this:?} among reports of schema {first:?}",
                    path.display()
                ))
            }
            Some(_) => {}
        }
        texts.push((path, text));
    }
    match schema.as_deref().unwrap_or_default() {
        harness::campaign::SCHEMA => campaign(&texts, out),
        emulator::judge::SCHEMA => judge(&texts, out),
        harness::conform::verdict::SCHEMA => conformance(&texts, out),
        other => Err(format!(
            "{}: schema {other:?} is not a campaign, judge or conformance report",
            paths[0].display()
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(texts: &[(&PathBuf, String)]) -> Result<Vec<T>, String> {
    texts
        .iter()
        .map(|(path, text)| {
            serde_json::from_str(text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

fn campaign(texts: &[(&PathBuf, String)], out: &Outputs) -> Result<(), String> {
    let report: CampaignReport = merge::merge(parse(texts)?)?;
    if let Some(path) = &out.json {
        let text = serde_json::to_string_pretty(&report).expect("reports serialize");
        crate::process::write(path, &text)?;
    }
    if let Some(path) = &out.page {
        crate::process::write(path, &html::render(&report))?;
    }
    if let Some(path) = &out.xml {
        let xml = junit::render(&report).map_err(|e| format!("JUnit XML: {e}"))?;
        crate::process::write(path, &xml)?;
    }
    print!("{}", report.render());
    Ok(())
}

fn judge(texts: &[(&PathBuf, String)], out: &Outputs) -> Result<(), String> {
    let report = emulator::judge::Report::merge(parse(texts)?)?;
    if out.page.is_some() || out.xml.is_some() {
        return Err(
            "a judge report is written with --json FILE, its JUnit and HTML beside it".into(),
        );
    }
    if let Some(path) = &out.json {
        crate::judge_report::write(path, &report)?;
    }
    print!("{}", report.render());
    Ok(())
}

fn conformance(texts: &[(&PathBuf, String)], out: &Outputs) -> Result<(), String> {
    use harness::conform::report::{html, junit};
    let reports: Vec<harness::conform::RunReport> = parse(texts)?;
    if out.json.is_some() {
        return Err("a conformance report is one meter's: merged, they make one page (--html) and one JUnit file (--junit)".into());
    }
    if let Some(path) = &out.page {
        crate::process::write(path, &html::render(&reports))?;
    }
    if let Some(path) = &out.xml {
        let xml = junit::render(&reports, false).map_err(|e| format!("JUnit XML: {e}"))?;
        crate::process::write(path, &xml)?;
    }
    for r in &reports {
        println!(
            "{}: {} pass, {} fail, {} non-strict, {} info, {} skipped, {} error",
            r.target,
            r.summary.pass,
            r.summary.fail,
            r.summary.non_strict,
            r.summary.info,
            r.summary.skipped,
            r.summary.error
        );
    }
    Ok(())
}
