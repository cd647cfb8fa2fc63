//! `EncodedData`: an A-XDR value kept as its validated encoding.
//!
//! APDUs carry their values this way. Decoding an APDU then only walks each value to check it
//! and find its end, without building a tree or allocating, and an image block's payload stays
//! where it arrived. Whoever needs the value asks for it: [`EncodedData::decode`] for a `Data`
//! tree, or the typed readers (a meter's hot path reads an image block's number and bytes
//! without building anything).

use super::{tag, CompactArray, Data, MAX_DEPTH};
use crate::codec::{DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

/// A validated A-XDR encoding of exactly one value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncodedData<'a>(Cow<'a, [u8]>);

impl<'a> EncodedData<'a> {
    /// Reads one value's encoding, checking it without building it.
    #[inline]
    pub fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let mut probe = r.clone();
        skip(&mut probe, 0)?;
        let len = probe.offset() - start;
        Ok(EncodedData(Cow::Borrowed(r.take(len)?)))
    }

    /// Exactly one value's encoding from `bytes`; trailing bytes are an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::read(&mut r)?;
        r.expect_end()?;
        Ok(value)
    }

    /// The encoding of `value`.
    pub fn new(value: &Data<'_>) -> EncodedData<'static> {
        EncodedData(Cow::Owned(value.to_bytes()))
    }

    /// The same encoding, borrowed (no copy).
    pub fn borrowed(&self) -> EncodedData<'_> {
        EncodedData(Cow::Borrowed(&self.0))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The type tag.
    pub fn tag(&self) -> u8 {
        self.0[0]
    }

    /// The value as a `Data` tree, borrowing its byte strings.
    pub fn decode(&self) -> Data<'_> {
        Data::decode(&self.0).expect("validated when read or built from a Data")
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }

    /// Copies borrowed bytes so the value outlives its input.
    pub fn into_owned(self) -> EncodedData<'static> {
        EncodedData(Cow::Owned(self.0.into_owned()))
    }

    /// A reader over the elements of a structure of `n` elements, or `None` for anything else.
    pub fn structure(&self, n: usize) -> Option<Reader<'_>> {
        let mut r = Reader::new(&self.0);
        (r.u8().ok()? == tag::STRUCTURE && r.length().ok()? == n).then_some(r)
    }
}

impl<'a> From<Data<'a>> for EncodedData<'static> {
    fn from(value: Data<'a>) -> Self {
        EncodedData::new(&value)
    }
}

impl std::fmt::Debug for EncodedData<'_> {
    /// Shows the decoded value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.decode().fmt(f)
    }
}

/// The encoded size of the value of a fixed-size type, or `None` for variable-size types.
pub(crate) fn fixed_len(t: u8) -> Option<usize> {
    Some(match t {
        tag::NULL => 0,
        tag::BOOLEAN | tag::BCD | tag::INTEGER | tag::UNSIGNED | tag::ENUM => 1,
        tag::LONG | tag::LONG_UNSIGNED => 2,
        tag::DOUBLE_LONG | tag::DOUBLE_LONG_UNSIGNED | tag::FLOAT32 | tag::TIME => 4,
        tag::DATE => 5,
        tag::LONG64 | tag::LONG64_UNSIGNED | tag::FLOAT64 => 8,
        tag::DATE_TIME => 12,
        _ => return None,
    })
}

/// Walks one value: checks it as the decoder would, without building it.
fn skip(r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    let start = r.offset();
    let t = r.u8()?;
    if let Some(n) = fixed_len(t) {
        r.take(n)?;
        return Ok(());
    }
    match t {
        tag::ARRAY | tag::STRUCTURE => {
            if depth >= MAX_DEPTH {
                return Err(r.error_at(ErrorKind::TooDeep, start));
            }
            for _ in 0..r.count(1)? {
                skip(r, depth + 1)?;
            }
        }
        tag::BIT_STRING => {
            let bits_at = r.offset();
            let bits = r.length()?;
            r.take(bits.div_ceil(8))
                .map_err(|_| r.error_at(ErrorKind::MissingBytes, bits_at))?;
        }
        tag::OCTET_STRING | tag::VISIBLE_STRING | tag::UTF8_STRING => {
            r.length_prefixed()?;
        }
        tag::COMPACT_ARRAY => {
            CompactArray::read_body(r, depth)?;
        }
        other => return Err(r.error_at(ErrorKind::UnknownTag(other), start)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_stops_at_the_end_of_the_value_and_borrows() {
        let bytes = [0x02, 0x02, 0x06, 0, 0, 0, 41, 0x09, 0x02, 0xAA, 0xBB, 0xFF];
        let mut r = Reader::new(&bytes);
        let v = EncodedData::read(&mut r).unwrap();
        assert_eq!(r.offset(), 11);
        assert_eq!(v.as_bytes().as_ptr(), bytes.as_ptr());
        assert_eq!(
            v.decode(),
            Data::Structure(vec![
                Data::DoubleLongUnsigned(41),
                Data::octets(&[0xAA, 0xBB])
            ])
        );
        let mut s = v.structure(2).unwrap();
        assert_eq!(s.u8().unwrap(), tag::DOUBLE_LONG_UNSIGNED);
        assert!(v.structure(3).is_none());
    }

    #[test]
    fn walking_rejects_what_decoding_rejects() {
        for bad in [
            &[0x09, 0x05, 0x00][..],
            &[0xFF],
            &[0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00],
        ] {
            let walk = EncodedData::read(&mut Reader::new(bad)).unwrap_err();
            let decode = Data::decode(bad).unwrap_err();
            assert_eq!(walk.kind, decode.kind);
        }
    }
}
