//! Which meter to talk to, and how.

use dlms::hdlc::{HdlcAddress, HdlcParameters};
use dlms::security::Keys;
use std::net::SocketAddr;
use std::time::Duration;

/// The framing on the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// IEC 62056-4-7 wrapper.
    Wrapper,
    /// HDLC (IEC 62056-46).
    Hdlc,
}

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
    /// Where it listens.
    pub address: SocketAddr,
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
}

impl Target {
    /// A public-client target at `tcp://HOST:PORT` (or `HOST:PORT`) over `transport`.
    pub fn parse(url: &str, transport: Transport) -> Result<Self, String> {
        let rest = url.strip_prefix("tcp://").unwrap_or(url);
        let address: SocketAddr = rest
            .parse()
            .map_err(|_| format!("`{url}` is not tcp://HOST:PORT with a numeric host"))?;
        Ok(Target {
            name: address.to_string(),
            address,
            transport,
            client_sap: 16,
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
        })
    }
}
