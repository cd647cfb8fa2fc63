//! Where a meter is reached: an IP address and port, or a serial line, with HDLC directly on it
//! or through an optical probe opened in protocol mode E (IEC 62056-21).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Where a meter is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP or UDP address.
    Ip(SocketAddr),
    /// A serial port on this machine.
    Serial(SerialLine),
}

/// A serial port and how the line is opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    /// The device (`/dev/ttyUSB0`).
    pub path: String,
    /// HDLC's rate on a direct line (8N1); through the optical probe, the meter proposes it
    /// after the sign-on at 300 Bd.
    pub baud: u32,
    /// Opened through the optical probe: IEC 62056-21's sign-on into mode E first.
    pub optical: bool,
    /// The device address in the sign-on (`/?ADDRESS!`), where the probe reaches several.
    pub device_address: Option<String>,
    /// Silence within a frame after which its bytes are dropped.
    pub inter_octet_timeout: Duration,
}

/// HDLC's usual rate on a direct serial line (the default comm_speed of IEC 62056-6-2's HDLC
/// setup, class 23).
pub const DEFAULT_BAUD: u32 = 9600;
/// The inter-octet time-out the harness allows: the HDLC setup's default of 25 ms, raised to
/// 100 ms because USB adapters and pseudo-terminals deliver a frame in chunks that long apart.
pub const DEFAULT_INTER_OCTET: Duration = Duration::from_millis(100);

impl SerialLine {
    /// A direct HDLC line on `path` at `baud`.
    pub fn direct(path: impl Into<String>, baud: u32) -> Self {
        SerialLine {
            path: path.into(),
            baud,
            optical: false,
            device_address: None,
            inter_octet_timeout: DEFAULT_INTER_OCTET,
        }
    }

    /// An optical probe on `path`.
    pub fn optical(path: impl Into<String>) -> Self {
        SerialLine {
            optical: true,
            ..Self::direct(path, dlms::mode_e::SIGN_ON_BAUD)
        }
    }
}

impl Endpoint {
    /// The IP address, if the meter is reached over IP.
    pub fn ip(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Ip(a) => Some(*a),
            Endpoint::Serial(_) => None,
        }
    }

    /// The serial line, if the meter is on one.
    pub fn serial(&self) -> Option<&SerialLine> {
        match self {
            Endpoint::Serial(line) => Some(line),
            Endpoint::Ip(_) => None,
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(address: SocketAddr) -> Self {
        Endpoint::Ip(address)
    }
}

impl fmt::Display for Endpoint {
    /// `HOST:PORT`, `serial://PATH?baud=N` or `optical://PATH`, as URLs write them (without
    /// the server address, which the target carries).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Ip(a) => write!(f, "{a}"),
            Endpoint::Serial(line) if line.optical => {
                write!(f, "optical://{}", line.path)?;
                match &line.device_address {
                    Some(a) => write!(f, "?address={a}"),
                    None => Ok(()),
                }
            }
            Endpoint::Serial(line) => write!(f, "serial://{}?baud={}", line.path, line.baud),
        }
    }
}
