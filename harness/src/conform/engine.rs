//! The case engine: runs each case from a fresh association and a known state, step by step,
//! and turns the first broken expectation into a verdict at the case's level.

use super::case::{capabilities, Capability, Case, Level, Tier};
use super::case_transfer::Transfer;
use super::check::{check, Observed};
use super::value::{Var, Vars};
use super::verdict::{CaseResult, Deviation, RunReport, Summary, Verdict, SCHEMA};
use crate::session::{Session, TraceEntry};
use crate::target::MeterTarget;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The most exchange lines a result keeps (the last ones, nearest the verdict).
const EXCHANGE_KEPT: usize = 300;

/// Why a run could not start: the meter could not be talked to at all. No case gets a
/// verdict then; a verdict is about a meter that answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("could not talk to {target}: {error}")]
pub struct Unreachable {
    /// The target's name.
    pub target: String,
    /// What failed.
    pub error: crate::session::SessionError,
}

/// Connects and associates once as the main client before a run against a real meter, so that
/// a wrong port, a silent host or a peer that does not speak DLMS/COSEM ends the run with that
/// diagnosis instead of failing every case. An association the meter refuses is not this:
/// cases judge it.
pub async fn preflight(target: &MeterTarget) -> Result<(), Unreachable> {
    match Session::open(&target.main, false).await {
        Ok(session) => {
            session.close().await;
            Ok(())
        }
        Err(crate::session::SessionError::Association(
            dlms::association::AssociationError::Rejected { .. },
        )) => Ok(()),
        Err(error) => Err(Unreachable {
            target: target.main.name.clone(),
            error,
        }),
    }
}

/// How long a meter may take to answer again after a case that broke the run.
fn reconnect_deadline(target: &MeterTarget) -> Duration {
    target
        .main
        .deadlines
        .reconnect
        .unwrap_or(crate::transfer::DEFAULT_RECONNECT_DEADLINE)
}

/// Waits, retrying with backoff, until the meter answers a connection again (as
/// [`preflight`] checks) or `limit` passes; the last failure then.
async fn back_within(target: &MeterTarget, limit: Duration) -> Result<(), Unreachable> {
    let deadline = Instant::now() + limit;
    let mut backoff = Duration::from_millis(100);
    loop {
        match preflight(target).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() + backoff > deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// What a bench could not do (start a fresh meter, power-cycle it), as it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bench: {0}")]
pub struct BenchError(pub String);

/// What the bench around the meter can do; a real meter on a desk can do neither.
pub trait Bench: Send {
    /// Whether [`Bench::fresh`] puts the meter in its factory state.
    fn resets(&self) -> bool;
    /// Puts the meter in its initial state before a case; returns its new address if it moved.
    fn fresh(&mut self) -> Result<Option<SocketAddr>, BenchError>;
    /// Power-cycles the meter, if the bench can.
    fn power_cycle(&mut self) -> Result<(), BenchError>;
    /// Whether [`Bench::power_cycle`] works.
    fn can_power_cycle(&self) -> bool;
}

/// A meter with no bench: no reset between cases, no power control.
pub struct NoBench;

impl Bench for NoBench {
    fn resets(&self) -> bool {
        false
    }

    fn fresh(&mut self) -> Result<Option<SocketAddr>, BenchError> {
        Ok(None)
    }

    fn power_cycle(&mut self) -> Result<(), BenchError> {
        Err(BenchError("this target has no power control".into()))
    }

    fn can_power_cycle(&self) -> bool {
        false
    }
}

/// The reason a dry run gives a case it would run (the others give why they would not).
pub const WOULD_RUN: &str = "dry run: would run";

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The run's seed; each case's seed derives from it and the case id.
    pub seed: u64,
    /// The highest tier run against a target that is not emulated (an emulated one runs all).
    pub allow: Tier,
    /// List what would run, and why not, without connecting.
    pub dry_run: bool,
    /// The longest a case may take.
    pub case_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            allow: Tier::Read,
            dry_run: false,
            case_timeout: Duration::from_secs(300),
        }
    }
}

/// A case's seed: the run's seed mixed with the id (FNV-1a), so one case replays alone.
pub fn case_seed(run_seed: u64, id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325 ^ run_seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Why a case stopped before its last step.
pub(crate) enum Stop {
    /// The meter broke an expectation.
    Deviation(Deviation),
    /// The case does not apply to this meter.
    Skip(String),
    /// The run broke.
    Error(String),
}

/// One case in progress.
pub(crate) struct Run<'a> {
    pub target: MeterTarget,
    pub bench: &'a mut dyn Bench,
    pub session: Option<Session>,
    pub vars: Vars,
    pub transfer: Option<Transfer>,
    /// What the case wrote, for the teardown.
    pub changes: Vec<super::teardown::Change>,
    pub trace: Vec<TraceEntry>,
    pub seed: u64,
    pub started: Instant,
    /// How many times the meter dropped the connection under the case.
    pub connections_lost: u32,
}

impl Run<'_> {
    /// Moves the session's trace into the case's.
    pub fn collect_trace(&mut self) {
        if let Some(s) = &mut self.session {
            self.trace.append(&mut s.take_trace());
        }
    }

    /// Adds a line to the exchange that is not an APDU (frame probes, power cycles).
    pub fn note(&mut self, text: String) {
        self.trace.push(TraceEntry {
            at_ms: self.started.elapsed().as_millis() as u64,
            direction: crate::session::Direction::Note,
            hex: String::new(),
            decoded: text,
        });
    }

    /// Sets a variable.
    pub fn set_var(&mut self, name: &str, value: Var) {
        self.vars.insert(name.to_string(), value);
    }
}

fn missing_need(case: &Case, have: &BTreeSet<Capability>) -> Option<String> {
    let missing: Vec<&str> = case
        .needs
        .iter()
        .filter(|n| !have.contains(n))
        .map(|n| n.name())
        .collect();
    (!missing.is_empty()).then(|| format!("needs {} that the target lacks", missing.join(", ")))
}

/// Runs `cases` against `target` and reports each as it ends through `progress`.
pub async fn run(
    cases: &[Case],
    target: &MeterTarget,
    bench: &mut dyn Bench,
    options: &Options,
    mut progress: impl FnMut(&CaseResult),
) -> RunReport {
    let mut have = capabilities(target);
    if bench.can_power_cycle() {
        have.insert(Capability::PowerCycle);
    }
    if bench.resets() {
        have.insert(Capability::FreshMeter);
    }
    let mut report = RunReport {
        schema: SCHEMA.into(),
        target: target.main.name.clone(),
        address: target.main.address.to_string(),
        seed: options.seed,
        started_unix: crate::transfer::unix_seconds(std::time::SystemTime::now()) as u64,
        tool: format!("meterfleet {}", env!("CARGO_PKG_VERSION")),
        catalogue: catalogue_digest(cases),
        outcome: None,
        summary: Summary::default(),
        cases: Vec::new(),
        found: None,
        left: None,
        statement: target.statement.fields(),
    };
    // A bench that renews the meter for each case has no one state to report.
    if !options.dry_run && !bench.resets() {
        report.found = Some(meter_state(target).await);
    }
    let mut lost: Option<String> = None;
    for case in cases {
        let seed = case_seed(options.seed, &case.id);
        let skip = missing_need(case, &have).or_else(|| {
            (case.tier > options.allow && !target.emulated).then(|| {
                format!(
                    "changes the meter (tier {}): run with --allow {}",
                    case.tier.name(),
                    case.tier.name()
                )
            })
        });
        let result = match (skip, options.dry_run, &lost) {
            (Some(reason), _, _) => finished(case, seed, Verdict::Skipped, reason, None, 0),
            (None, true, _) => finished(case, seed, Verdict::Skipped, WOULD_RUN.into(), None, 0),
            (None, false, Some(lost)) => {
                finished(case, seed, Verdict::Error, lost.clone(), None, 0)
            }
            (None, false, None) => run_case(case, target, bench, seed, options.case_timeout).await,
        };
        // A case in error against a meter the bench does not renew may have lost the meter:
        // if it does not come back, the cases after it are not run.
        if lost.is_none() && result.verdict == Verdict::Error && !bench.resets() {
            if let Err(e) = back_within(target, reconnect_deadline(target)).await {
                lost = Some(format!(
                    "not run: the meter was lost during {} ({e})",
                    case.id
                ));
            }
        }
        progress(&result);
        report.cases.push(result);
    }
    if !bench.resets() && !options.dry_run && lost.is_none() {
        report.left = Some(meter_state(target).await);
    }
    report.recount();
    report
}

/// SHA-256 over the cases' own digests, in order, in hex.
fn catalogue_digest(cases: &[Case]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for case in cases {
        hasher.update(case.digest);
    }
    hex::encode(hasher.finalize())
}

/// What the meter holds: image_transfer_status and the active firmware identifier of the
/// target's part, as the main client reads them.
async fn meter_state(target: &MeterTarget) -> String {
    use dlms::cosem::image_transfer::{self as it, ImageTransferStatus};
    let mut session = match Session::open(&target.main, false).await {
        Ok(s) => s,
        Err(e) => return format!("unknown: {e}"),
    };
    let status = match session
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            it::attribute::IMAGE_TRANSFER_STATUS,
        )
        .await
    {
        Ok(Ok(value)) => match ImageTransferStatus::from_data(&value) {
            Some(s) => format!("image_transfer_status {} ({})", s.value(), s.name()),
            None => format!("image_transfer_status {}", super::value::show(&value)),
        },
        Ok(Err(dar)) => format!("image_transfer_status unreadable ({})", dar.name()),
        Err(e) => format!("image_transfer_status unreadable ({e})"),
    };
    let part = target.part.unwrap_or(1);
    let firmware = match session
        .get(
            dlms::cosem::class::DATA,
            dlms::cosem::active_firmware_identifier(part),
            2,
        )
        .await
    {
        Ok(Ok(value)) => format!("active firmware identifier {}", super::value::show(&value)),
        _ => "no readable active firmware identifier".to_string(),
    };
    session.close().await;
    format!("{status}, {firmware}")
}

fn finished(
    case: &Case,
    seed: u64,
    verdict: Verdict,
    reason: String,
    deviation: Option<Deviation>,
    duration_ms: u64,
) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        title: case.title.clone(),
        subject: case.subject.clone(),
        level: case.level,
        verdict,
        reason,
        requirement: case.requirement.clone(),
        source: case.source.clone(),
        deviation,
        observations: Vec::new(),
        baselined: None,
        seed,
        duration_ms,
        exchange: Vec::new(),
        teardown: Vec::new(),
        phases: Default::default(),
        statement: Default::default(),
    }
}

/// Runs one case: a fresh meter (when the bench can), then the steps.
pub async fn run_case(
    case: &Case,
    target: &MeterTarget,
    bench: &mut dyn Bench,
    seed: u64,
    timeout: Duration,
) -> CaseResult {
    let started = Instant::now();
    let mut target = target.clone();
    match bench.fresh() {
        Ok(Some(address)) => target.main.address = address.into(),
        Ok(None) => {}
        Err(e) => {
            return finished(
                case,
                seed,
                Verdict::Error,
                format!("preparing the meter: {e}"),
                None,
                0,
            )
        }
    }
    // Every number the statement declares is a variable of the case (`$largest_image`), and so
    // is the firmware part the images upgrade (`$part`).
    let mut vars: Vars = target
        .statement
        .options
        .iter()
        .filter_map(|(name, value)| {
            Some((name.clone(), Var::Num(value.as_integer()?.try_into().ok()?)))
        })
        .collect();
    vars.insert("part".into(), Var::Num(target.part.unwrap_or(1).into()));
    let mut run = Run {
        target,
        bench,
        session: None,
        vars,
        transfer: None,
        changes: Vec::new(),
        trace: Vec::new(),
        seed,
        started,
        connections_lost: 0,
    };
    let mut seen = Seen::default();
    let outcome = tokio::time::timeout(timeout, steps(case, &mut run, &mut seen)).await;
    // Put back what the case changed, whatever its verdict (bounded like the case).
    let teardown = tokio::time::timeout(timeout, run.teardown())
        .await
        .unwrap_or_else(|_| vec![format!("the teardown took longer than {timeout:?}")]);
    run.collect_trace();
    if let Some(session) = run.session.take() {
        session.close().await;
    }
    let stop = match outcome {
        Ok(stop) => stop,
        Err(_) => Some(Stop::Error(format!(
            "the case took longer than {timeout:?}"
        ))),
    };
    let (verdict, reason, deviation) = match stop {
        None if case.level == Level::Info => {
            let reason = if seen.observations.is_empty() {
                "recorded".to_string()
            } else {
                seen.observations.join("; ")
            };
            (Verdict::Info, reason, None)
        }
        None => (Verdict::Pass, "as required".to_string(), None),
        Some(Stop::Skip(reason)) => (Verdict::Skipped, reason, None),
        Some(Stop::Error(reason)) => (Verdict::Error, reason, None),
        Some(Stop::Deviation(d)) => (
            Verdict::for_deviation(case.level, d.against_statement),
            format!(
                "step {} ({}): expected {}, observed {}",
                d.step + 1,
                d.action,
                d.expected,
                d.observed
            ),
            Some(d),
        ),
    };
    let mut result = finished(
        case,
        seed,
        verdict,
        reason,
        deviation,
        started.elapsed().as_millis() as u64,
    );
    result.observations = seen.observations;
    result.statement = seen.statement;
    let left_changed: Vec<&String> = teardown
        .iter()
        .filter(|l| !l.starts_with("restored"))
        .collect();
    if !left_changed.is_empty() {
        let lines: Vec<&str> = left_changed.iter().map(|l| l.as_str()).collect();
        result.reason = format!("{} [left changed: {}]", result.reason, lines.join("; "));
    }
    result.teardown = teardown;
    result.phases = seen.phases;
    if !matches!(verdict, Verdict::Pass | Verdict::Skipped) {
        let keep = run.trace.len().saturating_sub(EXCHANGE_KEPT);
        result.exchange = run.trace.split_off(keep);
        if let Some(d) = &mut result.deviation {
            d.exchange_from = d.exchange_from.map(|i| i.saturating_sub(keep));
        }
    }
    result
}

/// What a case recorded on the way besides its verdict.
#[derive(Default)]
struct Seen {
    /// Notes for the report (info steps, undeclared options).
    observations: Vec<String>,
    /// Seconds spent in each upgrade phase.
    phases: std::collections::BTreeMap<String, f64>,
    /// The statement options the meter showed.
    statement: std::collections::BTreeMap<String, toml::Value>,
}

/// Runs the steps, recording what they saw in `seen`.
async fn steps(case: &Case, run: &mut Run<'_>, seen: &mut Seen) -> Option<Stop> {
    let mut recorded_unmet = false;
    for (i, step) in case.steps.iter().enumerate() {
        let began = Instant::now();
        run.collect_trace();
        let exchange_from = run.trace.len();
        let executed = run.execute(step).await;
        if let Some(phase) = step.action.phase() {
            *seen.phases.entry(phase.to_string()).or_default() += began.elapsed().as_secs_f64();
        }
        let observed: Observed = match executed {
            Ok(o) => o,
            // An info case that recorded an unmet expectation may have lost what later steps
            // need (no transfer after a refused initiate): it ends there, still info.
            Err(Stop::Error(e)) if recorded_unmet => {
                seen.observations
                    .push(format!("step {} not run: {e}", i + 1));
                return None;
            }
            Err(stop) => return Some(stop),
        };
        if let Some(note) = &step.note {
            seen.observations
                .push(format!("{note}: {}", observed.summary()));
        }
        let transfer = run.transfer.as_ref();
        let deviation = |expected: String, observed: String, against_statement: bool| Deviation {
            step: i,
            line: step.line,
            action: step.describe(),
            expected,
            observed,
            against_statement,
            exchange_from: Some(exchange_from),
        };
        match check(&step.expect, &step.action, &observed, &run.vars, transfer) {
            Ok(means) => {
                if let Some(option) = &step.declares {
                    let Some(value) = super::declared::shown(option, means, &observed) else {
                        return Some(Stop::Error(format!(
                            "step {} ({}): declares {option}, but {} shows nothing of it",
                            i + 1,
                            step.describe(),
                            observed.summary()
                        )));
                    };
                    seen.statement.insert(option.clone(), value.clone());
                    let statement = &run.target.statement;
                    if let Some(declared) =
                        super::declared::contradiction(statement, option, &value)
                    {
                        return Some(Stop::Deviation(deviation(
                            format!("{option} = {declared}, as the statement declares"),
                            format!("{option} = {value} ({})", observed.summary()),
                            true,
                        )));
                    }
                    if statement.declared(option).is_none() {
                        seen.observations.push(format!(
                            "{option} = {value} (not declared in the statement)"
                        ));
                    }
                }
            }
            Err(super::check::Mismatch::Deviation {
                expected,
                observed: seen_text,
            }) => {
                let d = deviation(expected, seen_text, false);
                // Access rights are the meter's configuration: a change refused to the client
                // the run associates as says nothing of the meter's conformance.
                let denied = matches!(
                    observed.result.as_deref(),
                    Some("read-write-denied" | "scope-of-access-violated")
                );
                if denied && step.action.tier() > Tier::Read {
                    return Some(Stop::Skip(format!(
                        "step {} ({}): {}: the client the run associates as may not make this change; run as one that may (a targets file's lls or hls, or --password)",
                        i + 1,
                        d.action,
                        d.observed
                    )));
                }
                if step.skip_if_unmet {
                    return Some(Stop::Skip(format!(
                        "step {} ({}): {} rather than {}, so the case does not apply",
                        i + 1,
                        d.action,
                        d.observed,
                        d.expected
                    )));
                }
                if case.level == Level::Info {
                    recorded_unmet = true;
                    seen.observations.push(format!(
                        "step {} ({}): {} rather than {}",
                        i + 1,
                        d.action,
                        d.observed,
                        d.expected
                    ));
                    continue;
                }
                return Some(Stop::Deviation(d));
            }
            Err(super::check::Mismatch::Error(e)) => {
                return Some(Stop::Error(format!(
                    "step {} ({}): {e}",
                    i + 1,
                    step.describe()
                )))
            }
        }
        if let (Some(name), None) = (&step.capture, &observed.value) {
            let seen = observed.summary();
            let harness_made = observed.link_failure.is_some()
                || observed
                    .result
                    .as_deref()
                    .is_some_and(|r| super::step::HARNESS_RESULTS.contains(&r));
            let why = format!("step {}: capture {name}: no value ({seen})", i + 1);
            return Some(if harness_made {
                Stop::Error(why)
            } else {
                Stop::Skip(format!("{why}, so the case cannot check what it needs"))
            });
        }
        if let (Some(name), Some(value)) = (&step.capture, &observed.value) {
            let var = match (value.as_u64(), value.as_bytes()) {
                (Some(n), _) => Var::Num(n),
                (_, Some(b)) => Var::Bytes(b.to_vec()),
                _ => {
                    return Some(Stop::Error(format!(
                        "step {}: capture {name}: {} is neither a number nor bytes",
                        i + 1,
                        super::value::show(value)
                    )))
                }
            };
            run.set_var(name, var);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_seeds_differ_by_id_and_run_seed() {
        assert_ne!(case_seed(1, "a"), case_seed(1, "b"));
        assert_ne!(case_seed(1, "a"), case_seed(2, "a"));
        assert_eq!(case_seed(7, "it-x"), case_seed(7, "it-x"));
    }
}
