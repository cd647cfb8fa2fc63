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

/// The fixed key the benches sign their images with.
pub fn bench_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).expect("a valid scalar")
}

/// Writes `key`'s public half to `path` as PEM (what `emulate --trust-key` reads).
pub fn write_public(key: &SigningKey, path: &std::path::Path) -> Result<(), String> {
    use p256::pkcs8::EncodePublicKey;
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))
}
