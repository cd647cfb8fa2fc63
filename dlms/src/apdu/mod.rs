//! xDLMS APDUs for logical-name referencing, and the one `Apdu` type a peer decodes.
//!
//! Tags and choice numbers per docs/protocol.md#xdlms-apdus (Gurux.DLMS.Net `Command.cs` and
//! `Internal/*Type.cs`, u9n/dlms-cosem `enumerations.py`).

mod action;
mod ciphered;
mod common;
mod errors;
mod gbt;
mod get;
mod notification;
mod set;

pub use action::{ActionOutcome, ActionRequest, ActionResponse};
pub use ciphered::{CipheredApdu, GeneralCiphering, CIPHERED_TAGS};
pub use common::{
    ActionResult, AttributeDescriptor, AttributeWithSelection, DataAccessResult, DataBlockSa,
    GetDataResult, InvokeIdAndPriority, MethodDescriptor, ObisCode, SelectiveAccess,
};
pub use errors::{ConfirmedServiceError, ExceptionResponse, ServiceError, StateError};
pub use gbt::GeneralBlockTransfer;
pub use get::{DataBlockG, GetRequest, GetResponse};
pub use notification::{DataNotification, EventNotification};
pub use set::{SetRequest, SetResponse};

use crate::acse::{Aare, Aarq, Rlre, Rlrq};
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// APDU tags (docs/protocol.md#xdlms-apdus).
pub mod tag {
    /// AARQ
    pub const AARQ: u8 = 0x60;
    /// AARE
    pub const AARE: u8 = 0x61;
    /// RLRQ
    pub const RLRQ: u8 = 0x62;
    /// RLRE
    pub const RLRE: u8 = 0x63;
    /// initiateRequest (inside AARQ user-information)
    pub const INITIATE_REQUEST: u8 = 0x01;
    /// initiateResponse (inside AARE user-information)
    pub const INITIATE_RESPONSE: u8 = 0x08;
    /// confirmedServiceError
    pub const CONFIRMED_SERVICE_ERROR: u8 = 0x0E;
    /// data-notification
    pub const DATA_NOTIFICATION: u8 = 0x0F;
    /// get-request
    pub const GET_REQUEST: u8 = 0xC0;
    /// set-request
    pub const SET_REQUEST: u8 = 0xC1;
    /// event-notification-request
    pub const EVENT_NOTIFICATION_REQUEST: u8 = 0xC2;
    /// action-request
    pub const ACTION_REQUEST: u8 = 0xC3;
    /// get-response
    pub const GET_RESPONSE: u8 = 0xC4;
    /// set-response
    pub const SET_RESPONSE: u8 = 0xC5;
    /// action-response
    pub const ACTION_RESPONSE: u8 = 0xC7;
    /// glo-initiateRequest
    pub const GLO_INITIATE_REQUEST: u8 = 0x21;
    /// glo-initiateResponse
    pub const GLO_INITIATE_RESPONSE: u8 = 0x28;
    /// exception-response
    pub const EXCEPTION_RESPONSE: u8 = 0xD8;
    /// general-glo-ciphering
    pub const GENERAL_GLO_CIPHERING: u8 = 0xDB;
    /// general-ded-ciphering
    pub const GENERAL_DED_CIPHERING: u8 = 0xDC;
    /// general-block-transfer
    pub const GENERAL_BLOCK_TRANSFER: u8 = 0xE0;

    /// The glo- tag for a plain service tag (get/set/event/action request or response).
    pub const fn glo_of(plain: u8) -> Option<u8> {
        match plain {
            0xC0..=0xC5 | 0xC7 => Some(plain + 8),
            INITIATE_REQUEST => Some(GLO_INITIATE_REQUEST),
            INITIATE_RESPONSE => Some(GLO_INITIATE_RESPONSE),
            _ => None,
        }
    }

    /// The ded- tag for a plain service tag.
    pub const fn ded_of(plain: u8) -> Option<u8> {
        match plain {
            0xC0..=0xC5 | 0xC7 => Some(plain + 0x10),
            INITIATE_REQUEST => Some(0x41),
            INITIATE_RESPONSE => Some(0x48),
            _ => None,
        }
    }
}

pub(crate) fn expect_tag(r: &mut Reader<'_>, expected: u8) -> Result<(), DecodeError> {
    let at = r.offset();
    let t = r.u8()?;
    if t == expected {
        Ok(())
    } else {
        Err(r.error_at(ErrorKind::UnknownTag(t), at))
    }
}

/// Any APDU a DLMS peer may receive: ACSE, xDLMS services, errors and ciphered envelopes.
#[derive(Debug, Clone, PartialEq)]
pub enum Apdu<'a> {
    /// AARQ
    Aarq(Aarq),
    /// AARE
    Aare(Aare),
    /// RLRQ
    Rlrq(Rlrq),
    /// RLRE
    Rlre(Rlre),
    /// GET-Request
    GetRequest(GetRequest<'a>),
    /// GET-Response
    GetResponse(GetResponse<'a>),
    /// SET-Request
    SetRequest(SetRequest<'a>),
    /// SET-Response
    SetResponse(SetResponse),
    /// ACTION-Request
    ActionRequest(ActionRequest<'a>),
    /// ACTION-Response
    ActionResponse(ActionResponse<'a>),
    /// Event-Notification-Request
    EventNotification(EventNotification<'a>),
    /// Data-Notification
    DataNotification(DataNotification<'a>),
    /// Exception-Response
    ExceptionResponse(ExceptionResponse),
    /// ConfirmedServiceError
    ConfirmedServiceError(ConfirmedServiceError),
    /// General-Block-Transfer
    GeneralBlockTransfer(GeneralBlockTransfer<'a>),
    /// A glo- or ded- ciphered APDU
    Ciphered(CipheredApdu<'a>),
    /// general-glo-ciphering or general-ded-ciphering
    GeneralCiphering(GeneralCiphering<'a>),
}

impl<'a> Codec<'a> for Apdu<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Apdu::Aarq(a) => a.encode(out),
            Apdu::Aare(a) => a.encode(out),
            Apdu::Rlrq(a) => a.encode(out),
            Apdu::Rlre(a) => a.encode(out),
            Apdu::GetRequest(a) => a.encode(out),
            Apdu::GetResponse(a) => a.encode(out),
            Apdu::SetRequest(a) => a.encode(out),
            Apdu::SetResponse(a) => a.encode(out),
            Apdu::ActionRequest(a) => a.encode(out),
            Apdu::ActionResponse(a) => a.encode(out),
            Apdu::EventNotification(a) => a.encode(out),
            Apdu::DataNotification(a) => a.encode(out),
            Apdu::ExceptionResponse(a) => a.encode(out),
            Apdu::ConfirmedServiceError(a) => a.encode(out),
            Apdu::GeneralBlockTransfer(a) => a.encode(out),
            Apdu::Ciphered(a) => a.encode(out),
            Apdu::GeneralCiphering(a) => a.encode(out),
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match r.peek()? {
            tag::AARQ => Apdu::Aarq(Aarq::read(r)?),
            tag::AARE => Apdu::Aare(Aare::read(r)?),
            tag::RLRQ => Apdu::Rlrq(Rlrq::read(r)?),
            tag::RLRE => Apdu::Rlre(Rlre::read(r)?),
            tag::GET_REQUEST => Apdu::GetRequest(GetRequest::read(r)?),
            tag::GET_RESPONSE => Apdu::GetResponse(GetResponse::read(r)?),
            tag::SET_REQUEST => Apdu::SetRequest(SetRequest::read(r)?),
            tag::SET_RESPONSE => Apdu::SetResponse(SetResponse::read(r)?),
            tag::ACTION_REQUEST => Apdu::ActionRequest(ActionRequest::read(r)?),
            tag::ACTION_RESPONSE => Apdu::ActionResponse(ActionResponse::read(r)?),
            tag::EVENT_NOTIFICATION_REQUEST => Apdu::EventNotification(EventNotification::read(r)?),
            tag::DATA_NOTIFICATION => Apdu::DataNotification(DataNotification::read(r)?),
            tag::EXCEPTION_RESPONSE => Apdu::ExceptionResponse(ExceptionResponse::read(r)?),
            tag::CONFIRMED_SERVICE_ERROR => {
                Apdu::ConfirmedServiceError(ConfirmedServiceError::read(r)?)
            }
            tag::GENERAL_BLOCK_TRANSFER => {
                Apdu::GeneralBlockTransfer(GeneralBlockTransfer::read(r)?)
            }
            tag::GENERAL_GLO_CIPHERING | tag::GENERAL_DED_CIPHERING => {
                Apdu::GeneralCiphering(GeneralCiphering::read(r)?)
            }
            t if CIPHERED_TAGS.contains(&t) => Apdu::Ciphered(CipheredApdu::read(r)?),
            t => return Err(r.error(ErrorKind::UnknownTag(t))),
        })
    }
}

#[cfg(test)]
mod tests;
