//! The `meterfleet` command line.

use clap::Parser;
use std::io::IsTerminal;

mod bench;
mod campaign_metrics;
mod cli;
mod conform;
mod decode;
mod demo;
mod emulate;
mod image_cmd;
mod judge_report;
mod ports;
mod process;
mod progress;
mod report_cmd;
mod shard;
mod target_args;
mod upgrade;

/// mimalloc instead of the C library's allocator: a fleet and a campaign allocate and free a
/// few small buffers per request on every worker thread, which glibc's per-thread arenas serve
/// slower (docs/figures.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // RUST_LOG (or METERFLEET_LOG, its older name) overrides the command's default and -v.
    let filter = ["RUST_LOG", "METERFLEET_LOG"]
        .iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(args.default_log_filter()));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format() {
        cli::LogFormat::Json => logs.json().init(),
        cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    cli::run(args)
}
