//! Command-line arguments and their dispatch.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Emulated DLMS/COSEM meter fleets and a conformance harness for firmware image transfer.
#[derive(Debug, Parser)]
#[command(name = "meterfleet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode a hex-encoded APDU or frame and print what it holds.
    Decode(crate::decode::DecodeArgs),
    /// Start the default fleet in-process and upgrade it: the operator's report, report.json
    /// and report.html.
    Demo(crate::demo::DemoArgs),
    /// Upgrade one meter, or a fleet from a targets file, as a head-end would.
    Upgrade(crate::upgrade::UpgradeArgs),
    /// Run the conformance cases against a meter, or the detection matrix.
    Conform(crate::conform::ConformArgs),
    /// Run one emulated meter on a TCP port until interrupted.
    Emulate(crate::emulate::EmulateArgs),
    /// Measure: fleet memory per meter and a campaign's block throughput.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Make keys, build signed firmware images, inspect and corrupt them.
    #[command(subcommand)]
    Image(crate::image_cmd::ImageCommand),
}

impl Cli {
    /// The log filter when METERFLEET_LOG is not set: a single emulated meter logs every
    /// request (a fleet does not: formatting each request cost a third of its throughput);
    /// the conformance matrix keeps its meters' complaints about bad frames quiet, since
    /// provoking them is the point.
    pub fn default_log_filter(&self) -> &'static str {
        match &self.command {
            Command::Emulate(args) if !args.is_fleet() => "info,emulator::net::serve=debug",
            Command::Conform(_) => "info,emulator=error",
            _ => "info",
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Decode(args) => crate::decode::run(args),
        Command::Image(command) => crate::image_cmd::run(command),
        Command::Emulate(args) => crate::emulate::run(args),
        Command::Conform(args) => crate::conform::run_command(args),
        Command::Upgrade(args) => crate::upgrade::run(args),
        Command::Demo(args) => crate::demo::run(args),
        Command::Bench(command) => crate::bench::run(command),
    }
}
