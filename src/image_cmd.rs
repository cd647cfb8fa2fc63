//! `meterfleet image`: make keys, build signed images, inspect them, and break them on purpose.

use dlms::image::{self, Corruption};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `meterfleet image ...`
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Make an ECDSA P-256 key pair: PREFIX.key (PKCS#8 PEM, readable by its owner only) and
    /// PREFIX.pub (public key PEM).
    #[command(after_help = "Examples:\n  meterfleet image keygen --out vendor")]
    Keygen {
        /// Where to write the keys, without extension.
        #[arg(short, long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Build a signed image for one firmware part.
    #[command(after_help = BUILD_EXAMPLES)]
    Build {
        /// The private key images are signed with (PREFIX.key).
        #[arg(long, value_name = "FILE")]
        signing_key: PathBuf,
        /// The target firmware part: 0 metrology, 1 application, 2 communication module.
        #[arg(long)]
        part: u8,
        /// The version identifier the meter reports once the image is active.
        #[arg(long, value_name = "ID")]
        image_version: String,
        /// A prerequisite: the image verifies only on a meter whose PART runs at least
        /// VERSION (digit runs compare as numbers). Repeat for several, at most 8.
        #[arg(long, value_name = "PART=VERSION", value_parser = prerequisite)]
        requires: Vec<(u8, String)>,
        /// The payload file.
        payload: PathBuf,
        /// Where to write the image.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Show an image's header and check it, with its signature when a key is given.
    #[command(after_help = "Examples:\n  meterfleet image inspect fw.img --trust-key vendor.pub")]
    Inspect {
        /// The image.
        image: PathBuf,
        /// A public key (PREFIX.pub) to verify the signature with.
        #[arg(long)]
        trust_key: Option<PathBuf>,
    },
    /// Write a deliberately broken copy of an image.
    #[command(after_help = CORRUPT_EXAMPLES)]
    Corrupt {
        /// The image.
        image: PathBuf,
        /// bad-signature, flipped-bit, truncated, or wrong-part=B (needs --signing-key to
        /// re-sign).
        #[arg(long)]
        how: String,
        /// The private key, for wrong-part.
        #[arg(long, value_name = "FILE")]
        signing_key: Option<PathBuf>,
        /// Where to write the broken image.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
}

const BUILD_EXAMPLES: &str = "Examples:
  meterfleet image build --signing-key vendor.key --part 1 --image-version APP-2.0.0 payload.bin -o fw.img
  meterfleet image build --signing-key vendor.key --part 1 --image-version APP-3.0.0 --requires 1=APP-2.0.0 --requires 2=COM-1.4.0 payload.bin -o app3.img";

const CORRUPT_EXAMPLES: &str = "Examples:
  meterfleet image corrupt fw.img --how bad-signature -o bad.img
  meterfleet image corrupt fw.img --how wrong-part=0 --signing-key vendor.key -o metrology.img";

/// Runs an image command, printing a clear error naming the file on failure.
pub fn run(command: ImageCommand) -> ExitCode {
    match execute(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a private key readable and writable by its owner only (mode 0600), whatever the
/// umask and whether the file existed.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let error = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(error)?;
    file.write_all(bytes).map_err(error)
}

/// Loads a PKCS#8 PEM private key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, String> {
    let pem =
        String::from_utf8(read(path)?).map_err(|_| format!("{}: not PEM text", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| format!("{}: not a P-256 PKCS#8 private key: {e}", path.display()))
}

/// Loads a PEM public key.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, String> {
    let pem =
        String::from_utf8(read(path)?).map_err(|_| format!("{}: not PEM text", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| format!("{}: not a P-256 public key: {e}", path.display()))
}

fn with_extension(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn execute(command: ImageCommand) -> Result<(), String> {
    match command {
        ImageCommand::Keygen { out } => {
            let key = SigningKey::random(&mut rand_core::OsRng);
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| format!("encoding the private key: {e}"))?;
            let public = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| format!("encoding the public key: {e}"))?;
            let (key_path, pub_path) = (with_extension(&out, "key"), with_extension(&out, "pub"));
            write_private(&key_path, private.as_bytes())?;
            write(&pub_path, public.as_bytes())?;
            println!("wrote {} and {}", key_path.display(), pub_path.display());
        }
        ImageCommand::Build {
            signing_key,
            part,
            image_version: version,
            requires,
            payload,
            out,
        } => {
            let key = load_signing_key(&signing_key)?;
            let payload = read(&payload)?;
            let needs: Vec<(u8, &[u8])> =
                requires.iter().map(|(p, v)| (*p, v.as_bytes())).collect();
            let image = image::build_with_prerequisites(
                &key,
                part,
                version.as_bytes(),
                &needs,
                &payload,
            )
            .ok_or_else(|| {
                format!(
                    "--part must be 0..={} and --image-version 1..={} bytes (got part {part}, {} bytes), with at most {} --requires",
                    image::MAX_PART,
                    image::MAX_IDENTIFIER_LEN,
                    version.len(),
                    image::MAX_PREREQUISITES
                )
            })?;
            write(&out, &image)?;
            println!(
                "wrote {} ({} bytes, part {part}, version {version})",
                out.display(),
                image.len()
            );
        }
        ImageCommand::Inspect { image, trust_key } => {
            let bytes = read(&image)?;
            let info = image::parse(&bytes).map_err(|e| format!("{}: {e}", image.display()))?;
            println!("image: {} ({} bytes)", image.display(), bytes.len());
            println!("firmware part: {}", info.part);
            println!(
                "version identifier: {}",
                String::from_utf8_lossy(info.identifier)
            );
            for (part, least) in &info.prerequisites {
                println!(
                    "requires: part {part} running at least {}",
                    String::from_utf8_lossy(least)
                );
            }
            println!(
                "payload: {} bytes, CRC-32 {:08X} (ok)",
                info.payload.len(),
                info.crc32
            );
            match trust_key {
                Some(pub_path) => {
                    let key = load_verifying_key(&pub_path)?;
                    image::verify(&bytes, &key).map_err(|e| format!("{}: {e}", image.display()))?;
                    println!("signature: valid for {}", pub_path.display());
                }
                None => println!("signature: not checked (no --trust-key)"),
            }
        }
        ImageCommand::Corrupt {
            image,
            how,
            signing_key: key,
            out,
        } => {
            let bytes = read(&image)?;
            let corruption = match how.as_str() {
                "bad-signature" => Corruption::BadSignature,
                "flipped-bit" => Corruption::FlippedBit,
                "truncated" => Corruption::Truncated,
                other => match other.strip_prefix("wrong-part=").map(str::parse::<u8>) {
                    Some(Ok(part)) => Corruption::WrongPart(part),
                    _ => {
                        return Err(format!(
                            "--how {other}: expected bad-signature, flipped-bit, truncated or wrong-part=B"
                        ))
                    }
                },
            };
            let key = key.as_deref().map(load_signing_key).transpose()?;
            if matches!(corruption, Corruption::WrongPart(_)) && key.is_none() {
                return Err("--how wrong-part=B re-signs the image: give --signing-key".into());
            }
            let broken = image::corrupt(&bytes, corruption, key.as_ref()).ok_or_else(|| {
                format!(
                    "{}: not an image that can be corrupted that way",
                    image.display()
                )
            })?;
            write(&out, &broken)?;
            println!("wrote {} ({how})", out.display());
        }
    }
    Ok(())
}

/// Parses `PART=VERSION` for `image build --requires`.
fn prerequisite(text: &str) -> Result<(u8, String), String> {
    let (part, version) = text
        .split_once('=')
        .ok_or("expected PART=VERSION, as 2=COM-1.4.0")?;
    let part = part
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= image::MAX_PART)
        .ok_or_else(|| format!("the part must be 0..={}", image::MAX_PART))?;
    Ok((part, version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_build_inspect_and_corrupt_work_together() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("vendor");
        execute(ImageCommand::Keygen {
            out: prefix.clone(),
        })
        .unwrap();
        let payload = dir.path().join("fw.bin");
        std::fs::write(&payload, vec![0x5Au8; 5000]).unwrap();
        let image = dir.path().join("fw.img");
        let private = with_extension(&prefix, "key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600,
            "the private key is its owner's only"
        );
        execute(ImageCommand::Build {
            signing_key: private,
            part: 1,
            image_version: "APP-2.0.0".into(),
            requires: vec![(2, "COM-1.0.0".into())],
            payload,
            out: image.clone(),
        })
        .unwrap();
        let public = with_extension(&prefix, "pub");
        execute(ImageCommand::Inspect {
            image: image.clone(),
            trust_key: Some(public.clone()),
        })
        .unwrap();
        let broken = dir.path().join("bad.img");
        execute(ImageCommand::Corrupt {
            image: image.clone(),
            how: "bad-signature".into(),
            signing_key: None,
            out: broken.clone(),
        })
        .unwrap();
        let err = execute(ImageCommand::Inspect {
            image: broken,
            trust_key: Some(public),
        })
        .unwrap_err();
        assert!(err.contains("bad signature"), "{err}");
        let err = execute(ImageCommand::Corrupt {
            image,
            how: "wrong-part=0".into(),
            signing_key: None,
            out: dir.path().join("x"),
        })
        .unwrap_err();
        assert!(err.contains("--signing-key"), "{err}");
    }

    #[test]
    fn missing_key_file_is_named() {
        let err = load_signing_key(Path::new("/nonexistent/k.key")).unwrap_err();
        assert!(err.starts_with("/nonexistent/k.key"), "{err}");
    }
}
