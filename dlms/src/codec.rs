//! The reading and writing primitives every decoder and encoder in this crate shares.
//!
//! Decoders read from a [`Reader`], a cursor over a borrowed slice in the manner of rustls'
//! `Reader`: every read is bounds-checked and every failure is a [`DecodeError`] that names
//! what was wrong and the offset where it was found.

use thiserror::Error;

/// What was wrong with the bytes a decoder was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended before the structure did.
    MissingBytes,
    /// Bytes were left over after a complete structure.
    TrailingBytes,
    /// A tag, choice or type byte that this decoder does not know.
    UnknownTag(u8),
    /// A length or count that cannot be right for the input or exceeds a limit.
    BadLength,
    /// Structures nested deeper than the decoder allows.
    TooDeep,
    /// A field whose value is outside what the standard allows.
    InvalidValue(&'static str),
    /// A frame checksum (HCS or FCS) that does not match the frame.
    BadChecksum,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorKind::MissingBytes => write!(f, "missing bytes"),
            ErrorKind::TrailingBytes => write!(f, "trailing bytes"),
            ErrorKind::UnknownTag(t) => write!(f, "unknown tag 0x{t:02X}"),
            ErrorKind::BadLength => write!(f, "length out of range"),
            ErrorKind::TooDeep => write!(f, "nesting too deep"),
            ErrorKind::InvalidValue(what) => write!(f, "invalid {what}"),
            ErrorKind::BadChecksum => write!(f, "bad checksum"),
        }
    }
}

/// A decoding failure: what was wrong and where, as an offset into the decoder's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind} at offset {offset}")]
pub struct DecodeError {
    /// What was wrong.
    pub kind: ErrorKind,
    /// The byte offset in the input where it was found.
    pub offset: usize,
}

/// A cursor over a borrowed byte slice whose reads never panic.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The offset of the next byte to be read.
    #[inline]
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current offset.
    #[inline]
    pub fn error(&self, kind: ErrorKind) -> DecodeError {
        DecodeError {
            kind,
            offset: self.pos,
        }
    }

    /// An error of `kind` at an earlier offset.
    #[inline]
    pub fn error_at(&self, kind: ErrorKind, offset: usize) -> DecodeError {
        DecodeError { kind, offset }
    }

    /// Fails with `TrailingBytes` unless every byte has been read.
    #[inline]
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(ErrorKind::TrailingBytes))
        }
    }

    /// The next byte, without consuming it.
    #[inline]
    pub fn peek(&self) -> Result<u8, DecodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error(ErrorKind::MissingBytes))
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(ErrorKind::MissingBytes));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes every byte that is left.
    #[inline]
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Takes `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a big-endian u16.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u32.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u64.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads an A-XDR boolean: 0x00 is false, any other value is true.
    #[inline]
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// Reads a BER-style length (`< 0x80`, or `0x81 n`, `0x82 nn nn`, `0x84 nnnnnnnn`).
    #[inline]
    pub fn length(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let first = self.u8()?;
        if first < 0x80 {
            return Ok(first as usize);
        }
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return Err(self.error_at(ErrorKind::BadLength, start));
        }
        let mut value = 0usize;
        for b in self.take(n)? {
            value = (value << 8) | *b as usize;
        }
        Ok(value)
    }

    /// Reads a BER-style length and checks that at least that many bytes remain.
    ///
    /// Use this for byte lengths (not element counts) so that no caller allocates more than
    /// the input can fill.
    #[inline]
    pub fn byte_length(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let len = self.length()?;
        if len > self.remaining() {
            return Err(self.error_at(ErrorKind::MissingBytes, start));
        }
        Ok(len)
    }

    /// Reads a length-prefixed byte string (BER-style length, then that many bytes).
    #[inline]
    pub fn length_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.byte_length()?;
        self.take(len)
    }

    /// Reads an element count and checks that the input could hold that many elements of at
    /// least `min_element_len` bytes each, so a hostile count cannot force a large allocation.
    #[inline]
    pub fn count(&mut self, min_element_len: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let count = self.length()?;
        if count.saturating_mul(min_element_len.max(1)) > self.remaining() && count > 0 {
            return Err(self.error_at(ErrorKind::BadLength, start));
        }
        Ok(count)
    }

    /// Reads an A-XDR OPTIONAL marker: `00` absent, `01` present.
    #[inline]
    pub fn optional(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.error_at(ErrorKind::InvalidValue("optional marker"), self.pos - 1)),
        }
    }
}

/// A wire type with a matching encoder and decoder.
pub trait Codec<'a>: Sized {
    /// Appends the encoding.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the reader.
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError>;

    /// About how many bytes the encoding takes, so that [`Self::to_bytes`] allocates once
    /// (0 where a type does not say; the vector then grows as it is written).
    fn size_hint(&self) -> usize {
        0
    }

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one value from `bytes`; trailing bytes are an error.
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::read(&mut r)?;
        r.expect_end()?;
        Ok(value)
    }
}

/// Appends a BER-style length in its shortest form.
pub fn put_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x84);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// How many bytes [`put_length`] writes for `len`.
pub fn length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        _ => 5,
    }
}

/// Appends a BER-style length followed by the bytes.
pub fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_length(out, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_shortest_form() {
        for len in [
            0usize,
            1,
            0x7F,
            0x80,
            0xFF,
            0x100,
            0xFFFF,
            0x10000,
            0xFFFF_FFFF,
        ] {
            let mut out = Vec::new();
            put_length(&mut out, len);
            assert_eq!(out.len(), length_len(len));
            assert_eq!(Reader::new(&out).length().unwrap(), len);
        }
    }

    #[test]
    fn length_with_bad_prefix_is_rejected_at_its_offset() {
        let err = Reader::new(&[0x85, 0, 0, 0, 0, 0]).length().unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadLength);
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn hostile_count_is_rejected_before_allocation() {
        let err = Reader::new(&[0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00])
            .count(1)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadLength);
    }

    #[test]
    fn byte_length_past_the_end_is_missing_bytes() {
        let err = Reader::new(&[0x05, 1, 2]).length_prefixed().unwrap_err();
        assert_eq!(err.kind, ErrorKind::MissingBytes);
    }
}
