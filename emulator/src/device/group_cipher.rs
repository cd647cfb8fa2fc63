//! Group APDUs deciphered once for a whole fleet: one multicast datagram reaches every member,
//! and each would decipher the same bytes with the same keys. The first meter does it and the
//! others take its result; the keys are part of what is compared, and each meter still checks
//! the counter against the last one it accepted itself.

use dlms::apdu::GeneralCiphering;
use dlms::security::{open_group, Keys, SecurityError};
use std::sync::Mutex;

/// The last group APDU a fleet's meters deciphered, with its keys and result.
#[derive(Debug, Default)]
pub struct GroupDecipherCache {
    last: Mutex<Option<Opened>>,
}

#[derive(Debug)]
struct Opened {
    keys: Keys,
    apdu: Vec<u8>,
    result: Result<Vec<u8>, SecurityError>,
}

impl GroupDecipherCache {
    /// [`open_group`] of `apdu` (whose bytes are `bytes`) with `keys`, taken from the last call
    /// when it had the same keys and bytes.
    pub fn open(
        &self,
        keys: &Keys,
        bytes: &[u8],
        apdu: &GeneralCiphering<'_>,
    ) -> Result<Vec<u8>, SecurityError> {
        let mut last = self.last.lock().expect("group cipher cache lock");
        if let Some(hit) = last.as_ref().filter(|o| o.keys == *keys && o.apdu == bytes) {
            return hit.result.clone();
        }
        let result = open_group(keys, apdu);
        *last = Some(Opened {
            keys: keys.clone(),
            apdu: bytes.to_vec(),
            result: result.clone(),
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlms::apdu::Apdu;
    use dlms::Codec;

    fn keys(broadcast: u8) -> Keys {
        Keys {
            encryption: [broadcast; 16],
            authentication: [0xD0; 16],
        }
    }

    #[test]
    fn a_meter_with_other_keys_does_not_take_anothers_result() {
        let bytes = dlms::security::protect_group(&keys(1), b"HEADEND1", 5, &[0xC3, 1]).unwrap();
        let Ok(Apdu::GeneralCiphering(g)) = Apdu::decode(&bytes) else {
            panic!("not general-glo-ciphering")
        };
        let cache = GroupDecipherCache::default();
        assert_eq!(cache.open(&keys(1), &bytes, &g), Ok(vec![0xC3, 1]));
        assert_eq!(
            cache.open(&keys(2), &bytes, &g),
            Err(SecurityError::AuthenticationFailed)
        );
        assert_eq!(cache.open(&keys(1), &bytes, &g), Ok(vec![0xC3, 1]));
    }
}
