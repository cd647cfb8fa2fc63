//! Targets written as URLs: `tcp://HOST:PORT` (the wrapper), `hdlc+tcp://HOST:PORT` (HDLC
//! through a serial-to-TCP adapter or a gateway), the latter optionally with the server's HDLC
//! address: `/PHYSICAL` or `/LOGICAL/PHYSICAL`. A bare `HOST:PORT` is the wrapper.

use super::{Target, Transport};
use dlms::hdlc::HdlcAddress;
use std::net::{SocketAddr, ToSocketAddrs};

/// Why a text is not a target URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{url}` {reason}")]
pub struct UrlError {
    /// The text as given.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

/// Whether `text` is written as a target URL rather than a file name.
pub fn is_url(text: &str) -> bool {
    text.starts_with("tcp://") || text.starts_with("hdlc+tcp://") || text.starts_with("udp://")
}

/// The public-client target a URL names.
pub fn parse(text: &str) -> Result<Target, UrlError> {
    let error = |reason: &str| UrlError {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (transport, rest) = if let Some(rest) = text.strip_prefix("hdlc+tcp://") {
        (Transport::Hdlc, rest)
    } else if let Some(rest) = text.strip_prefix("udp://") {
        (Transport::Udp, rest)
    } else {
        (
            Transport::Wrapper,
            text.strip_prefix("tcp://").unwrap_or(text),
        )
    };
    let (host_port, server) = match rest.split_once('/') {
        Some((host_port, server)) if transport == Transport::Hdlc => (host_port, Some(server)),
        Some(_) => return Err(error("takes no path: the wrapper's server is wPort 1")),
        None => (rest, None),
    };
    let address = socket_address(host_port).ok_or_else(|| {
        error("is not tcp://HOST:PORT, udp://HOST:PORT or hdlc+tcp://HOST:PORT[/PHYSICAL] with a known host")
    })?;
    let mut target = Target::new(address, transport);
    if let Some(server) = server {
        target.server_hdlc = hdlc_server(server).ok_or_else(|| {
            error("names no HDLC server: /PHYSICAL (16..=16381) or /LOGICAL/PHYSICAL")
        })?;
    }
    Ok(target)
}

/// The first address `HOST:PORT` resolves to.
fn socket_address(host_port: &str) -> Option<SocketAddr> {
    if let Ok(address) = host_port.parse() {
        return Some(address);
    }
    host_port.to_socket_addrs().ok()?.next()
}

/// `PHYSICAL` or `LOGICAL/PHYSICAL`.
fn hdlc_server(text: &str) -> Option<HdlcAddress> {
    let (logical, physical) = match text.split_once('/') {
        Some((l, p)) => (l.parse().ok()?, p.parse().ok()?),
        None => (1, text.parse().ok()?),
    };
    let valid = (1..=0x3FFD).contains(&logical) && (0x10..=0x3FFD).contains(&physical);
    valid.then(|| HdlcAddress::server(logical, physical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_names_the_framing() {
        let t = parse("tcp://127.0.0.1:4059").unwrap();
        assert_eq!(
            (t.transport, t.address.port(), t.client_sap),
            (Transport::Wrapper, 4059, 16)
        );
        let t = parse("127.0.0.1:4060").unwrap();
        assert_eq!(t.transport, Transport::Wrapper);
        let t = parse("hdlc+tcp://127.0.0.1:4061").unwrap();
        assert_eq!(
            (t.transport, t.server_hdlc),
            (Transport::Hdlc, HdlcAddress::server(1, 17))
        );
        let t = parse("udp://127.0.0.1:4062").unwrap();
        assert_eq!((t.transport, t.server_wport), (Transport::Udp, 1));
        assert!(is_url("udp://127.0.0.1:4062"));
    }

    #[test]
    fn an_hdlc_url_may_name_the_server() {
        let t = parse("hdlc+tcp://127.0.0.1:4061/300").unwrap();
        assert_eq!(t.server_hdlc, HdlcAddress::server(1, 300));
        let t = parse("hdlc+tcp://127.0.0.1:4061/2/17").unwrap();
        assert_eq!(t.server_hdlc, HdlcAddress::server(2, 17));
        assert!(parse("hdlc+tcp://127.0.0.1:4061/3").is_err());
        assert!(parse("tcp://127.0.0.1:4061/2").is_err());
    }

    #[test]
    fn a_url_without_a_port_is_refused() {
        let e = parse("tcp://127.0.0.1").unwrap_err();
        assert!(e.to_string().starts_with("`tcp://127.0.0.1` is not"), "{e}");
        assert!(is_url("hdlc+tcp://x:1") && !is_url("targets.toml"));
    }
}
