//! Group protection: one APDU sent to many meters at once under the broadcast key set
//! (security control bit 6), as general-glo-ciphering carrying the sender's system title.
//! Every receiver keeps the last broadcast invocation counter it accepted and refuses any
//! counter not above it, so that a recorded group APDU cannot be played again.

use super::suite0::{protect, unprotect, Keys, SecurityControl, SecurityError};
use super::ReplayGuard;
use crate::apdu::GeneralCiphering;
use std::borrow::Cow;

/// Authenticated and encrypted with the broadcast key set, suite 0 (0x70).
pub const GROUP_CONTROL: SecurityControl = SecurityControl(0x70);

/// Protects `plain` for a group: general-glo-ciphering under the broadcast encryption key and
/// the authentication key of `keys`, from `title`, at invocation counter `ic`.
pub fn protect_group(
    keys: &Keys,
    title: &[u8; 8],
    ic: u32,
    plain: &[u8],
) -> Result<Vec<u8>, SecurityError> {
    let payload = protect(keys, title, GROUP_CONTROL, ic, plain)?;
    Ok(crate::codec::Codec::to_bytes(&GeneralCiphering {
        dedicated: false,
        system_title: Cow::Borrowed(title),
        security_control: GROUP_CONTROL.0,
        invocation_counter: ic,
        payload: Cow::Owned(payload),
    }))
}

/// Removes group protection: the broadcast key set must be named and the tag must check
/// before `guard` accepts the counter, so a forged APDU never moves it.
pub fn unprotect_group(
    keys: &Keys,
    apdu: &GeneralCiphering<'_>,
    guard: &mut ReplayGuard,
) -> Result<Vec<u8>, SecurityError> {
    let plain = open_group(keys, apdu)?;
    guard.accept(apdu.invocation_counter)?;
    Ok(plain)
}

/// Removes group protection without looking at the counter: what [`unprotect_group`] does
/// before its replay check, the same for every receiver holding `keys`.
pub fn open_group(keys: &Keys, apdu: &GeneralCiphering<'_>) -> Result<Vec<u8>, SecurityError> {
    let sc = SecurityControl(apdu.security_control);
    if apdu.dedicated || !sc.broadcast_key() || !sc.authenticated() {
        return Err(SecurityError::UnsupportedControl(sc.0));
    }
    let title: [u8; 8] = apdu
        .system_title
        .as_ref()
        .try_into()
        .map_err(|_| SecurityError::BadSystemTitle)?;
    unprotect(keys, &title, sc, apdu.invocation_counter, &apdu.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::Apdu;
    use crate::codec::Codec;

    fn keys() -> Keys {
        Keys {
            encryption: [0x42; 16],
            authentication: [0x22; 16],
        }
    }

    fn general(bytes: &[u8]) -> GeneralCiphering<'_> {
        match Apdu::decode(bytes).unwrap() {
            Apdu::GeneralCiphering(g) => g,
            other => panic!("not general-glo-ciphering: {other:?}"),
        }
    }

    #[test]
    fn a_group_apdu_opens_once_and_never_again() {
        let plain = [0xC3, 0x01, 0x01, 0x00, 0x12];
        let bytes = protect_group(&keys(), b"HEADEND1", 7, &plain).unwrap();
        let mut guard = ReplayGuard::after(Some(3));
        assert_eq!(
            unprotect_group(&keys(), &general(&bytes), &mut guard).unwrap(),
            plain
        );
        assert_eq!(guard.last(), Some(7));
        assert_eq!(
            unprotect_group(&keys(), &general(&bytes), &mut guard),
            Err(SecurityError::Replay {
                received: 7,
                last: 7
            })
        );
    }

    #[test]
    fn a_forged_or_unicast_apdu_is_refused_without_moving_the_counter() {
        let bytes = protect_group(&keys(), b"HEADEND1", 9, &[0xC3, 0x01]).unwrap();
        let mut guard = ReplayGuard::default();
        let other = Keys {
            encryption: [0x43; 16],
            ..keys()
        };
        assert_eq!(
            unprotect_group(&other, &general(&bytes), &mut guard),
            Err(SecurityError::AuthenticationFailed)
        );
        let mut unicast = general(&bytes);
        unicast.security_control = 0x30;
        assert_eq!(
            unprotect_group(&keys(), &unicast, &mut guard),
            Err(SecurityError::UnsupportedControl(0x30))
        );
        assert_eq!(guard.last(), None);
    }
}
