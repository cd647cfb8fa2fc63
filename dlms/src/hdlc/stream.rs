//! Finds HDLC frames in a byte stream: skips noise, shares flags between frames, and drops
//! frames whose checksums fail (the standard says such frames are ignored).

use super::frame::{Frame, FLAG, MIN_FRAME_LEN};
use std::time::{Duration, Instant};

/// Splits a received byte stream into checked frames.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    dropped_bytes: u64,
    bad_frames: u64,
    inter_octet: Option<Duration>,
    last_byte: Option<Instant>,
}

/// The most bytes kept while waiting for the rest of a frame: one maximum frame and its flags.
const MAX_BUFFER: usize = super::frame::MAX_FRAME_LENGTH + 2;

impl FrameSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A splitter that drops a frame begun but not ended once its line has been silent for
    /// `limit` (the inter-octet time-out of a serial line: IEC 62056-6-2's HDLC setup,
    /// attribute inter_octet_time_out, 25 ms by default), so that a lost tail does not swallow
    /// the next frame.
    pub fn with_inter_octet_timeout(limit: Duration) -> Self {
        FrameSplitter {
            inter_octet: Some(limit),
            ..Self::default()
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends bytes received at `now` (the time counts for the inter-octet time-out).
    pub fn push_at(&mut self, now: Instant, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.last_byte = Some(now);
        }
        self.push(bytes);
    }

    /// When the frame begun would be dropped if nothing more arrives, with an inter-octet
    /// time-out and part of a frame held.
    pub fn partial_deadline(&self) -> Option<Instant> {
        let partial = !matches!(self.buf.as_slice(), [] | [FLAG]);
        Some(self.last_byte? + self.inter_octet?).filter(|_| partial)
    }

    /// Drops the frame begun if its inter-octet time-out has passed at `now`; true if it did.
    pub fn expire(&mut self, now: Instant) -> bool {
        match self.partial_deadline() {
            Some(deadline) if now >= deadline => {
                self.drop_front(self.buf.len());
                true
            }
            _ => false,
        }
    }

    /// Bytes skipped as noise so far.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }

    /// Frames dropped for a bad HCS or FCS so far.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    /// The next frame whose framing and checksums are right, flags included.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.buf.iter().position(|b| *b == FLAG) {
                None => {
                    self.drop_front(self.buf.len());
                    return None;
                }
                Some(i) => self.drop_front(i),
            }
            if self.buf.len() < 3 {
                return None;
            }
            if self.buf[1] >> 4 != 0xA {
                self.drop_front(1);
                continue;
            }
            let total = (u16::from_be_bytes([self.buf[1], self.buf[2]]) & 0x7FF) as usize + 2;
            if total < MIN_FRAME_LEN {
                self.drop_front(1);
                continue;
            }
            if self.buf.len() < total {
                if self.buf.len() > MAX_BUFFER {
                    self.drop_front(1);
                    continue;
                }
                return None;
            }
            match Frame::new_checked(&self.buf[..total]) {
                Ok(f) if f.check_hcs() && f.check_fcs() => {
                    let frame = self.buf[..total].to_vec();
                    // The closing flag may open the next frame: keep it.
                    self.buf.drain(..total - 1);
                    return Some(frame);
                }
                Ok(_) => {
                    self.bad_frames += 1;
                    self.buf.drain(..total - 1);
                }
                Err(_) => self.drop_front(1),
            }
        }
    }

    fn drop_front(&mut self, n: usize) {
        if n > 0 {
            self.dropped_bytes += n as u64;
            self.buf.drain(..n);
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

    const SNRM: &str = "7E A0 08 02 23 21 93 BD 64 7E";
    const UA: &str = "7E A0 07 21 03 73 01 40 7E";

    #[test]
    fn frames_with_own_or_shared_flags_and_noise() {
        let mut s = FrameSplitter::new();
        let mut stream = vec![0x00, 0x11];
        stream.extend(hex(SNRM));
        stream.extend(&hex(UA)[1..]); // shares the SNRM's closing flag
        stream.extend(hex(SNRM));
        s.push(&stream);
        assert_eq!(s.next_frame().unwrap(), hex(SNRM));
        assert_eq!(s.next_frame().unwrap(), hex(UA));
        assert_eq!(s.next_frame().unwrap(), hex(SNRM));
        assert_eq!(s.next_frame(), None);
        assert!(s.dropped_bytes() >= 2);
    }

    #[test]
    fn bad_fcs_frame_is_dropped_and_the_next_one_found() {
        let mut bad = hex(SNRM);
        bad[7] ^= 0xFF;
        let mut s = FrameSplitter::new();
        s.push(&bad);
        s.push(&hex(UA));
        assert_eq!(s.next_frame().unwrap(), hex(UA));
        assert_eq!(s.bad_frames(), 1);
    }

    #[test]
    fn frame_split_over_reads_is_reassembled() {
        let mut s = FrameSplitter::new();
        let f = hex(SNRM);
        for b in &f[..f.len() - 1] {
            s.push(&[*b]);
            assert_eq!(s.next_frame(), None);
        }
        s.push(&f[f.len() - 1..]);
        assert_eq!(s.next_frame().unwrap(), f);
    }

    #[test]
    fn a_frame_left_unfinished_past_the_inter_octet_timeout_is_dropped() {
        let limit = Duration::from_millis(25);
        let mut s = FrameSplitter::with_inter_octet_timeout(limit);
        let t0 = Instant::now();
        let f = hex(SNRM);
        s.push_at(t0, &f[..4]);
        assert_eq!(s.next_frame(), None);
        assert_eq!(s.partial_deadline(), Some(t0 + limit));
        assert!(!s.expire(t0 + Duration::from_millis(10)));
        assert!(s.expire(t0 + limit));
        // What follows the silence is a frame of its own.
        s.push_at(t0 + limit, &f[4..]);
        s.push_at(t0 + limit, &f);
        assert_eq!(s.next_frame().unwrap(), f);
        // Only the shared closing flag is left: nothing is pending.
        assert_eq!(s.partial_deadline(), None);
        assert_eq!(FrameSplitter::new().partial_deadline(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_buffer_stays_bounded(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 0..8)) {
            let mut s = FrameSplitter::new();
            for c in chunks {
                s.push(&c);
                while s.next_frame().is_some() {}
                prop_assert!(s.buf.len() <= MAX_BUFFER + 700);
            }
        }
    }
}
