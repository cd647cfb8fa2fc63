//! Association negotiation, sans-IO, for both roles: AARQ in and AARE out on the server,
//! AARQ out and AARE checked on the client; HLS-GMAC passes 3 and 4; release.
//!
//! Negotiation rules: conformance = proposed AND supported; PDU size = the peer's limit,
//! each side keeping its own; diagnostics per docs/protocol.md#association.

mod client;
mod server;

pub use client::{AssociationError, ClientAssociation, ClientAuthentication, ClientSettings};
pub use server::{Accepted, Account, Association, ServerAuthentication, ServerPolicy};

use crate::conformance::Conformance;

/// What an association agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The services both sides support.
    pub conformance: Conformance,
    /// The largest APDU the client accepts (0 in the AARQ is taken as 65,535).
    pub client_max_receive_pdu_size: u16,
    /// The largest APDU the server accepts.
    pub server_max_receive_pdu_size: u16,
    /// The DLMS version (6).
    pub dlms_version: u8,
}

/// The security suite 0 settings of a ciphered association.
#[derive(Debug, Clone)]
pub struct Ciphering {
    /// The global keys.
    pub keys: crate::security::Keys,
    /// This station's system title.
    pub system_title: [u8; 8],
    /// How outgoing APDUs are protected (0x30 authenticated and encrypted by default).
    pub security_control: crate::security::SecurityControl,
    /// The invocation counter of the first outgoing APDU.
    pub invocation_counter: u32,
}

/// The RLRE a server sends for an RLRQ: released, reason normal.
pub fn release_response() -> crate::acse::Rlre {
    crate::acse::Rlre {
        reason: Some(0),
        user_information: None,
    }
}

/// The RLRQ a client sends: reason normal.
pub fn release_request() -> crate::acse::Rlrq {
    crate::acse::Rlrq {
        reason: Some(0),
        user_information: None,
    }
}

#[cfg(test)]
mod tests;
