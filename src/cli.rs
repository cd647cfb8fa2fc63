//! Command-line arguments and their dispatch.

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Emulated DLMS/COSEM meter fleets and a conformance harness for firmware image transfer.
#[derive(Debug, Parser)]
#[command(name = "meterfleet", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log: -v logs every request a meter or the harness handles, -vv everything.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// How log lines are written on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

const EXAMPLES: &str = "Examples:
  meterfleet demo
  meterfleet conform --target tcp://127.0.0.1:4059
  meterfleet upgrade --target fleet.toml --image fw.img --json campaign.json
  meterfleet decode C0 01 C1 00 12 00 00 2C 00 00 FF 06 00
  RUST_LOG=harness=debug meterfleet upgrade --target tcp://127.0.0.1:4059 --image fw.img";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain text, coloured only on a terminal.
    Text,
    /// One JSON object per line.
    Json,
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
    /// Run one emulated meter, or a scenario's fleet, until interrupted.
    Emulate(crate::emulate::EmulateArgs),
    /// Measure: fleet memory per meter and a campaign's block throughput.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Make keys, build signed firmware images, inspect and corrupt them.
    #[command(subcommand)]
    Image(crate::image_cmd::ImageCommand),
    /// List the serial ports this machine has (for serial:// and optical:// targets).
    Ports(crate::ports::PortsArgs),
    /// Merge the reports of a sharded run.
    #[command(subcommand)]
    Report(crate::report_cmd::ReportCommand),
    /// Print a completion script for a shell.
    #[command(
        after_help = "Examples:\n  meterfleet completions bash > /etc/bash_completion.d/meterfleet\n  meterfleet completions zsh > ~/.zfunc/_meterfleet"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    #[command(after_help = "Examples:\n  meterfleet manpage > meterfleet.1 && man ./meterfleet.1")]
    Manpage,
}

impl Cli {
    /// The log filter when RUST_LOG is not set: warnings and the commands' own information,
    /// every request with -v (formatting each one costs a fleet a third of its throughput, so
    /// it is never the default), everything with -vv. The conformance matrix keeps its meters'
    /// complaints about bad frames quiet, since provoking them is the point.
    pub fn default_log_filter(&self) -> &'static str {
        match (self.verbose, &self.command) {
            (0, Command::Conform(_)) => "info,emulator=error",
            (0, _) => "info",
            (1, _) => "info,emulator::net::serve=debug,harness::transfer=debug",
            _ => "debug",
        }
    }

    /// How log lines are written.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
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
        Command::Report(command) => crate::report_cmd::run(command),
        Command::Ports(args) => crate::ports::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "meterfleet",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Manpage => {
            let page = clap_mangen::Man::new(Cli::command());
            crate::process::exit_status(
                page.render(&mut std::io::stdout())
                    .map(|()| true)
                    .map_err(|e| format!("writing the manual page: {e}")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and subcommand, by its path (`bench fleet`).
    fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name()).trim().to_string();
            out.push((name.clone(), sub.clone()));
            commands(sub, name, out);
        }
    }

    #[test]
    fn every_help_ends_with_examples() {
        let mut all = vec![("meterfleet".to_string(), Cli::command())];
        commands(&Cli::command(), String::new(), &mut all);
        for (name, cmd) in all.iter().filter(|(name, _)| name != "help") {
            let after = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let has_children = cmd.get_subcommands().any(|c| c.get_name() != "help");
            assert!(
                has_children || after.starts_with("Examples:"),
                "`{name} --help` ends without examples"
            );
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_takes_a_flag_named_version() {
        let mut all = Vec::new();
        commands(&Cli::command(), String::new(), &mut all);
        for (name, cmd) in &all {
            assert!(
                !cmd.get_arguments().any(|a| a.get_long() == Some("version")),
                "`{name}` has --version"
            );
        }
    }
}
