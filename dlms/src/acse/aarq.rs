//! AARQ: the client's association request (docs/protocol.md#association, #test-vectors V1).

use super::fields::{self, Fields};
use super::initiate::RequestUserInformation;
use crate::codec::{Codec, DecodeError, Reader};

/// Application context names (the last arc of 2.16.756.5.8.1.x).
pub mod context {
    /// Logical name referencing, no ciphering.
    pub const LN: u8 = 1;
    /// Short name referencing, no ciphering (UNCONFIRMED value, docs/protocol.md#association).
    pub const SN: u8 = 2;
    /// Logical name referencing with ciphering.
    pub const LN_CIPHERED: u8 = 3;
    /// Short name referencing with ciphering (UNCONFIRMED value, docs/protocol.md#association).
    pub const SN_CIPHERED: u8 = 4;
}

/// Authentication mechanism names (the last arc of 2.16.756.5.8.2.x).
pub mod mechanism {
    /// Lowest level security: no authentication.
    pub const LOWEST: u8 = 0;
    /// Low level security: a password.
    pub const LOW: u8 = 1;
    /// High level security, manufacturer specific.
    pub const HIGH: u8 = 2;
    /// HLS with MD5.
    pub const HIGH_MD5: u8 = 3;
    /// HLS with SHA-1.
    pub const HIGH_SHA1: u8 = 4;
    /// HLS with GMAC (mechanism 5).
    pub const HIGH_GMAC: u8 = 5;
    /// HLS with SHA-256.
    pub const HIGH_SHA256: u8 = 6;
    /// HLS with ECDSA.
    pub const HIGH_ECDSA: u8 = 7;
}

/// AARQ (tag 0x60).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aarq {
    /// Application context name (see [`context`]).
    pub application_context: u8,
    /// calling-AP-title: the client's system title.
    pub calling_ap_title: Option<Vec<u8>>,
    /// sender-acse-requirements: authentication functional unit requested.
    pub sender_acse_requirements: bool,
    /// mechanism-name (see [`mechanism`]).
    pub mechanism: Option<u8>,
    /// calling-authentication-value: the password (LLS) or CtoS challenge (HLS).
    pub calling_authentication_value: Option<Vec<u8>>,
    /// user-information: the InitiateRequest, plain or ciphered.
    pub user_information: Option<RequestUserInformation>,
}

impl Codec<'_> for Aarq {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        fields::put_context(&mut body, self.application_context);
        if let Some(t) = &self.calling_ap_title {
            fields::put_title(&mut body, 0xA6, t);
        }
        if self.sender_acse_requirements {
            fields::put_requirements(&mut body, 0x8A);
        }
        if let Some(m) = self.mechanism {
            fields::put_mechanism(&mut body, 0x8B, m);
        }
        if let Some(v) = &self.calling_authentication_value {
            fields::put_auth_value(&mut body, 0xAC, v);
        }
        if let Some(u) = &self.user_information {
            fields::put_user_information(&mut body, u);
        }
        super::ber::put_tlv(out, crate::apdu::tag::AARQ, &body);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = Fields::read(r, crate::apdu::tag::AARQ)?;
        let end = r.offset();
        let (at, c) = f.require(0xA1, end)?;
        Ok(Aarq {
            application_context: fields::context(at, c)?,
            calling_ap_title: f
                .get(0xA6)
                .map(|(at, c)| fields::title(at, c))
                .transpose()?,
            sender_acse_requirements: f
                .get(0x8A)
                .map(|(at, c)| fields::requirements(at, c))
                .transpose()?
                .unwrap_or(false),
            mechanism: f
                .get(0x8B)
                .map(|(at, c)| fields::mechanism(at, c))
                .transpose()?,
            calling_authentication_value: f
                .get(0xAC)
                .map(|(at, c)| fields::auth_value(at, c))
                .transpose()?,
            user_information: f
                .get(0xBE)
                .map(|(at, c)| fields::user_information(at, c))
                .transpose()?,
        })
    }
}
