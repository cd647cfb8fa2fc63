//! The IEC 62056-4-7 wrapper used over TCP and UDP (docs/protocol.md#the-wrapper).
//!
//! An 8-byte header of four big-endian u16 fields: version 0x0001, source wPort, destination
//! wPort, and the length of the APDU that follows (u9n `wrappers.py`, Gurux `GetWrapperFrame`).
//! TCP is a stream, so [`WrapperDecoder`] reassembles frames across partial reads and splits
//! several frames that arrive in one read.

use crate::codec::{DecodeError, ErrorKind, Reader};
use thiserror::Error;

/// The only wrapper version defined.
pub const VERSION: u16 = 0x0001;
/// The size of the wrapper header.
pub const HEADER_LEN: usize = 8;

/// Reserved wPort numbers (u9n docstring, docs/protocol.md#the-wrapper).
pub mod wport {
    /// No station.
    pub const NO_STATION: u16 = 0;
    /// Client management process.
    pub const CLIENT_MANAGEMENT: u16 = 1;
    /// Public client.
    pub const PUBLIC_CLIENT: u16 = 16;
    /// Server management logical device.
    pub const MANAGEMENT_LOGICAL_DEVICE: u16 = 1;
    /// All stations (broadcast).
    pub const ALL_STATION: u16 = 127;
}

/// The wrapper header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapperHeader {
    /// Protocol version (0x0001).
    pub version: u16,
    /// The sender's wPort.
    pub source: u16,
    /// The receiver's wPort.
    pub destination: u16,
    /// The length of the APDU that follows.
    pub length: u16,
}

impl WrapperHeader {
    /// Appends the 8 header bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.version, self.source, self.destination, self.length] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// Parses 8 header bytes, rejecting versions other than 0x0001.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = WrapperHeader {
            version: r.u16()?,
            source: r.u16()?,
            destination: r.u16()?,
            length: r.u16()?,
        };
        if header.version != VERSION {
            return Err(r.error_at(ErrorKind::InvalidValue("wrapper version"), 0));
        }
        Ok(header)
    }
}

/// Wraps one APDU from `source` to `destination`; `None` if it is longer than 65,535 bytes.
pub fn wrap(source: u16, destination: u16, apdu: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER_LEN + apdu.len());
    wrap_into(&mut out, source, destination, apdu).then_some(out)
}

/// Appends one APDU from `source` to `destination`, wrapped, to `out`; false (and nothing
/// appended) if it is longer than 65,535 bytes.
pub fn wrap_into(out: &mut Vec<u8>, source: u16, destination: u16, apdu: &[u8]) -> bool {
    let Ok(length) = u16::try_from(apdu.len()) else {
        return false;
    };
    WrapperHeader {
        version: VERSION,
        source,
        destination,
        length,
    }
    .encode(out);
    out.extend_from_slice(apdu);
    true
}

/// One reassembled wrapper frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperFrame {
    /// The sender's wPort.
    pub source: u16,
    /// The receiver's wPort.
    pub destination: u16,
    /// The APDU.
    pub apdu: Vec<u8>,
}

/// One reassembled wrapper frame, its APDU still in the decoder's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapperFrameRef<'a> {
    /// The sender's wPort.
    pub source: u16,
    /// The receiver's wPort.
    pub destination: u16,
    /// The APDU.
    pub apdu: &'a [u8],
}

/// Why a wrapper frame could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WrapperError {
    /// The header's version is not 0x0001: the stream cannot be trusted and must be closed.
    #[error("wrapper version 0x{0:04X} is not 0x0001")]
    BadVersion(u16),
    /// The announced APDU is longer than this receiver accepts. Its bytes are skipped as they
    /// arrive, never held, and the frames after it are delivered.
    #[error("wrapper length {length} exceeds the limit of {limit}")]
    TooLong {
        /// The sender's wPort.
        sender: u16,
        /// The receiver's wPort.
        receiver: u16,
        /// The announced length.
        length: u16,
        /// The receiver's limit.
        limit: u16,
    },
}

impl WrapperError {
    /// Whether the stream must be closed (otherwise only this frame is lost).
    pub fn ends_stream(&self) -> bool {
        matches!(self, WrapperError::BadVersion(_))
    }
}

/// Reassembles wrapper frames from a byte stream, holding at most one frame of `limit` bytes
/// and what the last read brought.
#[derive(Debug)]
pub struct WrapperDecoder {
    buf: Vec<u8>,
    start: usize,
    limit: u16,
    /// An over-long frame being skipped: the bytes still to come, and its report.
    skipping: Option<(usize, WrapperError)>,
}

impl WrapperDecoder {
    /// A decoder that refuses APDUs longer than `limit` bytes.
    pub fn new(limit: u16) -> Self {
        WrapperDecoder {
            buf: Vec::new(),
            start: 0,
            limit,
            skipping: None,
        }
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input(bytes.len()).extend_from_slice(bytes);
    }

    /// The buffer the stream's next bytes are to be appended to, with room for at least
    /// `room` of them: a reader can receive straight into it (as tokio's `read_buf` does)
    /// instead of into a buffer of its own and then [`Self::push`]. Only appending is
    /// meant; the bytes already in it are the decoder's.
    pub fn input(&mut self, room: usize) -> &mut Vec<u8> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.reserve(room);
        &mut self.buf
    }

    /// The number of buffered bytes not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an error: one that
    /// [ends the stream](WrapperError::ends_stream), or an over-long frame, reported once its
    /// last byte is skipped.
    pub fn next_frame(&mut self) -> Result<Option<WrapperFrame>, WrapperError> {
        Ok(self.next_frame_ref()?.map(|f| WrapperFrame {
            source: f.source,
            destination: f.destination,
            apdu: f.apdu.to_vec(),
        }))
    }

    /// As [`Self::next_frame`], the APDU borrowed from the decoder's buffer instead of copied
    /// out of it (valid until the decoder is used again).
    pub fn next_frame_ref(&mut self) -> Result<Option<WrapperFrameRef<'_>>, WrapperError> {
        if let Some((remaining, error)) = &mut self.skipping {
            let skipped = (*remaining).min(self.buf.len() - self.start);
            *remaining -= skipped;
            self.start += skipped;
            if *remaining > 0 {
                self.compact();
                return Ok(None);
            }
            let error = *error;
            self.skipping = None;
            return Err(error);
        }
        let pending = &self.buf[self.start..];
        if pending.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let version = u16::from_be_bytes([pending[0], pending[1]]);
        if version != VERSION {
            return Err(WrapperError::BadVersion(version));
        }
        let header =
            WrapperHeader::parse(&pending[..HEADER_LEN]).expect("8 bytes, version checked");
        let length = usize::from(header.length);
        if header.length > self.limit {
            self.start += HEADER_LEN;
            let error = WrapperError::TooLong {
                sender: header.source,
                receiver: header.destination,
                length: header.length,
                limit: self.limit,
            };
            self.skipping = Some((length, error));
            return self.next_frame_ref();
        }
        let total = HEADER_LEN + length;
        if pending.len() < total {
            self.compact();
            return Ok(None);
        }
        let apdu_at = self.start + HEADER_LEN;
        self.start += total;
        Ok(Some(WrapperFrameRef {
            source: header.source,
            destination: header.destination,
            apdu: &self.buf[apdu_at..apdu_at + length],
        }))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// docs/protocol.md#test-vectors V1-W: the Green Book AARQ wrapped from client 16 to server 1 (header per
    /// u9n `wrappers.py`).
    #[test]
    fn aarq_in_a_wrapper_v1w() {
        let aarq = hex("60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0");
        let frame = wrap(16, 1, &aarq).unwrap();
        assert_eq!(&frame[..8], &hex("00 01 00 10 00 01 00 1F"));
        let mut dec = WrapperDecoder::new(2048);
        dec.push(&frame);
        let got = dec.next_frame().unwrap().unwrap();
        assert_eq!((got.source, got.destination, got.apdu), (16, 1, aarq));
        assert_eq!(dec.next_frame().unwrap(), None);
    }

    #[test]
    fn two_frames_in_one_read_and_one_frame_in_many_reads() {
        let a = wrap(1, 16, b"first").unwrap();
        let b = wrap(1, 16, b"second!").unwrap();
        let mut stream = a.clone();
        stream.extend(&b);
        let mut dec = WrapperDecoder::new(100);
        for byte in &stream[..3] {
            dec.push(&[*byte]);
            assert_eq!(dec.next_frame().unwrap(), None);
        }
        dec.push(&stream[3..]);
        assert_eq!(dec.next_frame().unwrap().unwrap().apdu, b"first");
        assert_eq!(dec.next_frame().unwrap().unwrap().apdu, b"second!");
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn a_reader_appends_straight_into_the_input_buffer() {
        let a = wrap(1, 16, b"first").unwrap();
        let mut dec = WrapperDecoder::new(100);
        let input = dec.input(4096);
        assert!(input.capacity() - input.len() >= 4096);
        input.extend_from_slice(&a);
        input.extend_from_slice(&a[..4]);
        assert_eq!(dec.next_frame().unwrap().unwrap().apdu, b"first");
        assert_eq!(dec.next_frame().unwrap(), None);
        // What was returned is gone; the partial frame stays first in the buffer.
        assert_eq!(dec.input(16).as_slice(), &a[..4]);
        dec.input(16).extend_from_slice(&a[4..]);
        assert_eq!(dec.next_frame().unwrap().unwrap().apdu, b"first");
        assert!(dec.input(16).is_empty());
    }

    #[test]
    fn a_wrong_version_ends_the_stream() {
        let mut dec = WrapperDecoder::new(4);
        dec.push(&hex("00 02 00 10 00 01 00 01 AA"));
        let err = dec.next_frame().unwrap_err();
        assert_eq!(err, WrapperError::BadVersion(2));
        assert!(err.ends_stream());
    }

    #[test]
    fn an_over_long_frame_is_skipped_without_being_held_and_reported_at_its_end() {
        let mut dec = WrapperDecoder::new(4);
        let mut stream = hex("00 01 00 10 00 01 03 E8");
        stream.extend([0xAA; 10]);
        dec.push(&stream);
        assert_eq!(dec.next_frame(), Ok(None));
        assert_eq!(dec.buffered(), 0);
        for _ in 0..98 {
            dec.push(&[0xAA; 10]);
            assert_eq!(dec.next_frame(), Ok(None));
            assert_eq!(dec.buffered(), 0);
        }
        // The last 10 bytes of the 1,000 and the next frame in one read.
        let mut tail = vec![0xAA; 10];
        tail.extend(wrap(16, 1, b"next").unwrap());
        dec.push(&tail);
        let err = dec.next_frame().unwrap_err();
        assert_eq!(
            err,
            WrapperError::TooLong {
                sender: 16,
                receiver: 1,
                length: 1000,
                limit: 4
            }
        );
        assert!(!err.ends_stream());
        assert_eq!(dec.next_frame().unwrap().unwrap().apdu, b"next");
        assert_eq!(dec.next_frame(), Ok(None));
    }

    proptest! {
        #[test]
        fn header_round_trips(source: u16, destination: u16, length: u16) {
            let h = WrapperHeader { version: VERSION, source, destination, length };
            let mut out = Vec::new();
            h.encode(&mut out);
            prop_assert_eq!(WrapperHeader::parse(&out).unwrap(), h);
        }

        #[test]
        fn frames_survive_any_split(apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..5), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
            let stream: Vec<u8> = apdus.iter().flat_map(|a| wrap(16, 1, a).unwrap()).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort();
            let mut dec = WrapperDecoder::new(64);
            let mut got = Vec::new();
            for w in points.windows(2) {
                dec.push(&stream[w[0]..w[1]]);
                while let Some(f) = dec.next_frame().unwrap() {
                    got.push(f.apdu);
                }
            }
            prop_assert_eq!(got, apdus);
        }

        #[test]
        fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut dec = WrapperDecoder::new(64);
            dec.push(&bytes);
            loop {
                match dec.next_frame() {
                    Ok(Some(_)) => {}
                    Err(e) if !e.ends_stream() => {}
                    _ => break,
                }
                prop_assert!(dec.buffered() <= bytes.len());
            }
        }
    }
}
