//! The client side: the AARQ to send, and what the AARE means.

use super::{Ciphering, Negotiated};
use crate::acse::{
    context, mechanism, user_diagnostic, Aare, Aarq, AssociationResult, InitiateRequest,
    InitiateResponse, RequestUserInformation, ResponseUserInformation, SourceDiagnostic,
};
use crate::apdu::{tag, CipheredApdu, ConfirmedServiceError};
use crate::codec::Codec;
use crate::conformance::Conformance;
use crate::security::{
    gmac_response, protect, unprotect, verify_gmac_response, CipherContext, ReplayGuard,
    SecurityControl, SecurityError,
};
use std::borrow::Cow;
use thiserror::Error;

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum ClientAuthentication {
    /// No authentication.
    None,
    /// Low level security with a password.
    Lls {
        /// The password.
        password: Vec<u8>,
    },
    /// HLS mechanism 5 (GMAC) with the client's challenge CtoS; needs ciphering settings.
    HlsGmac {
        /// The client's challenge (8 to 64 bytes).
        ctos: Vec<u8>,
    },
}

/// What a client proposes.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Authentication.
    pub authentication: ClientAuthentication,
    /// Ciphering (suite 0); its presence selects the LN-with-ciphering context.
    pub ciphering: Option<Ciphering>,
    /// A dedicated key to propose, for ded- APDUs.
    pub dedicated_key: Option<[u8; 16]>,
    /// The conformance proposed.
    pub proposed_conformance: Conformance,
    /// The largest APDU the client accepts.
    pub max_receive_pdu_size: u16,
    /// The DLMS version proposed (6).
    pub dlms_version: u8,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            authentication: ClientAuthentication::None,
            ciphering: None,
            dedicated_key: None,
            proposed_conformance: Conformance::GET
                | Conformance::SET
                | Conformance::ACTION
                | Conformance::SELECTIVE_ACCESS
                | Conformance::BLOCK_TRANSFER_WITH_GET
                | Conformance::BLOCK_TRANSFER_WITH_SET
                | Conformance::BLOCK_TRANSFER_WITH_ACTION
                | Conformance::MULTIPLE_REFERENCES
                | Conformance::PRIORITY_MGMT_SUPPORTED
                | Conformance::ATTRIBUTE0_SUPPORTED_WITH_GET
                | Conformance::EVENT_NOTIFICATION,
            max_receive_pdu_size: 0xFFFF,
            dlms_version: 6,
        }
    }
}

/// Why an association could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssociationError {
    /// The server refused.
    #[error("association rejected ({result}, diagnostic {diagnostic}{})", initiate_error.map(|e| format!(", initiate error {}", e.value)).unwrap_or_default())]
    Rejected {
        /// The result.
        result: AssociationResult,
        /// The diagnostic.
        diagnostic: SourceDiagnostic,
        /// The InitiateError, if the server sent one.
        initiate_error: Option<ConfirmedServiceError>,
    },
    /// The AARE lacks something the association needs.
    #[error("malformed AARE: {0}")]
    Malformed(&'static str),
    /// A ciphering or authentication check failed.
    #[error("security: {0}")]
    Security(#[from] SecurityError),
}

/// A client-side association.
#[derive(Debug, Clone)]
pub struct ClientAssociation {
    /// What was agreed.
    pub negotiated: Negotiated,
    /// The ciphering state, in a ciphered context.
    pub cipher: Option<CipherContext>,
    /// The server's challenge, while HLS passes 3 and 4 are pending.
    pub stoc: Option<Vec<u8>>,
}

impl ClientSettings {
    /// The AARQ for these settings (a glo-initiateRequest uses the ciphering's counter).
    pub fn aarq(&self) -> Aarq {
        let initiate = InitiateRequest {
            dedicated_key: self.dedicated_key.map(|k| k.to_vec()),
            response_allowed: true,
            proposed_quality_of_service: None,
            proposed_dlms_version: self.dlms_version,
            proposed_conformance: self.proposed_conformance,
            client_max_receive_pdu_size: self.max_receive_pdu_size,
        };
        let user_information = match &self.ciphering {
            None => RequestUserInformation::Initiate(initiate),
            Some(c) => {
                let payload = protect(
                    &c.keys,
                    &c.system_title,
                    c.security_control,
                    c.invocation_counter,
                    &initiate.to_bytes(),
                )
                .expect("client security control is suite 0");
                RequestUserInformation::Ciphered(CipheredApdu {
                    tag: tag::GLO_INITIATE_REQUEST,
                    security_control: c.security_control.0,
                    invocation_counter: c.invocation_counter,
                    payload: Cow::Owned(payload),
                })
            }
        };
        let (mech, auth_value) = match &self.authentication {
            ClientAuthentication::None => (None, None),
            ClientAuthentication::Lls { password } => {
                (Some(mechanism::LOW), Some(password.clone()))
            }
            ClientAuthentication::HlsGmac { ctos } => {
                (Some(mechanism::HIGH_GMAC), Some(ctos.clone()))
            }
        };
        Aarq {
            application_context: if self.ciphering.is_some() {
                context::LN_CIPHERED
            } else {
                context::LN
            },
            calling_ap_title: self.ciphering.as_ref().map(|c| c.system_title.to_vec()),
            sender_acse_requirements: mech.is_some(),
            mechanism: mech,
            calling_authentication_value: auth_value,
            user_information: Some(user_information),
        }
    }

    /// Interprets the server's AARE.
    pub fn check_aare(&self, aare: &Aare) -> Result<ClientAssociation, AssociationError> {
        if aare.result != AssociationResult::Accepted {
            let initiate_error = match &aare.user_information {
                Some(ResponseUserInformation::Error(e)) => Some(*e),
                _ => None,
            };
            return Err(AssociationError::Rejected {
                result: aare.result,
                diagnostic: aare.diagnostic,
                initiate_error,
            });
        }
        let mut cipher = None;
        let response = match (&aare.user_information, &self.ciphering) {
            (Some(ResponseUserInformation::Initiate(r)), None) => r.clone(),
            (Some(ResponseUserInformation::Ciphered(c)), Some(ciph)) => {
                let title: [u8; 8] = aare
                    .responding_ap_title
                    .as_deref()
                    .and_then(|t| t.try_into().ok())
                    .ok_or(AssociationError::Malformed("no 8-byte responding-AP-title"))?;
                let plain = unprotect(
                    &ciph.keys,
                    &title,
                    SecurityControl(c.security_control),
                    c.invocation_counter,
                    &c.payload,
                )?;
                let mut guard = ReplayGuard::default();
                guard.accept(c.invocation_counter)?;
                cipher = Some(CipherContext {
                    keys: ciph.keys.clone(),
                    dedicated_key: self.dedicated_key,
                    own_title: ciph.system_title,
                    peer_title: title,
                    security_control: ciph.security_control,
                    next_invocation_counter: ciph.invocation_counter.wrapping_add(1),
                    replay_guard: guard,
                });
                InitiateResponse::decode(&plain)
                    .map_err(|_| AssociationError::Malformed("bad ciphered InitiateResponse"))?
            }
            _ => return Err(AssociationError::Malformed("no InitiateResponse")),
        };
        let hls = matches!(self.authentication, ClientAuthentication::HlsGmac { .. });
        let stoc = if hls {
            if aare.diagnostic != SourceDiagnostic::User(user_diagnostic::AUTHENTICATION_REQUIRED) {
                return Err(AssociationError::Malformed(
                    "HLS without authentication-required",
                ));
            }
            Some(
                aare.responding_authentication_value
                    .clone()
                    .ok_or(AssociationError::Malformed("HLS without StoC"))?,
            )
        } else {
            None
        };
        Ok(ClientAssociation {
            negotiated: Negotiated {
                conformance: response.negotiated_conformance,
                client_max_receive_pdu_size: self.max_receive_pdu_size,
                server_max_receive_pdu_size: response.server_max_receive_pdu_size,
                dlms_version: response.negotiated_dlms_version,
            },
            cipher,
            stoc,
        })
    }
}

impl ClientAssociation {
    /// HLS pass 3: f(StoC), the parameter of reply_to_HLS_authentication.
    pub fn hls_reply(&mut self) -> Result<Vec<u8>, AssociationError> {
        let stoc = self
            .stoc
            .as_ref()
            .ok_or(AssociationError::Malformed("no HLS pending"))?;
        let cipher = self
            .cipher
            .as_mut()
            .ok_or(AssociationError::Malformed("HLS needs ciphering"))?;
        let ic = cipher.next_invocation_counter;
        cipher.next_invocation_counter = ic.wrapping_add(1);
        Ok(gmac_response(&cipher.keys, &cipher.own_title, ic, stoc))
    }

    /// HLS pass 4: checks the server's f(CtoS). Its counter precedes the ciphered reply's, as
    /// f(StoC)'s does, and is not run through the replay guard; CtoS is fresh.
    pub fn check_hls_result(&mut self, ctos: &[u8], f_ctos: &[u8]) -> Result<(), AssociationError> {
        let cipher = self
            .cipher
            .as_mut()
            .ok_or(AssociationError::Malformed("HLS needs ciphering"))?;
        verify_gmac_response(&cipher.keys, &cipher.peer_title, ctos, f_ctos)?;
        self.stoc = None;
        Ok(())
    }
}
