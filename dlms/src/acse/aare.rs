//! AARE: the server's association response (docs/protocol.md#association, #test-vectors V2).

use super::fields::{self, Fields};
use super::initiate::ResponseUserInformation;
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// association-result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssociationResult {
    /// accepted (0)
    Accepted,
    /// rejected-permanent (1)
    RejectedPermanent,
    /// rejected-transient (2)
    RejectedTransient,
}

/// acse-service-user diagnostics (docs/protocol.md#association, u9n `AcseServiceUserDiagnostics`).
pub mod user_diagnostic {
    /// null
    pub const NULL: u8 = 0;
    /// no-reason-given
    pub const NO_REASON_GIVEN: u8 = 1;
    /// application-context-name-not-supported
    pub const APPLICATION_CONTEXT_NAME_NOT_SUPPORTED: u8 = 2;
    /// authentication-mechanism-name-not-recognised
    pub const MECHANISM_NAME_NOT_RECOGNISED: u8 = 11;
    /// authentication-mechanism-name-required
    pub const MECHANISM_NAME_REQUIRED: u8 = 12;
    /// authentication-failure
    pub const AUTHENTICATION_FAILURE: u8 = 13;
    /// authentication-required
    pub const AUTHENTICATION_REQUIRED: u8 = 14;
}

/// result-source-diagnostic: who gives the diagnostic, and the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceDiagnostic {
    /// acse-service-user (see [`user_diagnostic`]).
    User(u8),
    /// acse-service-provider (0 null, 1 no-reason-given, 2 no-common-acse-version).
    Provider(u8),
}

impl std::fmt::Display for AssociationResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AssociationResult::Accepted => "accepted",
            AssociationResult::RejectedPermanent => "rejected-permanent",
            AssociationResult::RejectedTransient => "rejected-transient",
        })
    }
}

impl std::fmt::Display for SourceDiagnostic {
    /// `acse-service-user authentication-failure (13)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (source, value, name) = match *self {
            SourceDiagnostic::User(v) => (
                "acse-service-user",
                v,
                match v {
                    user_diagnostic::NULL => "null",
                    user_diagnostic::NO_REASON_GIVEN => "no-reason-given",
                    user_diagnostic::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED => {
                        "application-context-name-not-supported"
                    }
                    user_diagnostic::MECHANISM_NAME_NOT_RECOGNISED => {
                        "authentication-mechanism-name-not-recognised"
                    }
                    user_diagnostic::MECHANISM_NAME_REQUIRED => {
                        "authentication-mechanism-name-required"
                    }
                    user_diagnostic::AUTHENTICATION_FAILURE => "authentication-failure",
                    user_diagnostic::AUTHENTICATION_REQUIRED => "authentication-required",
                    _ => "unknown",
                },
            ),
            SourceDiagnostic::Provider(v) => (
                "acse-service-provider",
                v,
                match v {
                    0 => "null",
                    1 => "no-reason-given",
                    2 => "no-common-acse-version",
                    _ => "unknown",
                },
            ),
        };
        write!(f, "{source} {name} ({value})")
    }
}

/// AARE (tag 0x61).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aare {
    /// Application context name.
    pub application_context: u8,
    /// The result.
    pub result: AssociationResult,
    /// The diagnostic.
    pub diagnostic: SourceDiagnostic,
    /// responding-AP-title: the server's system title.
    pub responding_ap_title: Option<Vec<u8>>,
    /// responder-acse-requirements: authentication functional unit.
    pub responder_acse_requirements: bool,
    /// mechanism-name.
    pub mechanism: Option<u8>,
    /// responding-authentication-value: the StoC challenge (HLS).
    pub responding_authentication_value: Option<Vec<u8>>,
    /// user-information: InitiateResponse, InitiateError, or a ciphered initiateResponse.
    pub user_information: Option<ResponseUserInformation>,
}

impl Codec<'_> for Aare {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        fields::put_context(&mut body, self.application_context);
        let result = match self.result {
            AssociationResult::Accepted => 0,
            AssociationResult::RejectedPermanent => 1,
            AssociationResult::RejectedTransient => 2,
        };
        fields::put_integer(&mut body, 0xA2, result);
        let (source_tag, value) = match self.diagnostic {
            SourceDiagnostic::User(v) => (0xA1, v),
            SourceDiagnostic::Provider(v) => (0xA2, v),
        };
        let mut diag = Vec::new();
        fields::put_integer(&mut diag, source_tag, value);
        super::ber::put_tlv(&mut body, 0xA3, &diag);
        if let Some(t) = &self.responding_ap_title {
            fields::put_title(&mut body, 0xA4, t);
        }
        if self.responder_acse_requirements {
            fields::put_requirements(&mut body, 0x88);
        }
        if let Some(m) = self.mechanism {
            fields::put_mechanism(&mut body, 0x89, m);
        }
        if let Some(v) = &self.responding_authentication_value {
            fields::put_auth_value(&mut body, 0xAA, v);
        }
        if let Some(u) = &self.user_information {
            fields::put_user_information(&mut body, u);
        }
        super::ber::put_tlv(out, crate::apdu::tag::AARE, &body);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = Fields::read(r, crate::apdu::tag::AARE)?;
        let end = r.offset();
        let (at, c) = f.require(0xA1, end)?;
        let application_context = fields::context(at, c)?;
        let (at, c) = f.require(0xA2, end)?;
        let result = match fields::integer(at, c)? {
            0 => AssociationResult::Accepted,
            1 => AssociationResult::RejectedPermanent,
            2 => AssociationResult::RejectedTransient,
            _ => {
                return Err(DecodeError {
                    kind: ErrorKind::InvalidValue("association-result"),
                    offset: at,
                })
            }
        };
        let (at, c) = f.require(0xA3, end)?;
        let mut inner = Reader::new(c);
        let (source, inner_at, content) =
            super::ber::read_any_tlv(&mut inner).map_err(|e| super::ber::shift(e, at))?;
        inner.expect_end().map_err(|e| super::ber::shift(e, at))?;
        let value = fields::integer(at + inner_at, content)?;
        let diagnostic = match source {
            0xA1 => SourceDiagnostic::User(value),
            0xA2 => SourceDiagnostic::Provider(value),
            t => {
                return Err(DecodeError {
                    kind: ErrorKind::UnknownTag(t),
                    offset: at,
                })
            }
        };
        Ok(Aare {
            application_context,
            result,
            diagnostic,
            responding_ap_title: f
                .get(0xA4)
                .map(|(at, c)| fields::title(at, c))
                .transpose()?,
            responder_acse_requirements: f
                .get(0x88)
                .map(|(at, c)| fields::requirements(at, c))
                .transpose()?
                .unwrap_or(false),
            mechanism: f
                .get(0x89)
                .map(|(at, c)| fields::mechanism(at, c))
                .transpose()?,
            responding_authentication_value: f
                .get(0xAA)
                .map(|(at, c)| fields::auth_value(at, c))
                .transpose()?,
            user_information: f
                .get(0xBE)
                .map(|(at, c)| fields::user_information(at, c))
                .transpose()?,
        })
    }
}
