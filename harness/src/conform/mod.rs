//! Conformance: cases as data (`cases/`), the engine that runs them against a meter, verdicts
//! graded by the level of each requirement, baselines of known deviations, and reports.

mod bench_hooks;
pub mod case;
mod case_transfer;
mod check;
mod declared;
pub mod engine;
mod group_steps;
pub mod matrix;
mod object_ref;
mod probe;
pub mod report;
mod step;
mod steps;
mod teardown;
mod transfer_steps;
mod value;
pub mod verdict;

pub use bench_hooks::CommandBench;
pub use case::{capabilities, embedded_catalogue, load_catalogue, Case, CaseError, Level, Tier};
pub use engine::{preflight, run, Bench, BenchError, NoBench, Options, Unreachable, WOULD_RUN};
pub use verdict::{Baseline, CaseResult, RunReport, Verdict};
