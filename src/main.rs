//! The `meterfleet` command line.

use clap::Parser;

mod cli;
mod decode;
mod emulate;
mod image_cmd;
mod upgrade;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("METERFLEET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Cli::parse();
    cli::run(args)
}
