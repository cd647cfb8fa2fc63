//! Security: LLS passwords, HLS mechanism 5 (GMAC), security suite 0 ciphering and invocation
//! counters (docs/protocol.md#security-suite-0-and-hls-gmac). The cryptography is RustCrypto's (`aes-gcm`, `ctr`); this
//! module only arranges its inputs as DLMS prescribes.

mod context;
mod group;
mod hls;
mod suite0;

pub use context::{CipherContext, ReplayGuard};
pub use group::{open_group, protect_group, unprotect_group, GROUP_CONTROL};
pub use hls::{gmac_response, password_matches, verify_gmac_response};
pub use suite0::{protect, unprotect, Keys, SecurityControl, SecurityError, TAG_LEN};
