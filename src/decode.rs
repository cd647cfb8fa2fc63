//! `meterfleet decode`: show what a captured hex APDU or frame holds.

use std::process::ExitCode;

/// Arguments of `meterfleet decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// The bytes in hex (spaces allowed).
    hex: String,
}

/// Decodes and prints, or reports the decoding error with its offset.
pub fn run(args: DecodeArgs) -> ExitCode {
    let cleaned: String = args.hex.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = match parse_hex(&cleaned) {
        Some(b) => b,
        None => {
            eprintln!("error: not hex: {}", args.hex);
            return ExitCode::from(2);
        }
    };
    match dlms::Data::decode(&bytes) {
        Ok(data) => {
            println!("{data:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
