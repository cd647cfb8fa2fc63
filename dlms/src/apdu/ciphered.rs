//! The envelopes of ciphered APDUs: glo- and ded- service APDUs, and general-glo/ded-ciphering.
//!
//! Layout per docs/protocol.md#security-suite-0-and-hls-gmac: `tag | length | SC | IC(4) | ciphertext | T`. This module only
//! frames the envelope; `crate::security` computes and checks its contents.

use crate::codec::{put_length, put_length_prefixed, Codec, DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

/// A glo- or ded- ciphered APDU (including glo-/ded-initiateRequest/Response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipheredApdu<'a> {
    /// The ciphered APDU's tag (for example 0xC8 glo-get-request).
    pub tag: u8,
    /// The security control byte.
    pub security_control: u8,
    /// The sender's invocation counter.
    pub invocation_counter: u32,
    /// Ciphertext (or plaintext when only authenticated) followed by the tag, if any.
    pub payload: Cow<'a, [u8]>,
}

/// The tags that carry a [`CipheredApdu`] (docs/protocol.md#xdlms-apdus).
pub const CIPHERED_TAGS: [u8; 18] = [
    0x21, 0x28, 0x41, 0x48, // glo-/ded-initiateRequest/Response
    0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD,
    0xCF, // glo- get/set/event/action requests and responses
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5,
    0xD7, // ded- get/set/event/action requests and responses
];

impl CipheredApdu<'_> {
    /// True for a ded- (dedicated key) APDU.
    pub fn is_dedicated(&self) -> bool {
        matches!(self.tag, 0x41 | 0x48 | 0xD0..=0xD7)
    }
}

impl<'a> Codec<'a> for CipheredApdu<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        put_sc_ic_payload(
            out,
            self.security_control,
            self.invocation_counter,
            &self.payload,
        );
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let tag = r.u8()?;
        if !CIPHERED_TAGS.contains(&tag) {
            return Err(r.error_at(ErrorKind::UnknownTag(tag), at));
        }
        let (security_control, invocation_counter, payload) = read_sc_ic_payload(r)?;
        Ok(CipheredApdu {
            tag,
            security_control,
            invocation_counter,
            payload,
        })
    }
}

/// Appends the ciphered content: its length, then SC ‖ IC ‖ payload.
fn put_sc_ic_payload(out: &mut Vec<u8>, sc: u8, ic: u32, payload: &[u8]) {
    put_length(out, 5 + payload.len());
    out.push(sc);
    out.extend_from_slice(&ic.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Reads the ciphered content: its length, then SC ‖ IC ‖ payload.
fn read_sc_ic_payload<'a>(r: &mut Reader<'a>) -> Result<(u8, u32, Cow<'a, [u8]>), DecodeError> {
    let len_at = r.offset();
    let content = r.length_prefixed()?;
    let mut inner = Reader::new(content);
    let sc = inner
        .u8()
        .map_err(|_| r.error_at(ErrorKind::BadLength, len_at))?;
    let ic = inner
        .u32()
        .map_err(|_| r.error_at(ErrorKind::BadLength, len_at))?;
    Ok((sc, ic, Cow::Borrowed(inner.rest())))
}

/// general-glo-ciphering (0xDB) or general-ded-ciphering (0xDC): a ciphered APDU with the
/// sender's system title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralCiphering<'a> {
    /// True for general-ded-ciphering.
    pub dedicated: bool,
    /// The sender's system title.
    pub system_title: Cow<'a, [u8]>,
    /// The security control byte.
    pub security_control: u8,
    /// The sender's invocation counter.
    pub invocation_counter: u32,
    /// Ciphertext (or plaintext when only authenticated) followed by the tag, if any.
    pub payload: Cow<'a, [u8]>,
}

impl<'a> Codec<'a> for GeneralCiphering<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(if self.dedicated {
            super::tag::GENERAL_DED_CIPHERING
        } else {
            super::tag::GENERAL_GLO_CIPHERING
        });
        put_length_prefixed(out, &self.system_title);
        put_sc_ic_payload(
            out,
            self.security_control,
            self.invocation_counter,
            &self.payload,
        );
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let dedicated = match r.u8()? {
            super::tag::GENERAL_GLO_CIPHERING => false,
            super::tag::GENERAL_DED_CIPHERING => true,
            t => return Err(r.error_at(ErrorKind::UnknownTag(t), at)),
        };
        let system_title = Cow::Borrowed(r.length_prefixed()?);
        let (security_control, invocation_counter, payload) = read_sc_ic_payload(r)?;
        Ok(GeneralCiphering {
            dedicated,
            system_title,
            security_control,
            invocation_counter,
            payload,
        })
    }
}
