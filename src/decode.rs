//! `meterfleet decode`: show what a captured hex frame, APDU or A-XDR value holds.

use dlms::hdlc::FrameRepr;
use dlms::text::parse_hex;
use dlms::wrapper::{WrapperHeader, HEADER_LEN};
use dlms::{Apdu, Codec, Data};
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
    let bytes = match parse_hex(&args.hex.concat()) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match describe(&bytes) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(text) => {
            eprintln!("{text}");
            ExitCode::FAILURE
        }
    }
}

/// What the bytes hold, trying the outermost layers first.
fn describe(bytes: &[u8]) -> Result<String, String> {
    if bytes.first() == Some(&dlms::hdlc::FLAG) {
        let frame = FrameRepr::parse(bytes).map_err(|e| format!("HDLC frame: {e}"))?;
        let mut text = format!(
            "HDLC frame: {} -> {}, {}{}",
            frame.source,
            frame.destination,
            frame.control,
            if frame.segmented { ", segmented" } else { "" }
        );
        let info = frame
            .info
            .strip_prefix(&dlms::hdlc::LLC_REQUEST[..])
            .or_else(|| frame.info.strip_prefix(&dlms::hdlc::LLC_RESPONSE[..]));
        match info {
            Some(apdu) => text.push_str(&format!("\n{}", describe_apdu(apdu)?)),
            None if !frame.info.is_empty() => text.push_str(&format!(
                "\ninformation: {}",
                dlms::text::octets(frame.info)
            )),
            None => {}
        }
        return Ok(text);
    }
    if bytes.len() >= HEADER_LEN && bytes[..2] == [0x00, 0x01] {
        if let Ok(h) = WrapperHeader::parse(&bytes[..HEADER_LEN]) {
            if h.length as usize == bytes.len() - HEADER_LEN {
                return Ok(format!(
                    "wrapper: wPort {} -> {}, {} bytes\n{}",
                    h.source,
                    h.destination,
                    h.length,
                    describe_apdu(&bytes[HEADER_LEN..])?
                ));
            }
        }
    }
    describe_apdu(bytes).or_else(|apdu_err| {
        Data::decode(bytes)
            .map(|d| format!("A-XDR {}", dlms::text::data(&d)))
            .map_err(|data_err| format!("not an APDU ({apdu_err}) nor A-XDR data ({data_err})"))
    })
}

fn describe_apdu(bytes: &[u8]) -> Result<String, String> {
    Apdu::decode(bytes)
        .map(|a| dlms::text::apdu(&a))
        .map_err(|e| format!("APDU: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_layer() {
        let hdlc = parse_hex("7EA02C022321 10AF9FE6E600601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFFC5E47E").unwrap();
        let text = describe(&hdlc).unwrap();
        assert!(text.starts_with("HDLC frame: 16 -> 1/17"), "{text}");
        assert!(text.contains("AARQ"), "{text}");
        let wrapped = parse_hex("000100100001000DC001C1001200002C0000FF0200").unwrap();
        let text = describe(&wrapped).unwrap();
        assert!(text.starts_with("wrapper: wPort 16 -> 1"), "{text}");
        assert!(text.contains("attribute 2"), "{text}");
        assert!(text.contains("0-0:44.0.0.255"), "{text}");
        let data = parse_hex("0406E0").unwrap();
        assert!(describe(&data).unwrap().starts_with("A-XDR bit-string"));
        let err = describe(&parse_hex("C00999").unwrap()).unwrap_err();
        assert!(err.contains("offset 1"), "{err}");
    }
}
