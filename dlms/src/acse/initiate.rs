//! xDLMS InitiateRequest and InitiateResponse, carried in ACSE user-information
//! (docs/protocol.md#association, u9n `initiate_request.py`).

use crate::apdu::{tag, CipheredApdu, ConfirmedServiceError};
use crate::codec::{put_length_prefixed, Codec, DecodeError, ErrorKind, Reader};
use crate::conformance::Conformance;

/// InitiateRequest: what a client proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateRequest {
    /// The dedicated key for ded- ciphering, if any.
    pub dedicated_key: Option<Vec<u8>>,
    /// response-allowed (default TRUE; FALSE for unconfirmed associations).
    pub response_allowed: bool,
    /// proposed-quality-of-service, if any.
    pub proposed_quality_of_service: Option<i8>,
    /// proposed-dlms-version-number (6 today).
    pub proposed_dlms_version: u8,
    /// proposed-conformance.
    pub proposed_conformance: Conformance,
    /// client-max-receive-pdu-size (0 means no limit).
    pub client_max_receive_pdu_size: u16,
}

impl Default for InitiateRequest {
    fn default() -> Self {
        InitiateRequest {
            dedicated_key: None,
            response_allowed: true,
            proposed_quality_of_service: None,
            proposed_dlms_version: 6,
            proposed_conformance: Conformance::empty(),
            client_max_receive_pdu_size: 0xFFFF,
        }
    }
}

impl Codec<'_> for InitiateRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::INITIATE_REQUEST);
        match &self.dedicated_key {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                put_length_prefixed(out, k);
            }
        }
        if self.response_allowed {
            out.push(0);
        } else {
            out.extend_from_slice(&[1, 0]);
        }
        match self.proposed_quality_of_service {
            None => out.push(0),
            Some(q) => out.extend_from_slice(&[1, q as u8]),
        }
        out.push(self.proposed_dlms_version);
        self.proposed_conformance.encode(out);
        out.extend_from_slice(&self.client_max_receive_pdu_size.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        crate::apdu::expect_tag(r, tag::INITIATE_REQUEST)?;
        let dedicated_key = if r.optional()? {
            Some(r.length_prefixed()?.to_vec())
        } else {
            None
        };
        let response_allowed = if r.optional()? { r.bool()? } else { true };
        let proposed_quality_of_service = if r.optional()? {
            Some(r.u8()? as i8)
        } else {
            None
        };
        Ok(InitiateRequest {
            dedicated_key,
            response_allowed,
            proposed_quality_of_service,
            proposed_dlms_version: r.u8()?,
            proposed_conformance: Conformance::read(r)?,
            client_max_receive_pdu_size: r.u16()?,
        })
    }
}

/// The VAA name of a logical-name association.
pub const VAA_NAME_LN: u16 = 0x0007;

/// InitiateResponse: what the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateResponse {
    /// negotiated-quality-of-service, if any.
    pub negotiated_quality_of_service: Option<i8>,
    /// negotiated-dlms-version-number.
    pub negotiated_dlms_version: u8,
    /// negotiated-conformance.
    pub negotiated_conformance: Conformance,
    /// server-max-receive-pdu-size.
    pub server_max_receive_pdu_size: u16,
    /// vaa-name (0x0007 for LN referencing).
    pub vaa_name: u16,
}

impl Codec<'_> for InitiateResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::INITIATE_RESPONSE);
        match self.negotiated_quality_of_service {
            None => out.push(0),
            Some(q) => out.extend_from_slice(&[1, q as u8]),
        }
        out.push(self.negotiated_dlms_version);
        self.negotiated_conformance.encode(out);
        out.extend_from_slice(&self.server_max_receive_pdu_size.to_be_bytes());
        out.extend_from_slice(&self.vaa_name.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        crate::apdu::expect_tag(r, tag::INITIATE_RESPONSE)?;
        let negotiated_quality_of_service = if r.optional()? {
            Some(r.u8()? as i8)
        } else {
            None
        };
        Ok(InitiateResponse {
            negotiated_quality_of_service,
            negotiated_dlms_version: r.u8()?,
            negotiated_conformance: Conformance::read(r)?,
            server_max_receive_pdu_size: r.u16()?,
            vaa_name: r.u16()?,
        })
    }
}

/// What a client's user-information carries (AARQ, RLRQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestUserInformation {
    /// A plain InitiateRequest.
    Initiate(InitiateRequest),
    /// A glo- or ded-initiateRequest.
    Ciphered(CipheredApdu<'static>),
}

/// What a server's user-information carries (AARE, RLRE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseUserInformation {
    /// A plain InitiateResponse.
    Initiate(InitiateResponse),
    /// A ConfirmedServiceError (InitiateError) for a refused association.
    Error(ConfirmedServiceError),
    /// A glo- or ded-initiateResponse.
    Ciphered(CipheredApdu<'static>),
}

fn read_ciphered(r: &mut Reader<'_>) -> Result<CipheredApdu<'static>, DecodeError> {
    let c = CipheredApdu::read(r)?;
    Ok(CipheredApdu {
        payload: c.payload.into_owned().into(),
        ..c
    })
}

impl Codec<'_> for RequestUserInformation {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RequestUserInformation::Initiate(i) => i.encode(out),
            RequestUserInformation::Ciphered(c) => c.encode(out),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.peek()? {
            tag::INITIATE_REQUEST => Ok(Self::Initiate(InitiateRequest::read(r)?)),
            tag::GLO_INITIATE_REQUEST | 0x41 => Ok(Self::Ciphered(read_ciphered(r)?)),
            t => Err(r.error(ErrorKind::UnknownTag(t))),
        }
    }
}

impl Codec<'_> for ResponseUserInformation {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ResponseUserInformation::Initiate(i) => i.encode(out),
            ResponseUserInformation::Error(e) => e.encode(out),
            ResponseUserInformation::Ciphered(c) => c.encode(out),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.peek()? {
            tag::INITIATE_RESPONSE => Ok(Self::Initiate(InitiateResponse::read(r)?)),
            tag::CONFIRMED_SERVICE_ERROR => Ok(Self::Error(ConfirmedServiceError::read(r)?)),
            tag::GLO_INITIATE_RESPONSE | 0x48 => Ok(Self::Ciphered(read_ciphered(r)?)),
            t => Err(r.error(ErrorKind::UnknownTag(t))),
        }
    }
}
