//! `meterfleet decode`: show what a captured hex frame, APDU or A-XDR value holds.

use std::process::ExitCode;

/// Arguments of `meterfleet decode`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  meterfleet decode C0 01 C1 00 12 00 00 2C 00 00 FF 06 00
  meterfleet decode 7E A0 07 21 03 73 01 40 7E
  meterfleet decode 00:01:00:10:00:01:00:0D:C0:01:C1:00:12:00:00:2C:00:00:FF:02:00")]
pub struct DecodeArgs {
    /// The bytes in hex (spaces and colons allowed): an HDLC frame (7E ... 7E), a wrapper
    /// frame (00 01 ...), an APDU, or an A-XDR value.
    hex: Vec<String>,
}

/// Decodes and prints, or reports each decoding error with its offset.
pub fn run(args: DecodeArgs) -> ExitCode {
    let bytes = match dlms::text::parse_hex(&args.hex.concat()) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match dlms::text::capture(&bytes) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
