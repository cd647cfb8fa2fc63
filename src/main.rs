//! The `meterfleet` command line.

use clap::Parser;

mod bench;
mod cli;
mod conform;
mod decode;
mod demo;
mod emulate;
mod image_cmd;
mod process;
mod progress;
mod target_args;
mod upgrade;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // METERFLEET_LOG overrides the command's default.
    let default = args.default_log_filter();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("METERFLEET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    cli::run(args)
}
