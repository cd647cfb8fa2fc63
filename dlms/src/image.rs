//! The firmware image container that meterfleet's emulated meters understand, and the tools to
//! build, sign, inspect and deliberately break one.
//!
//! Real meters' images are opaque to the harness; this format exists so that the emulator can
//! check an image the way the field documents describe (MCS301: ECDSA P-256 on every image;
//! SGM1400: CRC and signature; each image for one firmware part). Layout, big-endian:
//!
//! ```text
//! 0      4  magic "MFIM"
//! 4      1  format version (1, or 2 with prerequisites)
//! 5      1  target firmware part b (0 metrology, 1 application, 2..9 others)
//! 6      1  identifier length n (1..=64)
//! 7      n  version identifier (becomes the active firmware identifier 1-b:0.2.0.255)
//!           format 2 only: a count k (0..=8), then k prerequisites, each a firmware part
//!           (1 byte), a length m (1..=64) and the least version identifier that part must
//!           run (m bytes) for the image to verify
//! h      4  payload length L (h = 7 + n in format 1)
//! h+4    4  CRC-32 (ISO-HDLC) of the payload
//! h+8    L  payload
//! h+8+L  64 ECDSA P-256 signature (r ‖ s) over SHA-256 of every byte before it
//! ```
//!
//! Versions compare as their identifiers do with each run of digits taken as a number
//! ([`version_cmp`]): `APP-1.10.0` is after `APP-1.9.2`.

use crc::{Crc, Table, CRC_32_ISO_HDLC};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use thiserror::Error;

/// The magic at the start of every image.
pub const MAGIC: [u8; 4] = *b"MFIM";
/// The format of an image without prerequisites.
pub const FORMAT_VERSION: u8 = 1;
/// The format of an image with prerequisites.
pub const FORMAT_WITH_PREREQUISITES: u8 = 2;
/// The most prerequisites an image carries.
pub const MAX_PREREQUISITES: usize = 8;
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
    /// What must run before it: (firmware part, the least version identifier).
    pub prerequisites: Vec<(u8, &'a [u8])>,
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
    let format = image[4];
    if format != FORMAT_VERSION && format != FORMAT_WITH_PREREQUISITES {
        return Err(ImageError::UnsupportedVersion(format));
    }
    let part = image[5];
    let n = image[6] as usize;
    if part > MAX_PART || n == 0 || n > MAX_IDENTIFIER_LEN {
        return Err(ImageError::MalformedHeader);
    }
    let signed_len = image.len() - SIGNATURE_LEN;
    let truncated = || ImageError::Truncated(image.len());
    let identifier = image.get(7..7 + n).ok_or_else(truncated)?;
    let mut at = 7 + n;
    let mut prerequisites = Vec::new();
    if format == FORMAT_WITH_PREREQUISITES {
        let k = *image.get(at).ok_or_else(truncated)? as usize;
        if k > MAX_PREREQUISITES {
            return Err(ImageError::MalformedHeader);
        }
        at += 1;
        for _ in 0..k {
            let (&needed_part, &m) = image.get(at).zip(image.get(at + 1)).ok_or_else(truncated)?;
            let m = m as usize;
            if needed_part > MAX_PART || m == 0 || m > MAX_IDENTIFIER_LEN {
                return Err(ImageError::MalformedHeader);
            }
            let version = image.get(at + 2..at + 2 + m).ok_or_else(truncated)?;
            prerequisites.push((needed_part, version));
            at += 2 + m;
        }
    }
    let header_len = at + 8;
    if signed_len < header_len {
        return Err(truncated());
    }
    let u32_at = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().expect("4 bytes"));
    let declared = u32_at(at) as usize;
    let actual = signed_len - header_len;
    if declared != actual {
        return Err(ImageError::SizeMismatch { declared, actual });
    }
    let crc32 = u32_at(at + 4);
    let payload = &image[header_len..signed_len];
    if CRC32.checksum(payload) != crc32 {
        return Err(ImageError::CrcMismatch);
    }
    Ok(ImageInfo {
        part,
        identifier,
        prerequisites,
        payload,
        crc32,
        signature: &image[signed_len..],
        signed: &image[..signed_len],
    })
}

/// Orders two version identifiers: byte by byte, except that runs of ASCII digits compare as
/// numbers (`APP-1.10.0` after `APP-1.9.2`, `v2` before `v10`).
pub fn version_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let run = |s: &[u8], from: usize| {
                let end = s[from..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(s.len(), |p| from + p);
                (end, s[from..end].iter().skip_while(|c| **c == b'0').count())
            };
            let ((ei, li), (ej, lj)) = (run(a, i), run(b, j));
            // Without leading zeros, the longer run is the larger number; then digit by digit.
            let order = li
                .cmp(&lj)
                .then_with(|| a[ei - li..ei].cmp(&b[ej - lj..ej]));
            if order != Ordering::Equal {
                return order;
            }
            (i, j) = (ei, ej);
        } else {
            match a[i].cmp(&b[j]) {
                Ordering::Equal => (i, j) = (i + 1, j + 1),
                other => return other,
            }
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
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
    build_with_prerequisites(key, part, identifier, &[], payload)
}

/// Builds and signs an image that verifies only on a meter whose parts run at least the
/// versions `prerequisites` gives (format 2; format 1 when there are none); `None` if a part
/// or identifier is out of range, there are more than [`MAX_PREREQUISITES`], or the payload
/// exceeds 4 GiB.
pub fn build_with_prerequisites(
    key: &SigningKey,
    part: u8,
    identifier: &[u8],
    prerequisites: &[(u8, &[u8])],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let fits = |p: u8, id: &[u8]| p <= MAX_PART && !id.is_empty() && id.len() <= MAX_IDENTIFIER_LEN;
    if !fits(part, identifier)
        || prerequisites.len() > MAX_PREREQUISITES
        || !prerequisites.iter().all(|(p, id)| fits(*p, id))
    {
        return None;
    }
    let len = u32::try_from(payload.len()).ok()?;
    let format = if prerequisites.is_empty() {
        FORMAT_VERSION
    } else {
        FORMAT_WITH_PREREQUISITES
    };
    let mut out = Vec::with_capacity(15 + identifier.len() + payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[format, part, identifier.len() as u8]);
    out.extend_from_slice(identifier);
    if format == FORMAT_WITH_PREREQUISITES {
        out.push(prerequisites.len() as u8);
        for (p, id) in prerequisites {
            out.extend_from_slice(&[*p, id.len() as u8]);
            out.extend_from_slice(id);
        }
    }
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
            return build_with_prerequisites(
                key?,
                part,
                info.identifier,
                &info.prerequisites,
                info.payload,
            );
        }
        Corruption::Truncated => out.truncate(out.len() / 2),
        Corruption::FlippedBit => {
            let info = parse(image).ok()?;
            if info.payload.is_empty() {
                return None;
            }
            let at = info.signed.len() - info.payload.len();
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
    fn prerequisites_are_signed_and_read_back() {
        let image = build_with_prerequisites(
            &key(),
            1,
            b"APP-3.0.0",
            &[(1, b"APP-2.0.0"), (2, b"COM-1.4")],
            &[5; 100],
        )
        .unwrap();
        let info = verify(&image, key().verifying_key()).unwrap();
        assert_eq!(
            info.prerequisites,
            [(1, &b"APP-2.0.0"[..]), (2, &b"COM-1.4"[..])]
        );
        assert_eq!(info.payload, &[5; 100][..]);
        let flipped = corrupt(&image, Corruption::FlippedBit, None).unwrap();
        assert_eq!(parse(&flipped), Err(ImageError::CrcMismatch));
        assert_eq!(build(&key(), 1, b"A", b"x").unwrap()[4], FORMAT_VERSION);
        // A prerequisite count beyond the bound, or one cut short, is refused.
        let mut bad = image.clone();
        bad[7 + 9] = 9;
        assert_eq!(parse(&bad), Err(ImageError::MalformedHeader));
    }

    #[test]
    fn versions_compare_with_digit_runs_as_numbers() {
        use std::cmp::Ordering::*;
        for (a, b, order) in [
            ("APP-1.10.0", "APP-1.9.2", Greater),
            ("APP-2.0.0", "APP-2.0.0", Equal),
            ("v2", "v10", Less),
            ("APP-1.0", "APP-1.0.1", Less),
            ("APP-01.2", "APP-1.2", Equal),
            ("A-1", "B-0", Less),
        ] {
            assert_eq!(version_cmp(a.as_bytes(), b.as_bytes()), order, "{a} {b}");
        }
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
