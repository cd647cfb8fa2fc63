//! Encoders and decoders of the ACSE fields AARQ, AARE, RLRQ and RLRE share
//! (docs/protocol.md#association).

use super::ber::{
    nested, oid, oid_arc, put_tlv, read_any_tlv, shift, CONTEXT_PREFIX, MECHANISM_PREFIX,
};
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// The fields of a constructed ACSE APDU, in the order they came, with their content offsets.
pub struct Fields<'a> {
    items: Vec<(u8, usize, &'a [u8])>,
}

impl<'a> Fields<'a> {
    /// Reads `outer_tag`, its length, and every TLV inside; the content must be exactly TLVs.
    pub fn read(r: &mut Reader<'a>, outer_tag: u8) -> Result<Self, DecodeError> {
        crate::apdu::expect_tag(r, outer_tag)?;
        let body = r.length_prefixed()?;
        let base = r.offset() - body.len();
        let mut inner = Reader::new(body);
        let mut items = Vec::new();
        while !inner.is_empty() {
            let (tag, at, content) = read_any_tlv(&mut inner).map_err(|e| shift(e, base))?;
            if items.iter().any(|(t, _, _)| *t == tag) {
                return Err(DecodeError {
                    kind: ErrorKind::InvalidValue("repeated ACSE field"),
                    offset: base + at - 2,
                });
            }
            items.push((tag, base + at, content));
        }
        Ok(Fields { items })
    }

    /// The content and its offset of the field with `tag`, if present.
    pub fn get(&self, tag: u8) -> Option<(usize, &'a [u8])> {
        self.items
            .iter()
            .find(|(t, _, _)| *t == tag)
            .map(|(_, at, c)| (*at, *c))
    }

    /// The content of a required field, or an error at `end` naming it.
    pub fn require(&self, tag: u8, end: usize) -> Result<(usize, &'a [u8]), DecodeError> {
        self.get(tag).ok_or(DecodeError {
            kind: ErrorKind::InvalidValue("missing required ACSE field"),
            offset: end,
        })
    }
}

/// Appends `[tag] { OBJECT IDENTIFIER prefix.arc }`.
pub fn put_name(out: &mut Vec<u8>, tag: u8, prefix: &[u8; 6], arc: u8) {
    put_tlv(out, tag, &oid(prefix, arc));
}

/// Appends an application-context-name field `A1`.
pub fn put_context(out: &mut Vec<u8>, context: u8) {
    put_name(out, 0xA1, &CONTEXT_PREFIX, context);
}

/// Appends a mechanism-name field (`8B` in AARQ, `89` in AARE): the OID content is implicit.
pub fn put_mechanism(out: &mut Vec<u8>, tag: u8, mechanism: u8) {
    let mut content = MECHANISM_PREFIX.to_vec();
    content.push(mechanism);
    put_tlv(out, tag, &content);
}

/// Reads the arc of an application-context-name field's content.
pub fn context(at: usize, content: &[u8]) -> Result<u8, DecodeError> {
    oid_arc(nested(content, at, 0x06)?, &CONTEXT_PREFIX, at)
}

/// Reads the arc of a mechanism-name field's content.
pub fn mechanism(at: usize, content: &[u8]) -> Result<u8, DecodeError> {
    oid_arc(content, &MECHANISM_PREFIX, at)
}

/// Appends an AP-title field (`A6` calling, `A4` responding) holding an octet-string.
pub fn put_title(out: &mut Vec<u8>, tag: u8, title: &[u8]) {
    let mut content = Vec::new();
    put_tlv(&mut content, 0x04, title);
    put_tlv(out, tag, &content);
}

/// Reads an AP-title field's content.
pub fn title(at: usize, content: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(nested(content, at, 0x04)?.to_vec())
}

/// Appends an ACSE-requirements field (`8A` sender, `88` responder) with authentication set.
pub fn put_requirements(out: &mut Vec<u8>, tag: u8) {
    put_tlv(out, tag, &[0x07, 0x80]);
}

/// True if an ACSE-requirements bit string has the authentication bit set.
pub fn requirements(at: usize, content: &[u8]) -> Result<bool, DecodeError> {
    match content {
        [_unused, first, ..] => Ok(first & 0x80 != 0),
        _ => Err(DecodeError {
            kind: ErrorKind::BadLength,
            offset: at,
        }),
    }
}

/// Appends an authentication-value field (`AC` calling, `AA` responding) as charstring [0].
pub fn put_auth_value(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    let mut content = Vec::new();
    put_tlv(&mut content, 0x80, value);
    put_tlv(out, tag, &content);
}

/// Reads an authentication-value field's content.
pub fn auth_value(at: usize, content: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(nested(content, at, 0x80)?.to_vec())
}

/// Appends a user-information field `BE { OCTET STRING xdlms-apdu }`.
pub fn put_user_information<'a>(out: &mut Vec<u8>, info: &impl Codec<'a>) {
    let mut content = Vec::new();
    put_tlv(&mut content, 0x04, &info.to_bytes());
    put_tlv(out, 0xBE, &content);
}

/// Reads a user-information field's content.
pub fn user_information<T: for<'b> Codec<'b>>(at: usize, content: &[u8]) -> Result<T, DecodeError> {
    let inner = nested(content, at, 0x04)?;
    let inner_at = at + content.len() - inner.len();
    T::decode(inner).map_err(|e| shift(e, inner_at))
}

/// Appends a single-integer field `[tag] { INTEGER v }` (AARE result) or `[tag] v` (reasons).
pub fn put_integer(out: &mut Vec<u8>, tag: u8, value: u8) {
    put_tlv(out, tag, &[0x02, 0x01, value]);
}

/// Reads the value of a `[tag] { INTEGER v }` field's content.
pub fn integer(at: usize, content: &[u8]) -> Result<u8, DecodeError> {
    match nested(content, at, 0x02)? {
        [v] => Ok(*v),
        _ => Err(DecodeError {
            kind: ErrorKind::BadLength,
            offset: at,
        }),
    }
}
