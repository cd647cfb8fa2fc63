//! Which framing carries APDUs: over a byte stream, or in datagrams.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The framing on a connection: the wrapper of IEC 62056-4-7 (TCP and UDP) or HDLC of
/// IEC 62056-46, as a serial line or a serial-to-TCP adapter carries it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The wrapper: an 8-byte header with version, source and destination wPort and length.
    #[default]
    Wrapper,
    /// HDLC frames with the LLC header.
    Hdlc,
    /// The wrapper over UDP (IEC 62056-4-7's UDP-based transport layer): one wrapped APDU per
    /// datagram, no connection; the association lives between the client's address and the
    /// meter until it is released or goes silent.
    Udp,
}

impl Transport {
    /// The name used in files and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Wrapper => "wrapper",
            Transport::Hdlc => "hdlc",
            Transport::Udp => "udp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A text that names no transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a transport: wrapper, hdlc or udp")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, UnknownTransport> {
        match s {
            "wrapper" => Ok(Transport::Wrapper),
            "hdlc" => Ok(Transport::Hdlc),
            "udp" => Ok(Transport::Udp),
            other => Err(UnknownTransport(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [Transport::Wrapper, Transport::Hdlc, Transport::Udp] {
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
        }
        assert!("tcp".parse::<Transport>().is_err());
    }
}
