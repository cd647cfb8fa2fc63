//! ACSE: association establishment and release, with the xDLMS Initiate inside
//! (docs/protocol.md#association). BER-encoded, unlike the A-XDR of the services.

mod aare;
mod aarq;
mod ber;
mod fields;
mod initiate;
mod release;

pub use aare::{user_diagnostic, Aare, AssociationResult, SourceDiagnostic};
pub use aarq::{context, mechanism, Aarq};
pub use initiate::{
    InitiateRequest, InitiateResponse, RequestUserInformation, ResponseUserInformation, VAA_NAME_LN,
};
pub use release::{Rlre, Rlrq};

#[cfg(test)]
mod tests;
