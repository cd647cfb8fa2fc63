//! HDLC addresses: 1, 2 or 4 bytes, 7 bits a byte, bit 0 set on the last byte
//! (docs/protocol.md#hdlc).

use crate::codec::{DecodeError, ErrorKind, Reader};

/// An HDLC address: an upper (logical, or client SAP) part and an optional lower (physical) part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HdlcAddress {
    /// The upper HDLC address: the logical device, or the client SAP.
    pub upper: u16,
    /// The lower HDLC address (physical device), absent in 1-byte addresses.
    pub lower: Option<u16>,
    /// The encoded width: 1, 2 or 4 bytes.
    pub width: u8,
}

impl HdlcAddress {
    /// A 1-byte client address (client SAP 0..127).
    pub const fn client(sap: u8) -> Self {
        HdlcAddress {
            upper: (sap & 0x7F) as u16,
            lower: None,
            width: 1,
        }
    }

    /// A server address with logical and physical parts, 2 bytes when both fit 7 bits, else 4.
    pub const fn server(logical: u16, physical: u16) -> Self {
        let width = if logical < 0x80 && physical < 0x80 {
            2
        } else {
            4
        };
        HdlcAddress {
            upper: logical & 0x3FFF,
            lower: Some(physical & 0x3FFF),
            width,
        }
    }

    /// Appends the encoded address.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let lower = self.lower.unwrap_or(0);
        match self.width {
            1 => out.push(((self.upper as u8) << 1) | 1),
            2 => out.extend_from_slice(&[(self.upper as u8) << 1, ((lower as u8) << 1) | 1]),
            _ => out.extend_from_slice(&[
                ((self.upper >> 7) as u8) << 1,
                ((self.upper & 0x7F) as u8) << 1,
                ((lower >> 7) as u8) << 1,
                (((lower & 0x7F) as u8) << 1) | 1,
            ]),
        }
    }

    /// Reads an address: bytes up to and including the first with bit 0 set.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let mut bytes = [0u8; 4];
        let mut n = 0;
        loop {
            let b = r.u8()?;
            if n == 4 {
                return Err(r.error_at(ErrorKind::InvalidValue("HDLC address length"), start));
            }
            bytes[n] = b;
            n += 1;
            if b & 1 == 1 {
                break;
            }
        }
        let v = |i: usize| (bytes[i] >> 1) as u16;
        Ok(match n {
            1 => HdlcAddress {
                upper: v(0),
                lower: None,
                width: 1,
            },
            2 => HdlcAddress {
                upper: v(0),
                lower: Some(v(1)),
                width: 2,
            },
            4 => HdlcAddress {
                upper: (v(0) << 7) | v(1),
                lower: Some((v(2) << 7) | v(3)),
                width: 4,
            },
            _ => return Err(r.error_at(ErrorKind::InvalidValue("HDLC address length"), start)),
        })
    }
}

impl std::fmt::Display for HdlcAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.lower {
            None => write!(f, "{}", self.upper),
            Some(l) => write!(f, "{}/{}", self.upper, l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#hdlc: `0x21` is client 16; `02 23` is logical 1, physical 17; the 4-byte
    /// form of the same is `00 02 00 23` (u9n `test_hdlc.py`).
    #[test]
    fn address_vectors() {
        let mut out = Vec::new();
        HdlcAddress::client(16).encode(&mut out);
        assert_eq!(out, [0x21]);
        out.clear();
        HdlcAddress::server(1, 17).encode(&mut out);
        assert_eq!(out, [0x02, 0x23]);
        let four = HdlcAddress::read(&mut Reader::new(&[0x00, 0x02, 0x00, 0x23])).unwrap();
        assert_eq!((four.upper, four.lower, four.width), (1, Some(17), 4));
    }

    #[test]
    fn three_and_five_byte_addresses_are_rejected() {
        assert!(HdlcAddress::read(&mut Reader::new(&[0x00, 0x02, 0x23])).is_err());
        assert!(HdlcAddress::read(&mut Reader::new(&[0, 0, 0, 0, 1])).is_err());
    }

    #[test]
    fn wide_server_address_round_trips() {
        let a = HdlcAddress::server(0x123, 0x3FFF);
        assert_eq!(a.width, 4);
        let mut out = Vec::new();
        a.encode(&mut out);
        assert_eq!(HdlcAddress::read(&mut Reader::new(&out)).unwrap(), a);
    }
}
