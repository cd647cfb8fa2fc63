//! Keys derived from a scenario's seed, so that a run replays with the same keys.

use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};

/// The key of `role` (the vendor, a stranger) for `seed`.
pub fn key(seed: u64, role: &str) -> SigningKey {
    let digest = Sha256::new()
        .chain_update(role)
        .chain_update(seed.to_be_bytes())
        .finalize();
    SigningKey::from_slice(&digest).expect("a SHA-256 digest is a valid P-256 scalar")
}

/// The vendor key a scenario's meters trust.
pub fn vendor(seed: u64) -> SigningKey {
    key(seed, "meterfleet demo vendor")
}

/// The key the doomed meters trust instead: no image the vendor signs verifies on them.
pub fn stranger(seed: u64) -> SigningKey {
    key(seed, "meterfleet demo stranger")
}
