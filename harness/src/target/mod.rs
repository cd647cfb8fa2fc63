//! Which meter to talk to, and how: one model for every command.
//!
//! A [`Target`] is one connection's worth: address, framing, addresses, the client and its
//! credentials. A [`MeterTarget`] is a meter as a targets file describes it: the target the
//! commands use, the other clients it knows (LLS, HLS), its firmware part, test images,
//! whether it is emulated, and its baseline of known deviations. Files (see [`file`]), URLs
//! (see [`url`]) and command-line flags (see [`Overrides`]) all produce these.

mod endpoint;
pub mod file;
mod group_access;
mod overrides;
pub mod statement;
pub mod url;

pub use dlms::Transport;
pub use endpoint::{Endpoint, SerialLine};
pub use group_access::{GroupAccess, GroupKeys};
pub use overrides::Overrides;
pub use statement::Statement;

use dlms::hdlc::{HdlcAddress, HdlcParameters};
use dlms::security::Keys;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The public client's SAP (IEC 62056-6-2 / Green Book: the public client, no security).
pub const PUBLIC_CLIENT: u16 = 16;

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No authentication.
    None,
    /// LLS with a password.
    Lls(Vec<u8>),
    /// HLS-GMAC with security suite 0 ciphering.
    HlsGmac {
        /// The global keys.
        keys: Keys,
        /// The client's system title.
        system_title: [u8; 8],
    },
}

/// A meter and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// A name for reports (the address by default).
    pub name: String,
    /// Where it is reached: an IP address, or a serial line.
    pub address: Endpoint,
    /// The framing.
    pub transport: Transport,
    /// The client SAP (wrapper source wPort, HDLC client address).
    pub client_sap: u16,
    /// The server wPort (wrapper).
    pub server_wport: u16,
    /// The server address (HDLC).
    pub server_hdlc: HdlcAddress,
    /// Authentication.
    pub auth: Auth,
    /// How long one request may wait for its reply.
    pub request_timeout: Duration,
    /// The HDLC link parameters proposed in the SNRM.
    pub hdlc_parameters: HdlcParameters,
    /// This meter's own deadlines, where they differ from the upgrade plan's.
    pub deadlines: Deadlines,
    /// The IP multicast group the meter joined, where group delivery reaches it.
    pub multicast: Option<std::net::SocketAddrV4>,
    /// How group requests reach it, if the targets file says it takes them.
    pub group: Option<GroupAccess>,
}

/// How long a meter may take, where it differs from the plan (a slow PLC meter, a meter whose
/// verification takes minutes); `None` keeps the plan's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    /// The first connection.
    pub connect: Option<Duration>,
    /// Back after a reboot or a cut.
    pub reconnect: Option<Duration>,
    /// Verification.
    pub verify: Option<Duration>,
}

impl Target {
    /// The public client at `address` over `transport`, with the usual server addresses
    /// (wPort 1; HDLC logical 1, physical 17).
    pub fn new(address: impl Into<Endpoint>, transport: Transport) -> Self {
        let address = address.into();
        Target {
            name: address.to_string(),
            address,
            transport,
            client_sap: PUBLIC_CLIENT,
            server_wport: 1,
            server_hdlc: HdlcAddress::server(1, 17),
            auth: Auth::None,
            request_timeout: Duration::from_secs(5),
            hdlc_parameters: HdlcParameters {
                max_info_tx: 1024,
                max_info_rx: 1024,
                window_tx: 1,
                window_rx: 1,
            },
            deadlines: Deadlines::default(),
            multicast: None,
            group: None,
        }
    }

    /// A public-client target at `tcp://HOST:PORT` (or `HOST:PORT`) over `transport`.
    pub fn parse(text: &str, transport: Transport) -> Result<Self, url::UrlError> {
        let mut target = url::parse(text)?;
        if !text.starts_with("hdlc+") && !url::is_serial(text) {
            target.transport = transport;
        }
        Ok(target)
    }
}

/// An LLS client: its SAP and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlsClient {
    /// Its SAP (1, the management client, on most meters).
    pub sap: u16,
    /// The password.
    pub password: Vec<u8>,
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

/// HLS-GMAC credentials as an `--hls-keys` file gives them: the SAP is optional there.
#[derive(Debug, Clone)]
pub struct HlsKeys {
    /// The client's SAP, if the file gives it.
    pub client: Option<u16>,
    /// The global keys.
    pub keys: Keys,
    /// The client's system title.
    pub system_title: [u8; 8],
}

/// Which of a meter's clients the commands associate as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// The public client, no authentication.
    Public,
    /// The LLS client.
    Lls,
    /// The HLS-GMAC client.
    Hls,
}

/// An image a case or an upgrade can transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestImage {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// The identifier for image_transfer_initiate.
    pub identifier: Vec<u8>,
    /// The active firmware identifier once activated.
    pub version: Vec<u8>,
}

/// The images a meter's file names.
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

/// A meter as the commands know it.
#[derive(Debug, Clone)]
pub struct MeterTarget {
    /// How the commands reach it: the address, framing and the client they associate as.
    pub main: Target,
    /// The LLS client, if known.
    pub lls: Option<LlsClient>,
    /// The HLS-GMAC client, if known.
    pub hls: Option<HlsClient>,
    /// The firmware part the images upgrade, if the file says.
    pub part: Option<u8>,
    /// The images.
    pub images: Images,
    /// An emulated meter: conformance cases of every tier run without `--allow`.
    pub emulated: bool,
    /// The baseline of known deviations named by the file.
    pub baseline: Option<PathBuf>,
    /// What the vendor declares about the options the standard leaves open.
    pub statement: Statement,
    /// The bench's commands to power-cycle and reset the meter.
    pub bench: BenchHooks,
    /// Free labels a campaign plan selects cohorts by (`model`, `population`, `gateway`, ...).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Shell commands a real bench runs for the conformance cases: power-cycling the meter (a lab
/// supply, a smart plug) and putting it back in its factory state before each case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchHooks {
    /// Cuts the meter's power and restores it.
    pub power_cycle: Option<String>,
    /// Puts the meter back in its factory state.
    pub reset: Option<String>,
}

impl MeterTarget {
    /// A meter known only by its target: no other clients, no images.
    pub fn bare(main: Target) -> Self {
        MeterTarget {
            main,
            lls: None,
            hls: None,
            part: None,
            images: Images::default(),
            emulated: false,
            baseline: None,
            statement: Statement::default(),
            bench: BenchHooks::default(),
            labels: Default::default(),
        }
    }

    /// The main target with another client.
    pub fn as_client(&self, sap: u16, auth: Auth) -> Target {
        Target {
            client_sap: sap,
            auth,
            ..self.main.clone()
        }
    }

    /// The target of one of the meter's clients, None if its credentials are unknown.
    pub fn client(&self, kind: ClientKind) -> Option<Target> {
        Some(match kind {
            ClientKind::Public => self.as_client(PUBLIC_CLIENT, Auth::None),
            ClientKind::Lls => {
                let lls = self.lls.as_ref()?;
                self.as_client(lls.sap, Auth::Lls(lls.password.clone()))
            }
            ClientKind::Hls => {
                let hls = self.hls.as_ref()?;
                self.as_client(
                    hls.sap,
                    Auth::HlsGmac {
                        keys: hls.keys.clone(),
                        system_title: hls.system_title,
                    },
                )
            }
        })
    }

    /// The client commands use when nothing says which: the strongest whose credentials are
    /// known.
    pub fn strongest_client(&self) -> ClientKind {
        if self.hls.is_some() {
            ClientKind::Hls
        } else if self.lls.is_some() {
            ClientKind::Lls
        } else {
            ClientKind::Public
        }
    }
}

/// The valid image every meter names in its targets file, if they all name the same one (the
/// same file, identifier and part); `Err` when some differ or lack one.
pub fn shared_valid_image(
    meters: &[MeterTarget],
) -> Result<Option<(&TestImage, Option<u8>)>, TargetError> {
    let Some(first) = meters.first().and_then(|m| m.images.valid.as_ref()) else {
        return Ok(None);
    };
    let same = |m: &MeterTarget| {
        m.images.valid.as_ref().is_some_and(|i| {
            Arc::ptr_eq(&i.bytes, &first.bytes) && i.identifier == first.identifier
        }) && m.part == meters[0].part
    };
    if meters.iter().all(same) {
        Ok(Some((first, meters[0].part)))
    } else {
        Err(TargetError::Flags(
            "the meters name different images.valid (or some none): give --image, or upgrade them in separate runs"
                .into(),
        ))
    }
}

/// Why a target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A URL that names no target.
    #[error(transparent)]
    Url(#[from] url::UrlError),
    /// A targets or keys file that could not be read or is wrong.
    #[error(transparent)]
    File(#[from] crate::file_error::FileError),
    /// Flags that do not fit the targets.
    #[error("{0}")]
    Flags(String),
}

/// The meters `--target` names: a URL (`tcp://HOST:PORT`, `udp://HOST:PORT`,
/// `hdlc+tcp://HOST:PORT[/PHYSICAL]`, `serial://TTY?baud=N`, `optical://TTY`, or `HOST:PORT`)
/// for one meter, else a targets file.
pub fn resolve(spec: &str) -> Result<Vec<MeterTarget>, TargetError> {
    let path = std::path::Path::new(spec);
    if url::is_url(spec) || (!path.exists() && spec.parse::<SocketAddr>().is_ok()) {
        return Ok(vec![MeterTarget::bare(url::parse(spec)?)]);
    }
    file::load(path)
}
