//! SNRM/UA parameter negotiation: `81 80 <len>` then `05` max-info-TX, `06` max-info-RX,
//! `07` window-TX, `08` window-RX (docs/protocol.md#hdlc, u9n UA vector).

use crate::codec::{DecodeError, ErrorKind, Reader};

/// The largest information field this implementation sends or accepts.
pub const MAX_INFO_LIMIT: u16 = 2030;
/// The largest window HDLC's 3-bit sequence numbers allow.
pub const MAX_WINDOW: u8 = 7;

/// Link parameters, from the point of view of the station that sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdlcParameters {
    /// Largest information field this station sends.
    pub max_info_tx: u16,
    /// Largest information field this station receives.
    pub max_info_rx: u16,
    /// Frames this station sends before waiting for an acknowledgement.
    pub window_tx: u8,
    /// Frames this station receives before acknowledging.
    pub window_rx: u8,
}

impl Default for HdlcParameters {
    /// The defaults when no parameters are negotiated: 128 bytes, window 1 (UNCONFIRMED,
    /// docs/protocol.md#open-questions).
    fn default() -> Self {
        HdlcParameters {
            max_info_tx: 128,
            max_info_rx: 128,
            window_tx: 1,
            window_rx: 1,
        }
    }
}

fn put_param(out: &mut Vec<u8>, id: u8, value: u32, width: usize) {
    out.push(id);
    out.push(width as u8);
    out.extend_from_slice(&value.to_be_bytes()[4 - width..]);
}

impl HdlcParameters {
    /// The information field of an SNRM or UA carrying these parameters. Max-info values go as
    /// one byte when they fit, else two; windows as four bytes, as Gurux sends them.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let width = |v: u16| if v < 0x100 { 1 } else { 2 };
        put_param(
            &mut body,
            0x05,
            self.max_info_tx as u32,
            width(self.max_info_tx),
        );
        put_param(
            &mut body,
            0x06,
            self.max_info_rx as u32,
            width(self.max_info_rx),
        );
        put_param(&mut body, 0x07, self.window_tx as u32, 4);
        put_param(&mut body, 0x08, self.window_rx as u32, 4);
        let mut out = vec![0x81, 0x80, body.len() as u8];
        out.extend(body);
        out
    }

    /// Parses an SNRM or UA information field; absent parameters take the defaults. An empty
    /// field means all defaults.
    pub fn parse(info: &[u8]) -> Result<Self, DecodeError> {
        let mut p = HdlcParameters::default();
        if info.is_empty() {
            return Ok(p);
        }
        let mut r = Reader::new(info);
        let at = r.offset();
        if r.u8()? != 0x81 || r.u8()? != 0x80 {
            return Err(r.error_at(ErrorKind::InvalidValue("HDLC parameter format"), at));
        }
        let len = r.u8()? as usize;
        let mut body = Reader::new(r.take(len)?);
        r.expect_end()?;
        while !body.is_empty() {
            let id_at = body.offset() + 3;
            let id = body.u8()?;
            let width = body.u8()? as usize;
            if !(1..=4).contains(&width) {
                return Err(DecodeError {
                    kind: ErrorKind::BadLength,
                    offset: id_at + 1,
                });
            }
            let value = body
                .take(width)?
                .iter()
                .fold(0u32, |acc, b| (acc << 8) | *b as u32);
            let info_value = value.clamp(1, MAX_INFO_LIMIT as u32) as u16;
            let window_value = value.clamp(1, MAX_WINDOW as u32) as u8;
            match id {
                0x05 => p.max_info_tx = info_value,
                0x06 => p.max_info_rx = info_value,
                0x07 => p.window_tx = window_value,
                0x08 => p.window_rx = window_value,
                _ => {}
            }
        }
        Ok(p)
    }

    /// What a server answers to a client's proposal: each value the smaller of the two, seen
    /// from the server (its TX is bounded by the client's RX, and so on).
    pub fn answer(server: &HdlcParameters, client: &HdlcParameters) -> HdlcParameters {
        HdlcParameters {
            max_info_tx: server.max_info_tx.min(client.max_info_rx),
            max_info_rx: server.max_info_rx.min(client.max_info_tx),
            window_tx: server.window_tx.min(client.window_rx),
            window_rx: server.window_rx.min(client.window_tx),
        }
    }

    /// The same parameters seen from the other station.
    pub fn mirrored(&self) -> HdlcParameters {
        HdlcParameters {
            max_info_tx: self.max_info_rx,
            max_info_rx: self.max_info_tx,
            window_tx: self.window_rx,
            window_rx: self.window_tx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#test-vectors V5: the UA's parameters (u9n `test_hdlc.py`): max-info 154, window 1.
    #[test]
    fn ua_parameters_v5() {
        let info =
            hex::decode("8180120501 9A06019A070400000001080400000001".replace(' ', "")).unwrap();
        let p = HdlcParameters::parse(&info).unwrap();
        assert_eq!(
            p,
            HdlcParameters {
                max_info_tx: 154,
                max_info_rx: 154,
                window_tx: 1,
                window_rx: 1
            }
        );
        assert_eq!(p.encode(), info);
    }

    #[test]
    fn answer_takes_the_smaller_of_each_direction() {
        let server = HdlcParameters {
            max_info_tx: 512,
            max_info_rx: 256,
            window_tx: 7,
            window_rx: 3,
        };
        let client = HdlcParameters {
            max_info_tx: 1024,
            max_info_rx: 128,
            window_tx: 2,
            window_rx: 7,
        };
        let a = HdlcParameters::answer(&server, &client);
        assert_eq!(
            a,
            HdlcParameters {
                max_info_tx: 128,
                max_info_rx: 256,
                window_tx: 7,
                window_rx: 2
            }
        );
    }

    #[test]
    fn bad_format_and_width_are_errors() {
        assert!(HdlcParameters::parse(&[0x81, 0x81, 0x00]).is_err());
        assert!(HdlcParameters::parse(&[0x81, 0x80, 0x02, 0x05, 0x00]).is_err());
        assert!(HdlcParameters::parse(&[0x81, 0x80, 0x03, 0x05, 0x05, 0x00]).is_err());
    }
}
