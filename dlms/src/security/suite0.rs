//! Security suite 0: AES-GCM-128 with 12-byte tags (docs/protocol.md#security-suite-0-and-hls-gmac).
//!
//! IV = system title (8) ‖ invocation counter (4, big-endian), the sender's title. AAD is
//! SC ‖ AK for authenticated encryption and SC ‖ AK ‖ plaintext for authentication only.
//! Encryption only is GCM without the tag, i.e. AES-CTR from counter block J0 + 1.

use aes::Aes128;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::AesGcm;
use ctr::cipher::{KeyIvInit, StreamCipher};
use thiserror::Error;

type Gcm = AesGcm<Aes128, U12, U12>;
type Ctr = ctr::Ctr32BE<Aes128>;

/// Length of the authentication tag.
pub const TAG_LEN: usize = 12;

/// The security control byte: suite in bits 0-3, authentication bit 4, encryption bit 5,
/// broadcast key bit 6, compression bit 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityControl(pub u8);

impl SecurityControl {
    /// Authenticated and encrypted, suite 0 (0x30).
    pub const AUTHENTICATED_ENCRYPTED: Self = Self(0x30);
    /// Authenticated only, suite 0 (0x10).
    pub const AUTHENTICATED: Self = Self(0x10);
    /// Encrypted only, suite 0 (0x20).
    pub const ENCRYPTED: Self = Self(0x20);

    /// The security suite.
    pub fn suite(self) -> u8 {
        self.0 & 0x0F
    }

    /// True if the APDU carries an authentication tag.
    pub fn authenticated(self) -> bool {
        self.0 & 0x10 != 0
    }

    /// True if the APDU is encrypted.
    pub fn encrypted(self) -> bool {
        self.0 & 0x20 != 0
    }

    /// True if the broadcast key was used.
    pub fn broadcast_key(self) -> bool {
        self.0 & 0x40 != 0
    }

    /// True if the plaintext was compressed.
    pub fn compressed(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// The keys of a security suite 0 association.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// The block cipher key (global unicast, or the dedicated key for ded- APDUs).
    pub encryption: [u8; 16],
    /// The authentication key.
    pub authentication: [u8; 16],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

/// Why protection could not be removed or applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SecurityError {
    /// The security control byte names a suite, compression or key set not supported.
    #[error("unsupported security control 0x{0:02X}")]
    UnsupportedControl(u8),
    /// The payload is shorter than its tag.
    #[error("ciphered payload too short")]
    TooShort,
    /// The tag does not match: wrong keys or tampered data.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The invocation counter is not above the last one accepted.
    #[error("invocation counter {received} is not above {last}")]
    Replay {
        /// The counter received.
        received: u32,
        /// The last counter accepted.
        last: u32,
    },
    /// A system title that is not 8 bytes.
    #[error("system title must be 8 bytes")]
    BadSystemTitle,
    /// No APDU of that kind can be ciphered.
    #[error("APDU tag 0x{0:02X} has no ciphered form")]
    NoCipheredForm(u8),
}

fn iv(system_title: &[u8; 8], ic: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(system_title);
    iv[8..].copy_from_slice(&ic.to_be_bytes());
    iv
}

fn check(sc: SecurityControl) -> Result<(), SecurityError> {
    if sc.suite() != 0 || sc.compressed() || !(sc.authenticated() || sc.encrypted()) {
        return Err(SecurityError::UnsupportedControl(sc.0));
    }
    Ok(())
}

fn ctr_apply(key: &[u8; 16], iv: &[u8; 12], data: &mut [u8]) {
    let mut counter = [0u8; 16];
    counter[..12].copy_from_slice(iv);
    counter[15] = 2; // J0 + 1, as GCM encrypts
    Ctr::new(key.into(), &counter.into()).apply_keystream(data);
}

/// Applies protection: returns ciphertext (or plaintext) followed by the tag when authenticated.
pub fn protect(
    keys: &Keys,
    system_title: &[u8; 8],
    sc: SecurityControl,
    ic: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    check(sc)?;
    let iv = iv(system_title, ic);
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    if !sc.authenticated() {
        ctr_apply(&keys.encryption, &iv, &mut out);
        return Ok(out);
    }
    let gcm = Gcm::new(&keys.encryption.into());
    let mut aad = Vec::with_capacity(17 + plaintext.len());
    aad.push(sc.0);
    aad.extend_from_slice(&keys.authentication);
    let tag = if sc.encrypted() {
        gcm.encrypt_in_place_detached(&iv.into(), &aad, &mut out)
    } else {
        aad.extend_from_slice(plaintext);
        gcm.encrypt_in_place_detached(&iv.into(), &aad, &mut [])
    }
    .map_err(|_| SecurityError::TooShort)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Removes protection: checks the tag (when authenticated) and returns the plaintext.
pub fn unprotect(
    keys: &Keys,
    system_title: &[u8; 8],
    sc: SecurityControl,
    ic: u32,
    payload: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    check(sc)?;
    let iv = iv(system_title, ic);
    if !sc.authenticated() {
        let mut out = payload.to_vec();
        ctr_apply(&keys.encryption, &iv, &mut out);
        return Ok(out);
    }
    if payload.len() < TAG_LEN {
        return Err(SecurityError::TooShort);
    }
    let (body, tag) = payload.split_at(payload.len() - TAG_LEN);
    let gcm = Gcm::new(&keys.encryption.into());
    let mut aad = Vec::with_capacity(17 + body.len());
    aad.push(sc.0);
    aad.extend_from_slice(&keys.authentication);
    let mut out = body.to_vec();
    let result = if sc.encrypted() {
        gcm.decrypt_in_place_detached(&iv.into(), &aad, &mut out, tag.into())
    } else {
        aad.extend_from_slice(body);
        gcm.decrypt_in_place_detached(&iv.into(), &aad, &mut [], tag.into())
    };
    result.map_err(|_| SecurityError::AuthenticationFailed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// docs/protocol.md#test-vectors V6 keys (u9n `tests/test_security.py`).
    pub(crate) fn v6_keys() -> Keys {
        Keys {
            encryption: hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap(),
            authentication: hex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF").try_into().unwrap(),
        }
    }

    /// docs/protocol.md#test-vectors V6: the glo-get-request of u9n `tests/test_security.py`, recomputed.
    #[test]
    fn authenticated_encryption_v6() {
        let title: [u8; 8] = hex("4D4D4D0000BC614E").try_into().unwrap();
        let plain = hex("C0 01 00 00 08 00 00 01 00 00 FF 02 00");
        let payload = protect(
            &v6_keys(),
            &title,
            SecurityControl(0x30),
            0x0123_4567,
            &plain,
        )
        .unwrap();
        assert_eq!(
            payload,
            hex("41 13 12 FF 93 5A 47 56 68 27 C4 67 BC 7D 82 5C 3B E4 A7 7C 3F CC 05 6B 6B")
        );
        let back = unprotect(
            &v6_keys(),
            &title,
            SecurityControl(0x30),
            0x0123_4567,
            &payload,
        );
        assert_eq!(back.unwrap(), plain);
    }

    /// docs/protocol.md#test-vectors V6: the glo-initiateRequest of u9n `test_aarq.py`
    /// "ciphered_low_security2" decrypts to an InitiateRequest with a dedicated key.
    #[test]
    fn glo_initiate_request_decrypts_v6() {
        let title: [u8; 8] = hex("4D4D4D0000BC614E").try_into().unwrap();
        let payload = hex("801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855");
        let plain = unprotect(
            &v6_keys(),
            &title,
            SecurityControl(0x30),
            0x0123_4567,
            &payload,
        );
        assert_eq!(
            plain.unwrap(),
            hex("01 01 10 00112233445566778899AABBCCDDEEFF 00 00 06 5F1F04 00 007E1F 04B0")
        );
    }

    #[test]
    fn every_mode_round_trips_and_tampering_is_caught() {
        let title = [1, 2, 3, 4, 5, 6, 7, 8];
        let plain = b"\xC0\x01\xC1\x00\x12\x00\x00\x2C\x00\x00\xFF\x02\x00";
        for sc in [0x10, 0x20, 0x30] {
            let sc = SecurityControl(sc);
            let mut p = protect(&v6_keys(), &title, sc, 7, plain).unwrap();
            assert_eq!(unprotect(&v6_keys(), &title, sc, 7, &p).unwrap(), plain);
            if sc.authenticated() {
                p[0] ^= 1;
                assert_eq!(
                    unprotect(&v6_keys(), &title, sc, 7, &p),
                    Err(SecurityError::AuthenticationFailed)
                );
            }
        }
        // Encryption only is GCM's ciphertext without the tag.
        let ae = protect(&v6_keys(), &title, SecurityControl(0x30), 7, plain).unwrap();
        let e = protect(&v6_keys(), &title, SecurityControl(0x20), 7, plain).unwrap();
        assert_eq!(&ae[..plain.len()], &e[..]);
    }

    #[test]
    fn unsupported_controls_are_refused() {
        let title = [0; 8];
        for sc in [0x00, 0x31, 0xB0] {
            assert_eq!(
                protect(&v6_keys(), &title, SecurityControl(sc), 1, b"x"),
                Err(SecurityError::UnsupportedControl(sc))
            );
        }
    }
}
