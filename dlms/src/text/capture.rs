//! What a captured byte string holds, layer by layer: an HDLC frame, a wrapper frame, an APDU
//! or an A-XDR value, or where and why it decodes as none of them.

use crate::hdlc::{FrameRepr, FLAG, LLC_REQUEST, LLC_RESPONSE};
use crate::wrapper::{WrapperHeader, HEADER_LEN};
use crate::{Apdu, Codec, Data};

/// Why a capture decodes as nothing: each layer's error, with its offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CaptureError(String);

/// The readable form of a capture, trying the outermost layers first.
pub fn capture(bytes: &[u8]) -> Result<String, CaptureError> {
    if bytes.first() == Some(&FLAG) {
        let frame =
            FrameRepr::parse(bytes).map_err(|e| CaptureError(format!("HDLC frame: {e}")))?;
        let mut text = format!(
            "HDLC frame: {} -> {}, {}{}",
            frame.source,
            frame.destination,
            frame.control,
            if frame.segmented { ", segmented" } else { "" }
        );
        let info = frame
            .info
            .strip_prefix(&LLC_REQUEST[..])
            .or_else(|| frame.info.strip_prefix(&LLC_RESPONSE[..]));
        match info {
            Some(apdu) => text.push_str(&format!("\n{}", apdu_text(apdu)?)),
            None if !frame.info.is_empty() => {
                text.push_str(&format!("\ninformation: {}", super::octets(frame.info)))
            }
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
                    apdu_text(&bytes[HEADER_LEN..])?
                ));
            }
        }
    }
    apdu_text(bytes).or_else(|apdu_err| {
        Data::decode(bytes)
            .map(|d| format!("A-XDR {}", super::data(&d)))
            .map_err(|data_err| {
                CaptureError(format!(
                    "not an APDU ({apdu_err}) nor A-XDR data ({data_err})"
                ))
            })
    })
}

fn apdu_text(bytes: &[u8]) -> Result<String, CaptureError> {
    Apdu::decode(bytes)
        .map(|a| super::apdu(&a))
        .map_err(|e| CaptureError(format!("APDU: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_hex;

    #[test]
    fn describes_each_layer() {
        let hdlc = parse_hex("7EA02C022321 10AF9FE6E600601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFFC5E47E").unwrap();
        let text = capture(&hdlc).unwrap();
        assert!(text.starts_with("HDLC frame: 16 -> 1/17"), "{text}");
        assert!(text.contains("AARQ"), "{text}");
        let wrapped = parse_hex("000100100001000DC001C1001200002C0000FF0200").unwrap();
        let text = capture(&wrapped).unwrap();
        assert!(text.starts_with("wrapper: wPort 16 -> 1"), "{text}");
        assert!(text.contains("attribute 2"), "{text}");
        assert!(text.contains("0-0:44.0.0.255"), "{text}");
        let data = parse_hex("0406E0").unwrap();
        assert!(capture(&data).unwrap().starts_with("A-XDR bit-string"));
        let err = capture(&parse_hex("C00999").unwrap()).unwrap_err();
        assert!(err.to_string().contains("offset 1"), "{err}");
    }
}
