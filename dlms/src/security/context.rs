//! The ciphering state of one association: own and peer system titles, keys, the outgoing
//! invocation counter and the replay guard on the incoming one.

use super::suite0::{protect, unprotect, Keys, SecurityControl, SecurityError};
use crate::apdu::{tag, CipheredApdu, GeneralCiphering};
use std::borrow::Cow;

/// Rejects invocation counters that do not strictly increase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayGuard {
    last: Option<u32>,
}

impl ReplayGuard {
    /// A guard that has accepted counters up to `last` (persisted across reboots by meters).
    pub fn after(last: Option<u32>) -> Self {
        ReplayGuard { last }
    }

    /// The last counter accepted.
    pub fn last(&self) -> Option<u32> {
        self.last
    }

    /// Accepts `ic` if it is above every counter accepted before.
    pub fn accept(&mut self, ic: u32) -> Result<(), SecurityError> {
        match self.last {
            Some(last) if ic <= last => Err(SecurityError::Replay { received: ic, last }),
            _ => {
                self.last = Some(ic);
                Ok(())
            }
        }
    }
}

/// How APDUs of an association are protected.
#[derive(Debug, Clone)]
pub struct CipherContext {
    /// The global keys.
    pub keys: Keys,
    /// The dedicated key, if the client sent one (for ded- APDUs).
    pub dedicated_key: Option<[u8; 16]>,
    /// This station's system title.
    pub own_title: [u8; 8],
    /// The peer's system title.
    pub peer_title: [u8; 8],
    /// The security control used for outgoing APDUs.
    pub security_control: SecurityControl,
    /// The invocation counter of the next outgoing APDU.
    pub next_invocation_counter: u32,
    /// The guard on incoming invocation counters.
    pub replay_guard: ReplayGuard,
}

impl CipherContext {
    fn keys_for(&self, dedicated: bool) -> Keys {
        match (dedicated, self.dedicated_key) {
            (true, Some(k)) => Keys {
                encryption: k,
                authentication: self.keys.authentication,
            },
            _ => self.keys.clone(),
        }
    }

    fn next_ic(&mut self) -> u32 {
        let ic = self.next_invocation_counter;
        self.next_invocation_counter = ic.wrapping_add(1);
        ic
    }

    /// The most bytes [`Self::protect_apdu`] adds to a plain APDU: the ciphered tag, a length of
    /// up to three bytes, the security control byte, the invocation counter and the GMAC tag.
    pub const PROTECT_OVERHEAD: usize = 1 + 3 + 1 + 4 + super::suite0::TAG_LEN;

    /// Wraps a plain service APDU in its glo- (or, with a dedicated key, ded-) form.
    pub fn protect_apdu(&mut self, plain: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let first = *plain.first().ok_or(SecurityError::TooShort)?;
        let dedicated = self.dedicated_key.is_some();
        let ciphered_tag = if dedicated {
            tag::ded_of(first)
        } else {
            tag::glo_of(first)
        }
        .ok_or(SecurityError::NoCipheredForm(first))?;
        let ic = self.next_ic();
        let payload = protect(
            &self.keys_for(dedicated),
            &self.own_title,
            self.security_control,
            ic,
            plain,
        )?;
        Ok(crate::codec::Codec::to_bytes(&CipheredApdu {
            tag: ciphered_tag,
            security_control: self.security_control.0,
            invocation_counter: ic,
            payload: Cow::Owned(payload),
        }))
    }

    /// Wraps a plain APDU in general-glo-ciphering with this station's system title.
    pub fn protect_general(&mut self, plain: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let ic = self.next_ic();
        let payload = protect(
            &self.keys,
            &self.own_title,
            self.security_control,
            ic,
            plain,
        )?;
        Ok(crate::codec::Codec::to_bytes(&GeneralCiphering {
            dedicated: false,
            system_title: Cow::Borrowed(&self.own_title),
            security_control: self.security_control.0,
            invocation_counter: ic,
            payload: Cow::Owned(payload),
        }))
    }

    /// Removes protection with the keys for `dedicated`, then accepts the invocation counter:
    /// a tampered APDU never moves the counter.
    fn unprotect_checked(
        &mut self,
        dedicated: bool,
        title: &[u8; 8],
        sc: u8,
        ic: u32,
        payload: &[u8],
    ) -> Result<Vec<u8>, SecurityError> {
        let plain = unprotect(
            &self.keys_for(dedicated),
            title,
            SecurityControl(sc),
            ic,
            payload,
        )?;
        self.replay_guard.accept(ic)?;
        Ok(plain)
    }

    /// Unwraps a glo- or ded- APDU from the peer, checking the tag and the invocation counter.
    pub fn unprotect_apdu(&mut self, apdu: &CipheredApdu<'_>) -> Result<Vec<u8>, SecurityError> {
        let title = self.peer_title;
        self.unprotect_checked(
            apdu.is_dedicated(),
            &title,
            apdu.security_control,
            apdu.invocation_counter,
            &apdu.payload,
        )
    }

    /// Unwraps a general-glo-ciphering APDU from the peer.
    pub fn unprotect_general(
        &mut self,
        apdu: &GeneralCiphering<'_>,
    ) -> Result<Vec<u8>, SecurityError> {
        let title: [u8; 8] = apdu
            .system_title
            .as_ref()
            .try_into()
            .map_err(|_| SecurityError::BadSystemTitle)?;
        self.unprotect_checked(
            apdu.dedicated,
            &title,
            apdu.security_control,
            apdu.invocation_counter,
            &apdu.payload,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::Apdu;
    use crate::codec::Codec;

    fn pair() -> (CipherContext, CipherContext) {
        let keys = Keys {
            encryption: [0x11; 16],
            authentication: [0x22; 16],
        };
        let client = CipherContext {
            keys: keys.clone(),
            dedicated_key: None,
            own_title: *b"CLIENT01",
            peer_title: *b"METER001",
            security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
            next_invocation_counter: 1,
            replay_guard: ReplayGuard::default(),
        };
        let server = CipherContext {
            own_title: *b"METER001",
            peer_title: *b"CLIENT01",
            ..client.clone()
        };
        (client, server)
    }

    #[test]
    fn glo_get_round_trip_and_replay_is_refused() {
        let (mut client, mut server) = pair();
        let plain = hex::decode("C00100000800000100 00FF0200".replace(' ', "")).unwrap();
        let wire = client.protect_apdu(&plain).unwrap();
        assert_eq!(wire[0], 0xC8);
        let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(server.unprotect_apdu(&c).unwrap(), plain);
        assert_eq!(
            server.unprotect_apdu(&c),
            Err(SecurityError::Replay {
                received: 1,
                last: 1
            })
        );
    }

    #[test]
    fn dedicated_key_gives_ded_apdus() {
        let (mut client, mut server) = pair();
        client.dedicated_key = Some([0x33; 16]);
        server.dedicated_key = Some([0x33; 16]);
        let wire = client.protect_apdu(&[0xC3, 0x01, 0xC1]).unwrap();
        assert_eq!(wire[0], 0xD3);
        let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(server.unprotect_apdu(&c).unwrap(), [0xC3, 0x01, 0xC1]);
    }

    #[test]
    fn general_glo_ciphering_round_trip() {
        let (mut client, mut server) = pair();
        let wire = client.protect_general(&[0xC0, 0x01, 0xC1]).unwrap();
        let Apdu::GeneralCiphering(g) = Apdu::decode(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(g.system_title.as_ref(), b"CLIENT01");
        assert_eq!(server.unprotect_general(&g).unwrap(), [0xC0, 0x01, 0xC1]);
    }

    #[test]
    fn wrong_key_fails_authentication() {
        let (mut client, mut server) = pair();
        server.keys.encryption = [0x99; 16];
        let wire = client.protect_apdu(&[0xC0, 0x01, 0xC1]).unwrap();
        let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(
            server.unprotect_apdu(&c),
            Err(SecurityError::AuthenticationFailed)
        );
        assert_eq!(
            server.replay_guard.last(),
            None,
            "a failed APDU must not move the counter"
        );
    }
}
