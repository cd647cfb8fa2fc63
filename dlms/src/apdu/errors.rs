//! Exception-Response and ConfirmedServiceError: how a server refuses a whole APDU.

use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// Exception-Response state-error (docs/protocol.md#xdlms-apdus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateError {
    /// service-not-allowed (1)
    ServiceNotAllowed,
    /// service-unknown (2)
    ServiceUnknown,
}

/// Exception-Response service-error (docs/protocol.md#xdlms-apdus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceError {
    /// operation-not-possible (1)
    OperationNotPossible,
    /// service-not-supported (2)
    ServiceNotSupported,
    /// other-reason (3)
    OtherReason,
    /// pdu-too-long (4)
    PduTooLong,
    /// deciphering-error (5)
    DecipheringError,
    /// invocation-counter-error (6), with the server's current invocation counter.
    InvocationCounterError(u32),
}

/// Exception-Response (tag 0xD8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExceptionResponse {
    /// The state error.
    pub state_error: StateError,
    /// The service error.
    pub service_error: ServiceError,
}

impl ExceptionResponse {
    /// The answer to an APDU longer than the receiver's max-receive-pdu-size.
    pub const PDU_TOO_LONG: ExceptionResponse = ExceptionResponse {
        state_error: StateError::ServiceNotAllowed,
        service_error: ServiceError::PduTooLong,
    };
}

impl Codec<'_> for ExceptionResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::EXCEPTION_RESPONSE);
        out.push(match self.state_error {
            StateError::ServiceNotAllowed => 1,
            StateError::ServiceUnknown => 2,
        });
        match self.service_error {
            ServiceError::OperationNotPossible => out.push(1),
            ServiceError::ServiceNotSupported => out.push(2),
            ServiceError::OtherReason => out.push(3),
            ServiceError::PduTooLong => out.push(4),
            ServiceError::DecipheringError => out.push(5),
            ServiceError::InvocationCounterError(ic) => {
                out.push(6);
                out.extend_from_slice(&ic.to_be_bytes());
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::EXCEPTION_RESPONSE)?;
        let at = r.offset();
        let state_error = match r.u8()? {
            1 => StateError::ServiceNotAllowed,
            2 => StateError::ServiceUnknown,
            _ => return Err(r.error_at(ErrorKind::InvalidValue("state-error"), at)),
        };
        let at = r.offset();
        let service_error = match r.u8()? {
            1 => ServiceError::OperationNotPossible,
            2 => ServiceError::ServiceNotSupported,
            3 => ServiceError::OtherReason,
            4 => ServiceError::PduTooLong,
            5 => ServiceError::DecipheringError,
            6 => ServiceError::InvocationCounterError(r.u32()?),
            _ => return Err(r.error_at(ErrorKind::InvalidValue("service-error"), at)),
        };
        Ok(ExceptionResponse {
            state_error,
            service_error,
        })
    }
}

/// ConfirmedServiceError (tag 0x0E): which service failed and why.
///
/// `service` is the ConfirmedServiceError choice (1 initiateError, 2 getStatus, ... 5 read,
/// 6 write); `class` the ServiceError choice (0 application-reference, 1 hardware-resource,
/// 2 vde-state-error, 3 service, 4 definition, 5 access, 6 initiate, 7 load-data-set,
/// 8 change-scope, 9 task, 10 other); `value` the enumerated reason within that class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfirmedServiceError {
    /// The failed service.
    pub service: u8,
    /// The error class.
    pub class: u8,
    /// The reason within the class.
    pub value: u8,
}

impl ConfirmedServiceError {
    /// initiateError service choice.
    pub const INITIATE_ERROR: u8 = 1;
    /// The ServiceError class "initiate".
    pub const CLASS_INITIATE: u8 = 6;
    /// The ServiceError class "service".
    pub const CLASS_SERVICE: u8 = 3;
    /// initiate: other (0).
    pub const INITIATE_OTHER: u8 = 0;
    /// initiate: dlms-version-too-low (1).
    pub const DLMS_VERSION_TOO_LOW: u8 = 1;
    /// initiate: incompatible-conformance (2).
    pub const INCOMPATIBLE_CONFORMANCE: u8 = 2;
    /// initiate: pdu-size-too-short (3).
    pub const PDU_SIZE_TOO_SHORT: u8 = 3;
    /// initiate: refused-by-the-VDE-handler (4).
    pub const REFUSED_BY_VDE_HANDLER: u8 = 4;

    /// An InitiateError with the given initiate reason.
    pub const fn initiate(reason: u8) -> Self {
        ConfirmedServiceError {
            service: Self::INITIATE_ERROR,
            class: Self::CLASS_INITIATE,
            value: reason,
        }
    }
}

impl Codec<'_> for ConfirmedServiceError {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            super::tag::CONFIRMED_SERVICE_ERROR,
            self.service,
            self.class,
            self.value,
        ]);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::CONFIRMED_SERVICE_ERROR)?;
        let [service, class, value] = r.array()?;
        if class > 10 {
            return Err(r.error_at(
                ErrorKind::InvalidValue("service-error class"),
                r.offset() - 2,
            ));
        }
        Ok(ConfirmedServiceError {
            service,
            class,
            value,
        })
    }
}
