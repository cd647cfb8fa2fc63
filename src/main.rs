//! The `meterfleet` command line.

use clap::Parser;

mod cli;
mod decode;
mod image_cmd;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
