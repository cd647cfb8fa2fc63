//! The meter a conformance run tests: a target file, or a bare `tcp://HOST:PORT`.
//!
//! ```toml
//! name = "bench meter"              # optional
//! address = "127.0.0.1:4059"
//! transport = "wrapper"             # or "hdlc"
//! server_wport = 1                  # wrapper destination wPort
//! hdlc_server = [1, 17]             # HDLC upper and lower server address
//! client = "public"                 # the main client: public, lls or hls
//! part = 1                          # the firmware part the images upgrade
//! emulated = false                  # true: destructive cases run without --allow-destructive
//! baseline = "baseline.toml"        # optional, relative to this file
//!
//! [lls]
//! client = 1
//! password = "12345678"
//!
//! [hls]
//! client = 48
//! system_title = "4D4D4D0000000001"     # the client's, hex
//! encryption_key = "000102030405060708090A0B0C0D0E0F"
//! authentication_key = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
//!
//! [images.valid]                    # also bad_signature, wrong_part, metrology
//! file = "app-2.0.0.img"            # relative to this file
//! identifier = "APP-2.0.0"          # sent in image_transfer_initiate
//! version = "APP-2.0.0"             # the active firmware identifier once activated
//! ```

use super::case::Capability;
use super::value::parse_hex;
use crate::target::{Auth, Target, Transport};
use dlms::hdlc::HdlcAddress;
use dlms::security::Keys;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An image a case can transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestImage {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// The identifier for image_transfer_initiate.
    pub identifier: Vec<u8>,
    /// The active firmware identifier once activated.
    pub version: Vec<u8>,
}

/// The images the target provides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Images {
    /// One the meter accepts.
    pub valid: Option<TestImage>,
    /// One whose signature is broken.
    pub bad_signature: Option<TestImage>,
    /// One for another firmware part.
    pub wrong_part: Option<TestImage>,
    /// One for the metrology part.
    pub metrology: Option<TestImage>,
}

/// An HLS-GMAC client.
#[derive(Debug, Clone)]
pub struct HlsClient {
    /// Its SAP.
    pub sap: u16,
    /// The global keys.
    pub keys: Keys,
    /// The client's system title.
    pub system_title: [u8; 8],
}

/// A meter under test.
#[derive(Debug, Clone)]
pub struct ConformTarget {
    /// How the main client reaches it.
    pub main: Target,
    /// The LLS client and password, if known.
    pub lls: Option<(u16, Vec<u8>)>,
    /// The HLS-GMAC client, if known.
    pub hls: Option<HlsClient>,
    /// The firmware part the images upgrade.
    pub part: u8,
    /// The images.
    pub images: Images,
    /// An emulated meter: destructive cases are allowed by default.
    pub emulated: bool,
    /// The baseline named by the target file.
    pub baseline: Option<PathBuf>,
}

impl ConformTarget {
    /// A bare target: public client 16 over the wrapper, opaque images only.
    pub fn bare(url: &str) -> Result<Self, String> {
        Ok(ConformTarget {
            main: Target::parse(url, Transport::Wrapper)?,
            lls: None,
            hls: None,
            part: 1,
            images: Images::default(),
            emulated: false,
            baseline: None,
        })
    }

    /// What the target offers (the bench adds power-cycle).
    pub fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps = BTreeSet::new();
        caps.insert(match self.main.transport {
            Transport::Wrapper => Capability::Wrapper,
            Transport::Hdlc => Capability::Hdlc,
        });
        let images = [
            (&self.images.valid, Capability::ValidImage),
            (&self.images.bad_signature, Capability::BadSignatureImage),
            (&self.images.wrong_part, Capability::WrongPartImage),
            (&self.images.metrology, Capability::MetrologyImage),
        ];
        caps.extend(images.iter().filter(|(i, _)| i.is_some()).map(|(_, c)| *c));
        if self.lls.is_some() {
            caps.insert(Capability::Lls);
        }
        if self.hls.is_some() {
            caps.insert(Capability::Hls);
        }
        caps
    }

    /// The main target with another client.
    pub fn as_client(&self, sap: u16, auth: Auth) -> Target {
        Target {
            client_sap: sap,
            auth,
            ..self.main.clone()
        }
    }

    /// Reads a target file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), dir)
    }

    /// Parses a target file's text; `origin` names it in errors, files are relative to `dir`.
    pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<Self, String> {
        let file: TargetFile = crate::toml_file::parse(text, origin)?;
        let field = |f: &str, e: String| format!("{origin}: field {f}: {e}");
        let mut main = Target::parse(&file.address, file.transport.unwrap_or(Transport::Wrapper))
            .map_err(|e| field("address", e))?;
        if let Some(name) = file.name {
            main.name = name;
        }
        if let Some(w) = file.server_wport {
            main.server_wport = w;
        }
        if let Some([upper, lower]) = file.hdlc_server {
            main.server_hdlc = HdlcAddress::server(upper, lower);
        }
        let lls = file.lls.map(|l| (l.client, l.password.into_bytes()));
        let hls = file
            .hls
            .map(|h| -> Result<HlsClient, String> {
                let key = |name: &str, hex: &str| -> Result<[u8; 16], String> {
                    parse_hex(hex)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| field(&format!("hls.{name}"), "16 bytes of hex".into()))
                };
                Ok(HlsClient {
                    sap: h.client,
                    keys: Keys {
                        encryption: key("encryption_key", &h.encryption_key)?,
                        authentication: key("authentication_key", &h.authentication_key)?,
                    },
                    system_title: parse_hex(&h.system_title)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| field("hls.system_title", "8 bytes of hex".into()))?,
                })
            })
            .transpose()?;
        match file.client.as_str() {
            "public" => {}
            "lls" => {
                let (sap, pw) = lls
                    .clone()
                    .ok_or_else(|| field("client", "\"lls\" needs an [lls] table".into()))?;
                main.client_sap = sap;
                main.auth = Auth::Lls(pw);
            }
            "hls" => {
                let h = hls
                    .clone()
                    .ok_or_else(|| field("client", "\"hls\" needs an [hls] table".into()))?;
                main.client_sap = h.sap;
                main.auth = Auth::HlsGmac {
                    keys: h.keys,
                    system_title: h.system_title,
                };
            }
            other => {
                return Err(field(
                    "client",
                    format!("`{other}` is not public, lls or hls"),
                ))
            }
        }
        let image = |name: &str, spec: Option<ImageSpec>| -> Result<Option<TestImage>, String> {
            spec.map(|s| {
                let path = dir.join(&s.file);
                let bytes = std::fs::read(&path).map_err(|e| {
                    field(
                        &format!("images.{name}.file"),
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Ok(TestImage {
                    bytes: Arc::new(bytes),
                    version: s
                        .version
                        .unwrap_or_else(|| s.identifier.clone())
                        .into_bytes(),
                    identifier: s.identifier.into_bytes(),
                })
            })
            .transpose()
        };
        let images = file.images.unwrap_or_default();
        Ok(ConformTarget {
            main,
            lls,
            hls,
            part: file.part.unwrap_or(1),
            images: Images {
                valid: image("valid", images.valid)?,
                bad_signature: image("bad_signature", images.bad_signature)?,
                wrong_part: image("wrong_part", images.wrong_part)?,
                metrology: image("metrology", images.metrology)?,
            },
            emulated: file.emulated,
            baseline: file.baseline.map(|b| dir.join(b)),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    name: Option<String>,
    address: String,
    transport: Option<Transport>,
    server_wport: Option<u16>,
    hdlc_server: Option<[u16; 2]>,
    #[serde(default = "public")]
    client: String,
    part: Option<u8>,
    #[serde(default)]
    emulated: bool,
    baseline: Option<String>,
    lls: Option<LlsSpec>,
    hls: Option<HlsSpec>,
    images: Option<ImagesSpec>,
}

fn public() -> String {
    "public".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LlsSpec {
    client: u16,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HlsSpec {
    client: u16,
    system_title: String,
    encryption_key: String,
    authentication_key: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ImagesSpec {
    valid: Option<ImageSpec>,
    bad_signature: Option<ImageSpec>,
    wrong_part: Option<ImageSpec>,
    metrology: Option<ImageSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSpec {
    file: String,
    identifier: String,
    version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_target_is_public_and_has_no_images() {
        let t = ConformTarget::bare("tcp://127.0.0.1:4059").unwrap();
        assert_eq!(t.main.client_sap, 16);
        assert_eq!(
            t.capabilities().into_iter().collect::<Vec<_>>(),
            vec![Capability::Wrapper]
        );
    }

    #[test]
    fn target_files_name_the_field_in_errors() {
        let dir = Path::new(".");
        let e = ConformTarget::parse(
            "address = \"127.0.0.1:4059\"\nclient = \"lls\"\n",
            "t.toml",
            dir,
        )
        .unwrap_err();
        assert_eq!(e, "t.toml: field client: \"lls\" needs an [lls] table");
        let e = ConformTarget::parse("address = \"127.0.0.1:4059\"\nport = 1\n", "t.toml", dir)
            .unwrap_err();
        assert!(e.starts_with("t.toml: line 2: unknown field `port`"), "{e}");
        let t = ConformTarget::parse(
            "address = \"127.0.0.1:4059\"\nclient = \"lls\"\n[lls]\nclient = 1\npassword = \"pw\"\n",
            "t.toml",
            dir,
        )
        .unwrap();
        assert_eq!(t.main.client_sap, 1);
        assert!(t.capabilities().contains(&Capability::Lls));
    }
}
