//! RLRQ and RLRE: releasing an association (docs/protocol.md#association).

use super::fields::{self, Fields};
use super::initiate::{RequestUserInformation, ResponseUserInformation};
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

fn put_reason(body: &mut Vec<u8>, reason: Option<u8>) {
    if let Some(reason) = reason {
        super::ber::put_tlv(body, 0x80, &[reason]);
    }
}

fn reason(f: &Fields<'_>) -> Result<Option<u8>, DecodeError> {
    f.get(0x80)
        .map(|(at, c)| match c {
            [v] => Ok(*v),
            _ => Err(DecodeError {
                kind: ErrorKind::BadLength,
                offset: at,
            }),
        })
        .transpose()
}

/// RLRQ (tag 0x62): release request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlrq {
    /// Release-request-reason: 0 normal, 1 urgent, 30 user-defined.
    pub reason: Option<u8>,
    /// user-information: an InitiateRequest (for ciphered contexts), if any.
    pub user_information: Option<RequestUserInformation>,
}

impl Codec<'_> for Rlrq {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        put_reason(&mut body, self.reason);
        if let Some(u) = &self.user_information {
            fields::put_user_information(&mut body, u);
        }
        super::ber::put_tlv(out, crate::apdu::tag::RLRQ, &body);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = Fields::read(r, crate::apdu::tag::RLRQ)?;
        Ok(Rlrq {
            reason: reason(&f)?,
            user_information: f
                .get(0xBE)
                .map(|(at, c)| fields::user_information(at, c))
                .transpose()?,
        })
    }
}

/// RLRE (tag 0x63): release response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlre {
    /// Release-response-reason: 0 normal, 1 not-finished, 30 user-defined.
    pub reason: Option<u8>,
    /// user-information: an InitiateResponse (for ciphered contexts), if any.
    pub user_information: Option<ResponseUserInformation>,
}

impl Codec<'_> for Rlre {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        put_reason(&mut body, self.reason);
        if let Some(u) = &self.user_information {
            fields::put_user_information(&mut body, u);
        }
        super::ber::put_tlv(out, crate::apdu::tag::RLRE, &body);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = Fields::read(r, crate::apdu::tag::RLRE)?;
        Ok(Rlre {
            reason: reason(&f)?,
            user_information: f
                .get(0xBE)
                .map(|(at, c)| fields::user_information(at, c))
                .transpose()?,
        })
    }
}
