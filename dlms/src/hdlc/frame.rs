//! HDLC frames at two levels, as smoltcp does it: [`Frame`], a checked view over a buffer with
//! accessors (and setters, so a fault injector can break a checksum on purpose), and
//! [`FrameRepr`], the validated meaning of a frame with `parse`, `emit` and `buffer_len`.
//!
//! `7E | format(2) | dest | src | control | [HCS(2) | information] | FCS(2) | 7E`
//! (docs/protocol.md#hdlc, IEC 62056-46).

use super::address::HdlcAddress;
use super::control::Control;
use super::fcs::crc16;
use crate::codec::{DecodeError, ErrorKind, Reader};

/// The flag that opens and closes every frame.
pub const FLAG: u8 = 0x7E;
/// The largest value the 11-bit frame length field can hold.
pub const MAX_FRAME_LENGTH: usize = 0x7FF;
/// The smallest frame: flags, format, two 1-byte addresses, control and FCS.
pub const MIN_FRAME_LEN: usize = 9;

/// A view over the bytes of one frame, flags included.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    control_at: usize,
}

fn address_end(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().min(from + 4))
        .find(|&i| bytes[i] & 1 == 1)
        .map(|i| i + 1)
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks the framing (flags, format type, length field, address ends, room for HCS)
    /// without checking the checksums.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let b = buffer.as_ref();
        let err = |kind, offset| Err(DecodeError { kind, offset });
        if b.len() < MIN_FRAME_LEN {
            return err(ErrorKind::MissingBytes, b.len());
        }
        if b[0] != FLAG {
            return err(ErrorKind::InvalidValue("opening flag"), 0);
        }
        if b[1] >> 4 != 0xA {
            return err(ErrorKind::InvalidValue("frame format type"), 1);
        }
        let length = (u16::from_be_bytes([b[1], b[2]]) & 0x7FF) as usize;
        if length + 2 != b.len() {
            return err(ErrorKind::BadLength, 1);
        }
        if b[b.len() - 1] != FLAG {
            return err(ErrorKind::InvalidValue("closing flag"), b.len() - 1);
        }
        let fcs_at = b.len() - 3;
        let dest_end = match address_end(&b[..fcs_at], 3) {
            Some(e) => e,
            None => return err(ErrorKind::InvalidValue("destination address"), 3),
        };
        let control_at = match address_end(&b[..fcs_at], dest_end) {
            Some(e) => e,
            None => return err(ErrorKind::InvalidValue("source address"), dest_end),
        };
        if control_at >= fcs_at {
            return err(ErrorKind::MissingBytes, control_at);
        }
        let after_control = fcs_at - control_at - 1;
        if after_control == 1 {
            return err(ErrorKind::MissingBytes, control_at + 1);
        }
        Ok(Frame { buffer, control_at })
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The 16-bit format field.
    pub fn format(&self) -> u16 {
        let b = self.as_bytes();
        u16::from_be_bytes([b[1], b[2]])
    }

    /// The segmentation bit: more segments of this APDU follow.
    pub fn segmented(&self) -> bool {
        self.format() & 0x0800 != 0
    }

    /// The destination address bytes.
    pub fn destination_bytes(&self) -> &[u8] {
        let b = self.as_bytes();
        let end = address_end(b, 3).expect("checked");
        &b[3..end]
    }

    /// The destination address, decoded.
    pub fn destination(&self) -> Result<super::HdlcAddress, DecodeError> {
        super::HdlcAddress::read(&mut crate::codec::Reader::new(self.destination_bytes()))
    }

    /// The source address bytes.
    pub fn source_bytes(&self) -> &[u8] {
        let start = 3 + self.destination_bytes().len();
        &self.as_bytes()[start..self.control_at]
    }

    /// The control byte.
    pub fn control_byte(&self) -> u8 {
        self.as_bytes()[self.control_at]
    }

    /// True if the frame has an information field (and so an HCS).
    pub fn has_info(&self) -> bool {
        self.as_bytes().len() - 3 > self.control_at + 1
    }

    /// The header check sequence, if the frame has an information field.
    pub fn hcs(&self) -> Option<u16> {
        let b = self.as_bytes();
        let at = self.control_at + 1;
        self.has_info()
            .then(|| u16::from_le_bytes([b[at], b[at + 1]]))
    }

    /// The information field (empty when there is none).
    pub fn info(&self) -> &[u8] {
        let b = self.as_bytes();
        if self.has_info() {
            &b[self.control_at + 3..b.len() - 3]
        } else {
            &[]
        }
    }

    /// The frame check sequence.
    pub fn fcs(&self) -> u16 {
        let b = self.as_bytes();
        u16::from_le_bytes([b[b.len() - 3], b[b.len() - 2]])
    }

    /// True if the HCS is absent or right.
    pub fn check_hcs(&self) -> bool {
        self.hcs()
            .is_none_or(|h| h == crc16(&self.as_bytes()[1..=self.control_at]))
    }

    /// True if the FCS is right.
    pub fn check_fcs(&self) -> bool {
        let b = self.as_bytes();
        self.fcs() == crc16(&b[1..b.len() - 3])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Overwrites the FCS (a fault injector uses this to send a corrupt frame).
    pub fn set_fcs(&mut self, fcs: u16) {
        let b = self.buffer.as_mut();
        let n = b.len();
        b[n - 3..n - 1].copy_from_slice(&fcs.to_le_bytes());
    }

    /// Overwrites the HCS; no effect on a frame without information field.
    pub fn set_hcs(&mut self, hcs: u16) {
        if self.has_info() {
            let at = self.control_at + 1;
            self.buffer.as_mut()[at..at + 2].copy_from_slice(&hcs.to_le_bytes());
        }
    }

    /// Computes and writes the HCS (if any) and the FCS.
    pub fn fill_checksums(&mut self) {
        if self.has_info() {
            let hcs = crc16(&self.as_bytes()[1..=self.control_at]);
            self.set_hcs(hcs);
        }
        let b = self.as_bytes();
        let fcs = crc16(&b[1..b.len() - 3]);
        self.set_fcs(fcs);
    }
}

/// The meaning of a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    /// More segments of this APDU follow.
    pub segmented: bool,
    /// The receiver.
    pub destination: HdlcAddress,
    /// The sender.
    pub source: HdlcAddress,
    /// The control field.
    pub control: Control,
    /// The information field.
    pub info: &'a [u8],
}

impl<'a> FrameRepr<'a> {
    /// Parses a whole frame (flags included), checking both checksums.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let frame = Frame::new_checked(bytes)?;
        if !frame.check_hcs() {
            return Err(DecodeError {
                kind: ErrorKind::BadChecksum,
                offset: frame.control_at + 1,
            });
        }
        if !frame.check_fcs() {
            return Err(DecodeError {
                kind: ErrorKind::BadChecksum,
                offset: bytes.len() - 3,
            });
        }
        let mut r = Reader::new(&bytes[..frame.control_at]);
        r.take(3)?;
        let destination = HdlcAddress::read(&mut r)?;
        let source = HdlcAddress::read(&mut r)?;
        let control = Control::from_byte(frame.control_byte()).ok_or(DecodeError {
            kind: ErrorKind::UnknownTag(frame.control_byte()),
            offset: frame.control_at,
        })?;
        let info = &bytes[frame.control_at + 1..bytes.len() - 3];
        let info = if info.is_empty() { info } else { &info[2..] };
        Ok(FrameRepr {
            segmented: frame.segmented(),
            destination,
            source,
            control,
            info,
        })
    }

    /// The size of the emitted frame, flags included.
    pub fn buffer_len(&self) -> usize {
        let hcs_and_info = if self.info.is_empty() {
            0
        } else {
            2 + self.info.len()
        };
        1 + 2
            + self.destination.width as usize
            + self.source.width as usize
            + 1
            + hcs_and_info
            + 2
            + 1
    }

    /// Writes the frame, with correct checksums, into `buf` of exactly [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_vec(&mut out);
        buf.copy_from_slice(&out);
    }

    /// The emitted frame as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_vec(&mut out);
        out
    }

    fn emit_vec(&self, out: &mut Vec<u8>) {
        let len = self.buffer_len();
        debug_assert!(
            len - 2 <= MAX_FRAME_LENGTH,
            "frame too long for the format field"
        );
        let format = 0xA000 | if self.segmented { 0x0800 } else { 0 } | ((len - 2) as u16 & 0x7FF);
        out.push(FLAG);
        out.extend_from_slice(&format.to_be_bytes());
        self.destination.encode(out);
        self.source.encode(out);
        out.push(self.control.to_byte());
        if !self.info.is_empty() {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(self.info);
        }
        out.extend_from_slice(&[0, 0, FLAG]);
        let mut frame = Frame::new_checked(&mut out[..]).expect("emitted frame is well formed");
        frame.fill_checksums();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// docs/protocol.md#test-vectors V5: u9n `tests/test_hdlc/test_hdlc.py`, checksums re-verified.
    const V5: [&str; 5] = [
        "7E A0 08 02 23 21 93 BD 64 7E",
        "7E A0 1F 21 02 23 73 E6 C7 81 80 12 05 01 9A 06 01 9A 07 04 00 00 00 01 08 04 00 00 00 01 CC A2 7E",
        "7E A0 2C 02 23 21 10 AF 9F E6 E6 00 60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 1E 1D FF FF C5 E4 7E",
        "7E A0 38 21 02 23 30 34 E7 E6 E7 00 61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 1E 1D 04 C8 00 07 B8 6A 7E",
        "7E A0 07 21 03 73 01 40 7E",
    ];

    #[test]
    fn u9n_frames_parse_and_re_emit_identically_v5() {
        for wire in V5 {
            let bytes = hex(wire);
            let repr = FrameRepr::parse(&bytes).unwrap_or_else(|e| panic!("{wire}: {e}"));
            assert_eq!(repr.to_bytes(), bytes, "{wire}");
            assert_eq!(repr.buffer_len(), bytes.len());
        }
    }

    #[test]
    fn snrm_fields_v5() {
        let bytes = hex(V5[0]);
        let repr = FrameRepr::parse(&bytes).unwrap();
        assert_eq!(repr.destination, HdlcAddress::server(1, 17));
        assert_eq!(repr.source, HdlcAddress::client(16));
        assert_eq!(repr.control, Control::Snrm { pf: true });
        let aarq_bytes = hex(V5[2]);
        let aarq = FrameRepr::parse(&aarq_bytes).unwrap();
        assert_eq!(
            aarq.control,
            Control::I {
                ns: 0,
                nr: 0,
                pf: true
            }
        );
        assert_eq!(&aarq.info[..3], &[0xE6, 0xE6, 0x00]);
    }

    #[test]
    fn the_view_decodes_the_destination_a_gateway_routes_by() {
        let bytes = hex(V5[0]);
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.destination(), Ok(HdlcAddress::server(1, 17)));
        // A 4-byte address, as meters behind a gateway past physical address 127 have.
        let far = FrameRepr {
            destination: HdlcAddress::server(1, 300),
            ..FrameRepr::parse(&bytes).unwrap()
        }
        .to_bytes();
        let frame = Frame::new_checked(&far[..]).unwrap();
        assert_eq!(frame.destination(), Ok(HdlcAddress::server(1, 300)));
    }

    #[test]
    fn corrupted_fcs_is_a_checksum_error_and_the_view_can_make_one() {
        let mut bytes = hex(V5[2]);
        let mut frame = Frame::new_checked(&mut bytes[..]).unwrap();
        frame.set_fcs(frame.fcs() ^ 1);
        assert!(!frame.check_fcs());
        assert!(frame.check_hcs());
        let err = FrameRepr::parse(&bytes).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadChecksum);
    }

    #[test]
    fn wrong_length_field_is_rejected() {
        let mut bytes = hex(V5[0]);
        bytes[2] = 0x09;
        assert_eq!(
            FrameRepr::parse(&bytes).unwrap_err().kind,
            ErrorKind::BadLength
        );
    }

    fn address() -> impl Strategy<Value = HdlcAddress> {
        prop_oneof![
            (0u8..0x80).prop_map(HdlcAddress::client),
            (0u16..0x3FFF, 0u16..0x3FFF).prop_map(|(l, p)| HdlcAddress::server(l, p)),
        ]
    }

    fn control() -> impl Strategy<Value = Control> {
        any::<u8>().prop_filter_map("unused control", Control::from_byte)
    }

    proptest! {
        #[test]
        fn frames_round_trip(seg: bool, d in address(), s in address(), c in control(), info in proptest::collection::vec(any::<u8>(), 0..300)) {
            let repr = FrameRepr { segmented: seg, destination: d, source: s, control: c, info: &info };
            let bytes = repr.to_bytes();
            prop_assert_eq!(FrameRepr::parse(&bytes).unwrap(), repr);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = FrameRepr::parse(&bytes);
        }
    }
}
