//! HLS mechanism 5 (GMAC) challenge responses and LLS passwords (docs/protocol.md#security-suite-0-and-hls-gmac).
//!
//! f(challenge) = SC (0x10) ‖ IC ‖ GMAC, where the GMAC uses the sender's system title and IC
//! as IV and AAD = SC ‖ AK ‖ challenge; the block cipher key is the global encryption key.

use super::suite0::{protect, unprotect, Keys, SecurityControl, SecurityError, TAG_LEN};
use subtle::ConstantTimeEq;

/// The response to a peer's challenge: `10 ‖ IC ‖ GMAC(challenge)`.
pub fn gmac_response(keys: &Keys, own_title: &[u8; 8], ic: u32, challenge: &[u8]) -> Vec<u8> {
    let tagged = protect(
        keys,
        own_title,
        SecurityControl::AUTHENTICATED,
        ic,
        challenge,
    )
    .expect("suite 0 authentication is always supported");
    let mut out = Vec::with_capacity(5 + TAG_LEN);
    out.push(SecurityControl::AUTHENTICATED.0);
    out.extend_from_slice(&ic.to_be_bytes());
    out.extend_from_slice(&tagged[challenge.len()..]);
    out
}

/// Checks a peer's response to our challenge; returns the peer's invocation counter.
pub fn verify_gmac_response(
    keys: &Keys,
    peer_title: &[u8; 8],
    challenge: &[u8],
    response: &[u8],
) -> Result<u32, SecurityError> {
    if response.len() != 5 + TAG_LEN {
        return Err(SecurityError::TooShort);
    }
    if response[0] != SecurityControl::AUTHENTICATED.0 {
        return Err(SecurityError::UnsupportedControl(response[0]));
    }
    let ic = u32::from_be_bytes(response[1..5].try_into().expect("4 bytes"));
    let mut payload = challenge.to_vec();
    payload.extend_from_slice(&response[5..]);
    unprotect(
        keys,
        peer_title,
        SecurityControl::AUTHENTICATED,
        ic,
        &payload,
    )?;
    Ok(ic)
}

/// True if an LLS password matches, compared in constant time.
pub fn password_matches(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// docs/protocol.md#test-vectors V6: HLS-GMAC f(StoC) with client title 4D4D4D0000000001, IC 1,
    /// StoC 503677524A323146 (u9n `tests/test_security.py`, recomputed).
    #[test]
    fn gmac_response_v6() {
        let keys = Keys {
            encryption: hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap(),
            authentication: hex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF").try_into().unwrap(),
        };
        let title: [u8; 8] = hex("4D4D4D0000000001").try_into().unwrap();
        let stoc = hex("503677524A323146");
        let f = gmac_response(&keys, &title, 1, &stoc);
        assert_eq!(f, hex("10 00000001 1A52FE7DD3E72748973C1E28"));
        assert_eq!(verify_gmac_response(&keys, &title, &stoc, &f), Ok(1));
        let mut bad = f.clone();
        bad[16] ^= 1;
        assert_eq!(
            verify_gmac_response(&keys, &title, &stoc, &bad),
            Err(SecurityError::AuthenticationFailed)
        );
    }

    #[test]
    fn passwords_compare_exactly() {
        assert!(password_matches(b"12345678", b"12345678"));
        assert!(!password_matches(b"12345678", b"1234567"));
        assert!(!password_matches(b"12345678", b"12345679"));
    }
}
