//! The detection matrix's emulated side: every row of `conform_bench::matrix_rows` run
//! against a bench of fresh emulated meters, a few at a time.

use crate::conform_bench::{emulated_target, matrix_rows, meter_config, EmulatedBench};
use harness::conform::matrix::MatrixLine;
use harness::conform::{run as run_cases, Case, Options};

/// Runs every row of the matrix, a few at a time.
pub async fn run(cases: &[Case], options: &Options) -> Vec<MatrixLine> {
    let mut rows = Vec::new();
    let mut pending = tokio::task::JoinSet::new();
    for (i, row) in matrix_rows().into_iter().enumerate() {
        if pending.len() >= 4 {
            if let Some(Ok(done)) = pending.join_next().await {
                rows.push(done);
            }
        }
        let cases = cases.to_vec();
        let options = *options;
        pending.spawn(async move {
            let target = emulated_target(&row.name, row.transport);
            let mut bench = EmulatedBench::new(meter_config(row.profile), row.transport);
            let report = run_cases(&cases, &target, &mut bench, &options, |_| {}).await;
            (
                i,
                MatrixLine {
                    name: row.name,
                    conforming: row.conforming,
                    report,
                },
            )
        });
    }
    while let Some(done) = pending.join_next().await {
        if let Ok(done) = done {
            rows.push(done);
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, line)| line).collect()
}
