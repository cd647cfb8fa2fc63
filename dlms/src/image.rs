//! The firmware image container that meterfleet's emulated meters understand, and the tools to
//! build, sign, inspect and deliberately break one.
//!
//! Real meters' images are opaque to the harness; this format exists so that the emulator can
//! check an image the way the field documents describe (MCS301: ECDSA P-256 on every image;
//! SGM1400: CRC and signature; each image for one firmware part). Layout, big-endian:
//!
//! ```text
//! 0      4  magic "MFIM"
//! 4      1  format version (1)
//! 5      1  target firmware part b (0 metrology, 1 application, 2..9 others)
//! 6      1  identifier length n (1..=64)
//! 7      n  version identifier (becomes the active firmware identifier 1-b:0.2.0.255)
//! 7+n    4  payload length L
//! 11+n   4  CRC-32 (ISO-HDLC) of the payload
//! 15+n   L  payload
//! 15+n+L 64 ECDSA P-256 signature (r ‖ s) over SHA-256 of every byte before it
//! ```

use crc::{Crc, Table, CRC_32_ISO_HDLC};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use thiserror::Error;

/// The magic at the start of every image.
pub const MAGIC: [u8; 4] = *b"MFIM";
/// The only format version.
pub const FORMAT_VERSION: u8 = 1;
/// The length of the signature trailer.
pub const SIGNATURE_LEN: usize = 64;
/// The longest version identifier.
pub const MAX_IDENTIFIER_LEN: usize = 64;
/// The highest firmware part number.
pub const MAX_PART: u8 = 9;

const CRC32: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISO_HDLC);

/// Which check of an image failed: the meter reports exactly this in its event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ImageError {
    /// Shorter than the smallest possible image, or than its header says.
    #[error("image truncated: {0} bytes")]
    Truncated(usize),
    /// Not an MFIM image.
    #[error("bad magic")]
    BadMagic,
    /// An MFIM format this meter does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A firmware part number above 9, or an empty or overlong identifier.
    #[error("malformed header")]
    MalformedHeader,
    /// The bytes after the header are not the payload length plus the signature.
    #[error("size mismatch: header says {declared} payload bytes, image holds {actual}")]
    SizeMismatch {
        /// What the header says.
        declared: usize,
        /// What the image holds.
        actual: usize,
    },
    /// The payload's CRC-32 does not match the header.
    #[error("CRC mismatch")]
    CrcMismatch,
    /// The signature does not verify with the trusted key.
    #[error("bad signature")]
    BadSignature,
}

/// The parsed header and the parts of a well-formed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo<'a> {
    /// Target firmware part.
    pub part: u8,
    /// Version identifier.
    pub identifier: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
    /// The payload CRC-32 from the header.
    pub crc32: u32,
    /// The signature trailer.
    pub signature: &'a [u8],
    /// Every byte before the signature (what is signed).
    pub signed: &'a [u8],
}

/// Parses an image's structure and checks its size and CRC (not the signature).
pub fn parse(image: &[u8]) -> Result<ImageInfo<'_>, ImageError> {
    if image.len() < 15 + SIGNATURE_LEN {
        return Err(ImageError::Truncated(image.len()));
    }
    if image[..4] != MAGIC {
        return Err(ImageError::BadMagic);
    }
    if image[4] != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion(image[4]));
    }
    let part = image[5];
    let n = image[6] as usize;
    if part > MAX_PART || n == 0 || n > MAX_IDENTIFIER_LEN {
        return Err(ImageError::MalformedHeader);
    }
    let header_len = 15 + n;
    if image.len() < header_len + SIGNATURE_LEN {
        return Err(ImageError::Truncated(image.len()));
    }
    let u32_at = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().expect("4 bytes"));
    let declared = u32_at(7 + n) as usize;
    let actual = image.len() - header_len - SIGNATURE_LEN;
    if declared != actual {
        return Err(ImageError::SizeMismatch { declared, actual });
    }
    let crc32 = u32_at(11 + n);
    let payload = &image[header_len..header_len + declared];
    if CRC32.checksum(payload) != crc32 {
        return Err(ImageError::CrcMismatch);
    }
    let signed_len = image.len() - SIGNATURE_LEN;
    Ok(ImageInfo {
        part,
        identifier: &image[7..7 + n],
        payload,
        crc32,
        signature: &image[signed_len..],
        signed: &image[..signed_len],
    })
}

/// Parses an image and verifies its signature with `key`.
pub fn verify<'a>(image: &'a [u8], key: &VerifyingKey) -> Result<ImageInfo<'a>, ImageError> {
    let info = parse(image)?;
    let signature = Signature::from_slice(info.signature).map_err(|_| ImageError::BadSignature)?;
    key.verify(info.signed, &signature)
        .map_err(|_| ImageError::BadSignature)?;
    Ok(info)
}

/// Builds and signs an image; `None` if the part or identifier is out of range or the payload
/// exceeds 4 GiB.
pub fn build(key: &SigningKey, part: u8, identifier: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    if part > MAX_PART || identifier.is_empty() || identifier.len() > MAX_IDENTIFIER_LEN {
        return None;
    }
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(15 + identifier.len() + payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, part, identifier.len() as u8]);
    out.extend_from_slice(identifier);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&CRC32.checksum(payload).to_be_bytes());
    out.extend_from_slice(payload);
    let signature: Signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    Some(out)
}

/// The ways `meterfleet image corrupt` breaks an image on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Flips a bit of the signature: only the signature check fails.
    BadSignature,
    /// Changes the target part and re-signs with `key`: a valid image for the wrong part.
    WrongPart(u8),
    /// Cuts the image short.
    Truncated,
    /// Flips one bit of the payload: the CRC check fails.
    FlippedBit,
}

/// Applies a corruption; `key` re-signs where the corruption needs a valid signature.
pub fn corrupt(image: &[u8], how: Corruption, key: Option<&SigningKey>) -> Option<Vec<u8>> {
    let mut out = image.to_vec();
    match how {
        Corruption::BadSignature => {
            *out.last_mut()? ^= 0x01;
        }
        Corruption::WrongPart(part) => {
            let info = parse(image).ok()?;
            return build(key?, part, info.identifier, info.payload);
        }
        Corruption::Truncated => out.truncate(out.len() / 2),
        Corruption::FlippedBit => {
            let n = *out.get(6)? as usize;
            let at = 15 + n;
            if at >= out.len().checked_sub(SIGNATURE_LEN)? {
                return None;
            }
            out[at] ^= 0x01;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[0x17; 32]).unwrap()
    }

    #[test]
    fn built_images_verify_and_parse_back() {
        let image = build(&key(), 1, b"APP-2.0.0", b"firmware bytes").unwrap();
        let info = verify(&image, key().verifying_key()).unwrap();
        assert_eq!(
            (info.part, info.identifier, info.payload),
            (1, &b"APP-2.0.0"[..], &b"firmware bytes"[..])
        );
    }

    #[test]
    fn each_corruption_fails_exactly_its_check() {
        let k = key();
        let image = build(&k, 1, b"APP-2.0.0", &[0xAB; 300]).unwrap();
        let vk = k.verifying_key();
        let bad_sig = corrupt(&image, Corruption::BadSignature, None).unwrap();
        assert_eq!(verify(&bad_sig, vk), Err(ImageError::BadSignature));
        let flipped = corrupt(&image, Corruption::FlippedBit, None).unwrap();
        assert_eq!(verify(&flipped, vk), Err(ImageError::CrcMismatch));
        let short = corrupt(&image, Corruption::Truncated, None).unwrap();
        assert!(matches!(
            verify(&short, vk),
            Err(ImageError::SizeMismatch { .. })
        ));
        let wrong = corrupt(&image, Corruption::WrongPart(0), Some(&k)).unwrap();
        assert_eq!(verify(&wrong, vk).unwrap().part, 0);
    }

    #[test]
    fn another_key_does_not_verify() {
        let image = build(&key(), 2, b"COMM-1", b"x").unwrap();
        let other = SigningKey::from_slice(&[0x42; 32]).unwrap();
        assert_eq!(
            verify(&image, other.verifying_key()),
            Err(ImageError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        assert_eq!(parse(b"short"), Err(ImageError::Truncated(5)));
        assert_eq!(parse(&[0u8; 100]), Err(ImageError::BadMagic));
        let mut v = vec![0u8; 100];
        v[..4].copy_from_slice(&MAGIC);
        v[4] = 1;
        v[5] = 10;
        assert_eq!(parse(&v), Err(ImageError::MalformedHeader));
    }
}
