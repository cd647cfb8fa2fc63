//! The server side: which clients may associate, and how an AARQ is answered.

use super::{Ciphering, Negotiated};
use crate::acse::{
    context, mechanism, user_diagnostic, Aare, Aarq, AssociationResult, InitiateRequest,
    InitiateResponse, RequestUserInformation, ResponseUserInformation, SourceDiagnostic,
    VAA_NAME_LN,
};
use crate::apdu::{tag, CipheredApdu, ConfirmedServiceError};
use crate::codec::Codec;
use crate::conformance::Conformance;
use crate::security::{
    gmac_response, password_matches, protect, unprotect, verify_gmac_response, CipherContext,
    ReplayGuard, SecurityControl, SecurityError,
};
use std::borrow::Cow;

/// How a client must authenticate.
#[derive(Debug, Clone)]
pub enum ServerAuthentication {
    /// No authentication (lowest level security).
    None,
    /// Low level security with this password.
    Lls {
        /// The password.
        password: Vec<u8>,
    },
    /// High level security, mechanism 5 (GMAC), with ciphering.
    HlsGmac,
}

/// One client address the server accepts, and its rights at association.
#[derive(Debug, Clone)]
pub struct Account {
    /// The client SAP (16 public, 1 management, 48 HLS in the usual setups).
    pub client_sap: u16,
    /// The authentication required.
    pub authentication: ServerAuthentication,
    /// True if the application context must be LN with ciphering.
    pub ciphered: bool,
}

/// What the server supports.
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    /// The conformance the server offers.
    pub supported_conformance: Conformance,
    /// The largest APDU the server accepts.
    pub max_receive_pdu_size: u16,
    /// The smallest client PDU size accepted (below: pdu-size-too-short).
    pub min_client_pdu_size: u16,
    /// The server's security settings (system title, keys), if it supports ciphering.
    pub ciphering: Option<Ciphering>,
}

/// A server-side association.
#[derive(Debug, Clone)]
pub struct Association {
    /// What was agreed.
    pub negotiated: Negotiated,
    /// The client SAP.
    pub client_sap: u16,
    /// False until HLS pass 3 succeeds (always true without HLS).
    pub authenticated: bool,
    /// The ciphering state, in a ciphered context.
    pub cipher: Option<CipherContext>,
    challenge: Option<(Vec<u8>, Vec<u8>)>,
}

/// The AARE to send, and the association if it was accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The response.
    pub aare: Aare,
    /// The association, if accepted.
    pub association: Option<Association>,
}

impl Association {
    /// A pre-established association: agreed before any exchange (no AARQ), authenticated by
    /// the way requests reach it, as the association group requests are served in.
    pub fn pre_established(client_sap: u16, negotiated: Negotiated) -> Self {
        Association {
            negotiated,
            client_sap,
            authenticated: true,
            cipher: None,
            challenge: None,
        }
    }

    /// HLS pass 3 and 4: checks the client's f(StoC) and returns f(CtoS) for the ACTION reply.
    ///
    /// The invocation counter inside f(StoC) is not run through the replay guard: it precedes
    /// the counter of the ciphered ACTION that carries it (which the guard has already
    /// accepted), and StoC is fresh for every association, so f(StoC) cannot be replayed.
    pub fn reply_to_hls(&mut self, f_stoc: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let cipher = self
            .cipher
            .as_mut()
            .ok_or(SecurityError::AuthenticationFailed)?;
        let (ctos, stoc) = self
            .challenge
            .as_ref()
            .ok_or(SecurityError::AuthenticationFailed)?;
        verify_gmac_response(&cipher.keys, &cipher.peer_title, stoc, f_stoc)?;
        let own_ic = cipher.next_invocation_counter;
        cipher.next_invocation_counter += 1;
        let reply = gmac_response(&cipher.keys, &cipher.own_title, own_ic, ctos);
        self.authenticated = true;
        self.challenge = None;
        Ok(reply)
    }
}

fn reject(context: u8, diagnostic: u8, error: Option<ConfirmedServiceError>) -> Accepted {
    Accepted {
        aare: Aare {
            application_context: context,
            result: AssociationResult::RejectedPermanent,
            diagnostic: SourceDiagnostic::User(diagnostic),
            responding_ap_title: None,
            responder_acse_requirements: false,
            mechanism: None,
            responding_authentication_value: None,
            user_information: error.map(ResponseUserInformation::Error),
        },
        association: None,
    }
}

impl ServerPolicy {
    /// Answers an AARQ from `account`'s client. `stoc` is the server's challenge for HLS
    /// (the caller draws it), `replay` the guard persisted for this client's counters.
    pub fn accept(
        &self,
        account: &Account,
        aarq: &Aarq,
        stoc: &[u8],
        replay: ReplayGuard,
    ) -> Accepted {
        let ctx = aarq.application_context;
        let expected_ctx = if account.ciphered {
            context::LN_CIPHERED
        } else {
            context::LN
        };
        if ctx != expected_ctx {
            return reject(
                expected_ctx,
                user_diagnostic::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                None,
            );
        }
        let mech = aarq.mechanism.unwrap_or(mechanism::LOWEST);
        let required = match account.authentication {
            ServerAuthentication::None => mechanism::LOWEST,
            ServerAuthentication::Lls { .. } => mechanism::LOW,
            ServerAuthentication::HlsGmac => mechanism::HIGH_GMAC,
        };
        if mech != required {
            let diag = if aarq.mechanism.is_none() {
                user_diagnostic::MECHANISM_NAME_REQUIRED
            } else {
                user_diagnostic::MECHANISM_NAME_NOT_RECOGNISED
            };
            return reject(ctx, diag, None);
        }
        if let ServerAuthentication::Lls { password } = &account.authentication {
            let given = aarq.calling_authentication_value.as_deref().unwrap_or(&[]);
            if !password_matches(password, given) {
                return reject(ctx, user_diagnostic::AUTHENTICATION_FAILURE, None);
            }
        }
        let ctos = aarq
            .calling_authentication_value
            .clone()
            .unwrap_or_default();
        if required == mechanism::HIGH_GMAC && ctos.len() < 8 {
            return reject(ctx, user_diagnostic::AUTHENTICATION_FAILURE, None);
        }
        let client_title: Option<[u8; 8]> = aarq
            .calling_ap_title
            .as_deref()
            .and_then(|t| t.try_into().ok());
        let ciphering = match (account.ciphered, &self.ciphering, client_title) {
            (false, _, _) => None,
            (true, Some(c), Some(t)) => Some((c, t)),
            (true, _, _) => return reject(ctx, user_diagnostic::NO_REASON_GIVEN, None),
        };
        let (initiate, client_ic) = match (&aarq.user_information, ciphering) {
            (Some(RequestUserInformation::Initiate(i)), None) => (i.clone(), None),
            (Some(RequestUserInformation::Ciphered(c)), Some((ciph, title)))
                if c.tag == tag::GLO_INITIATE_REQUEST =>
            {
                match unprotect(
                    &ciph.keys,
                    &title,
                    SecurityControl(c.security_control),
                    c.invocation_counter,
                    &c.payload,
                )
                .ok()
                .and_then(|p| InitiateRequest::decode(&p).ok())
                {
                    Some(i) => (i, Some(c.invocation_counter)),
                    None => return reject(ctx, user_diagnostic::NO_REASON_GIVEN, None),
                }
            }
            _ => return reject(ctx, user_diagnostic::NO_REASON_GIVEN, None),
        };
        let initiate_error = |reason| {
            reject(
                ctx,
                user_diagnostic::NO_REASON_GIVEN,
                Some(ConfirmedServiceError::initiate(reason)),
            )
        };
        if initiate.proposed_dlms_version < 6 {
            return initiate_error(ConfirmedServiceError::DLMS_VERSION_TOO_LOW);
        }
        let client_pdu = match initiate.client_max_receive_pdu_size {
            0 => u16::MAX,
            n => n,
        };
        if client_pdu < self.min_client_pdu_size {
            return initiate_error(ConfirmedServiceError::PDU_SIZE_TOO_SHORT);
        }
        let conformance = initiate.proposed_conformance & self.supported_conformance;
        if conformance.is_empty() {
            return initiate_error(ConfirmedServiceError::INCOMPATIBLE_CONFORMANCE);
        }
        let negotiated = Negotiated {
            conformance,
            client_max_receive_pdu_size: client_pdu,
            server_max_receive_pdu_size: self.max_receive_pdu_size,
            dlms_version: 6,
        };
        let response = InitiateResponse {
            negotiated_quality_of_service: None,
            negotiated_dlms_version: 6,
            negotiated_conformance: conformance,
            server_max_receive_pdu_size: self.max_receive_pdu_size,
            vaa_name: VAA_NAME_LN,
        };
        let mut replay = replay;
        let mut cipher = None;
        let user_information = match ciphering {
            None => ResponseUserInformation::Initiate(response),
            Some((ciph, title)) => {
                if let Some(ic) = client_ic {
                    if replay.accept(ic).is_err() {
                        return reject(ctx, user_diagnostic::AUTHENTICATION_FAILURE, None);
                    }
                }
                let mut context = CipherContext {
                    keys: ciph.keys.clone(),
                    dedicated_key: initiate
                        .dedicated_key
                        .as_deref()
                        .and_then(|k| k.try_into().ok()),
                    own_title: ciph.system_title,
                    peer_title: title,
                    security_control: ciph.security_control,
                    next_invocation_counter: ciph.invocation_counter,
                    replay_guard: replay,
                };
                let ic = context.next_invocation_counter;
                context.next_invocation_counter += 1;
                let payload = protect(
                    &ciph.keys,
                    &ciph.system_title,
                    ciph.security_control,
                    ic,
                    &response.to_bytes(),
                )
                .expect("server security control is suite 0");
                cipher = Some(context);
                ResponseUserInformation::Ciphered(CipheredApdu {
                    tag: tag::GLO_INITIATE_RESPONSE,
                    security_control: ciph.security_control.0,
                    invocation_counter: ic,
                    payload: Cow::Owned(payload),
                })
            }
        };
        let hls = required == mechanism::HIGH_GMAC;
        Accepted {
            aare: Aare {
                application_context: ctx,
                result: AssociationResult::Accepted,
                diagnostic: SourceDiagnostic::User(if hls {
                    user_diagnostic::AUTHENTICATION_REQUIRED
                } else {
                    user_diagnostic::NULL
                }),
                responding_ap_title: self
                    .ciphering
                    .as_ref()
                    .filter(|_| account.ciphered)
                    .map(|c| c.system_title.to_vec()),
                responder_acse_requirements: hls,
                mechanism: hls.then_some(mechanism::HIGH_GMAC),
                responding_authentication_value: hls.then(|| stoc.to_vec()),
                user_information: Some(user_information),
            },
            association: Some(Association {
                negotiated,
                client_sap: account.client_sap,
                authenticated: !hls,
                cipher,
                challenge: hls.then(|| (ctos, stoc.to_vec())),
            }),
        }
    }
}
