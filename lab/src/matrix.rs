//! The detection matrix's emulated side: every row of `conform_bench::matrix_rows` run
//! against a bench of fresh emulated meters, a few at a time.

use crate::conform_bench::{
    emulated_target, matrix_rows, meter_config, statement_of, EmulatedBench,
};
use harness::conform::matrix::{Expectation, MatrixLine};
use harness::conform::{run as run_cases, Case, Options};

/// The cases designed to catch a row's quirk.
fn designated(cases: &[Case], expectation: &Expectation) -> Vec<String> {
    let Expectation::Caught(quirk) = expectation else {
        return Vec::new();
    };
    cases
        .iter()
        .filter(|c| c.detects.contains(quirk))
        .map(|c| c.id.clone())
        .collect()
}

/// The `detects` entries of `cases` that name no quirk of the emulator, as `case: name`.
pub fn unknown_quirks(cases: &[Case]) -> Vec<String> {
    let known: Vec<String> = emulator::profile::Quirk::ALL
        .iter()
        .map(|q| q.name())
        .collect();
    cases
        .iter()
        .flat_map(|c| c.detects.iter().map(move |d| (c, d)))
        .filter(|(_, d)| !known.contains(d))
        .map(|(c, d)| format!("{}: {d}", c.id))
        .collect()
}

/// Runs every row of the matrix, a few at a time.
pub async fn run(cases: &[Case], options: &Options) -> Vec<MatrixLine> {
    let mut rows = Vec::new();
    let mut pending = tokio::task::JoinSet::new();
    for (i, row) in matrix_rows().into_iter().enumerate() {
        if pending.len() >= 4 {
            if let Some(done) = pending.join_next().await {
                rows.push(done.expect("a matrix row panicked"));
            }
        }
        let cases = cases.to_vec();
        let options = *options;
        pending.spawn(async move {
            let mut target = emulated_target(&row.name, row.transport);
            target.statement = statement_of(&row.profile);
            target.main.group = crate::scenario_campaign::group_access(&row.profile);
            let mut bench = EmulatedBench::new(meter_config(row.profile), row.transport);
            let report = run_cases(&cases, &target, &mut bench, &options, |_| {}).await;
            (
                i,
                MatrixLine {
                    designated: designated(&cases, &row.expectation),
                    name: row.name,
                    expectation: row.expectation,
                    report,
                },
            )
        });
    }
    while let Some(done) = pending.join_next().await {
        // A row that panicked is a bug of the harness or the emulator: never a row left out.
        rows.push(done.expect("a matrix row panicked"));
    }
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, line)| line).collect()
}
