//! The small part of BER that ACSE APDUs need: single-byte tags and definite lengths.

use crate::codec::{put_length, DecodeError, ErrorKind, Reader};

/// Appends `tag`, the BER length of `content`, then `content`.
pub fn put_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    put_length(out, content.len());
    out.extend_from_slice(content);
}

/// Reads a TLV with the given tag and returns its content.
pub fn read_tlv<'a>(r: &mut Reader<'a>, tag: u8) -> Result<&'a [u8], DecodeError> {
    let at = r.offset();
    let t = r.u8()?;
    if t != tag {
        return Err(r.error_at(ErrorKind::UnknownTag(t), at));
    }
    r.length_prefixed()
}

/// Reads any TLV: its tag, the offset of its content, and the content.
pub fn read_any_tlv<'a>(r: &mut Reader<'a>) -> Result<(u8, usize, &'a [u8]), DecodeError> {
    let tag = r.u8()?;
    let content = r.length_prefixed()?;
    let content_at = r.offset() - content.len();
    Ok((tag, content_at, content))
}

/// Reads the content of a TLV nested inside `content` (which starts at `base` in the APDU),
/// requiring it to fill `content` exactly; errors carry APDU offsets.
pub fn nested(content: &[u8], base: usize, tag: u8) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(content);
    let inner = read_tlv(&mut r, tag).map_err(|e| shift(e, base))?;
    r.expect_end().map_err(|e| shift(e, base))?;
    Ok(inner)
}

/// Moves an error found in a sub-slice to the offset of that sub-slice in the APDU.
pub fn shift(e: DecodeError, base: usize) -> DecodeError {
    DecodeError {
        kind: e.kind,
        offset: e.offset + base,
    }
}

/// The DLMS UA object-identifier prefix of application context names (2.16.756.5.8.1).
pub const CONTEXT_PREFIX: [u8; 6] = [0x60, 0x85, 0x74, 0x05, 0x08, 0x01];
/// The DLMS UA object-identifier prefix of mechanism names (2.16.756.5.8.2).
pub const MECHANISM_PREFIX: [u8; 6] = [0x60, 0x85, 0x74, 0x05, 0x08, 0x02];

/// The last arc of a DLMS UA object identifier with the given prefix.
pub fn oid_arc(oid: &[u8], prefix: &[u8; 6], base: usize) -> Result<u8, DecodeError> {
    match oid {
        [p @ .., arc] if p == prefix => Ok(*arc),
        _ => Err(DecodeError {
            kind: ErrorKind::InvalidValue("object identifier"),
            offset: base,
        }),
    }
}

/// The object identifier `prefix.arc` as an OBJECT IDENTIFIER TLV.
pub fn oid(prefix: &[u8; 6], arc: u8) -> Vec<u8> {
    let mut v = vec![0x06, 0x07];
    v.extend_from_slice(prefix);
    v.push(arc);
    v
}
