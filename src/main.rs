//! The `meterfleet` command line.

use clap::Parser;

mod bench;
mod cli;
mod decode;
mod demo;
mod emulate;
mod html_report;
mod image_cmd;
mod progress;
mod upgrade;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // METERFLEET_LOG overrides; by default a single emulated meter logs every request.
    let default = if args.logs_requests() {
        "info,emulator::net::serve=debug"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("METERFLEET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    cli::run(args)
}
