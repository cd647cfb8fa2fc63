//! Targets written as URLs: `tcp://HOST:PORT` (the wrapper), `hdlc+tcp://HOST:PORT` (HDLC
//! through a serial-to-TCP adapter or a gateway), the latter optionally with the server's HDLC
//! address: `/PHYSICAL` or `/LOGICAL/PHYSICAL`. A bare `HOST:PORT` is the wrapper.
//!
//! Serial lines on this machine: `serial:///dev/ttyX?baud=9600` (HDLC directly, 8N1) and
//! `optical:///dev/ttyX` (the optical probe: IEC 62056-21's sign-on into mode E, then HDLC at
//! the rate the meter proposes), with `server=PHYSICAL` or `server=LOGICAL/PHYSICAL` for one
//! meter of several on an RS-485 line, `address=DEVICE` for the sign-on's device address and
//! `inter_octet_ms=N` for the silence that ends a frame begun.

use super::endpoint::{Endpoint, SerialLine};
use super::{Target, Transport};
use dlms::hdlc::HdlcAddress;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

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
    ["tcp://", "hdlc+tcp://", "udp://", "serial://", "optical://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
}

/// Whether `text` names a serial line (HDLC is then its only framing).
pub fn is_serial(text: &str) -> bool {
    text.starts_with("serial://") || text.starts_with("optical://")
}

/// The public-client target a URL names.
pub fn parse(text: &str) -> Result<Target, UrlError> {
    let error = |reason: &str| UrlError {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(rest) = text.strip_prefix("serial://") {
        return serial(rest, false).map_err(|reason| error(&reason));
    }
    if let Some(rest) = text.strip_prefix("optical://") {
        return serial(rest, true).map_err(|reason| error(&reason));
    }
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

/// A serial line's target from what follows the scheme: `PATH[?key=value&...]`.
fn serial(rest: &str, optical: bool) -> Result<Target, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err("names no serial device: serial:///dev/ttyUSB0?baud=9600".into());
    }
    let mut line = if optical {
        SerialLine::optical(path)
    } else {
        SerialLine::direct(path, super::endpoint::DEFAULT_BAUD)
    };
    let mut server = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        match key {
            "baud" if optical => {
                return Err("takes no baud: through the optical probe the meter proposes it".into())
            }
            "baud" => {
                line.baud = value
                    .parse()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| format!("baud `{value}` is not a rate in bits per second"))?
            }
            "server" => {
                server = Some(hdlc_server(value).ok_or_else(|| {
                    format!("server `{value}` is not PHYSICAL (16..=16381) or LOGICAL/PHYSICAL")
                })?)
            }
            "address" if optical => {
                let ok = value.len() <= dlms::mode_e::MAX_ADDRESS
                    && !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_graphic() && b != b'!');
                if !ok {
                    return Err(format!(
                        "address `{value}` is not a device address of 1 to 32 printable characters"
                    ));
                }
                line.device_address = Some(value.to_owned());
            }
            "inter_octet_ms" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| (1..=6000).contains(ms))
                    .ok_or_else(|| format!("inter_octet_ms `{value}` is not 1..=6000"))?;
                line.inter_octet_timeout = Duration::from_millis(ms);
            }
            other => {
                return Err(format!(
                    "has an unknown parameter `{other}` (baud, server, inter_octet_ms{})",
                    if optical { ", address" } else { "" }
                ))
            }
        }
    }
    let mut target = Target::new(Endpoint::Serial(line), Transport::Hdlc);
    if let Some(server) = server {
        target.server_hdlc = server;
        // Meters of one line differ by their server address only: the name keeps it.
        target.name = format!(
            "{}{}server={}",
            target.address,
            if optical { '?' } else { '&' },
            server_text(server)
        );
    }
    Ok(target)
}

/// `PHYSICAL`, or `LOGICAL/PHYSICAL` when the logical device is not 1.
fn server_text(server: HdlcAddress) -> String {
    let physical = server.lower.unwrap_or(0);
    match server.upper {
        1 => physical.to_string(),
        logical => format!("{logical}/{physical}"),
    }
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
            (t.transport, t.address.ip().unwrap().port(), t.client_sap),
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
    fn serial_lines_and_optical_probes() {
        let t = parse("serial:///dev/ttyUSB0?baud=19200&server=2/18").unwrap();
        assert_eq!(t.transport, Transport::Hdlc);
        assert_eq!(t.server_hdlc, HdlcAddress::server(2, 18));
        let line = t.address.serial().unwrap();
        assert_eq!(
            (line.path.as_str(), line.baud, line.optical),
            ("/dev/ttyUSB0", 19200, false)
        );
        assert_eq!(t.address.to_string(), "serial:///dev/ttyUSB0?baud=19200");
        assert_eq!(t.name, "serial:///dev/ttyUSB0?baud=19200&server=2/18");
        let t = parse("serial:///dev/ttyS1").unwrap();
        assert_eq!(t.address.serial().unwrap().baud, 9600);
        let t = parse("optical:///dev/ttyUSB1?address=12345678&inter_octet_ms=40").unwrap();
        let line = t.address.serial().unwrap();
        assert!(line.optical);
        assert_eq!(line.device_address.as_deref(), Some("12345678"));
        assert_eq!(line.inter_octet_timeout, Duration::from_millis(40));
        assert_eq!(
            t.address.to_string(),
            "optical:///dev/ttyUSB1?address=12345678"
        );
        assert!(is_url("optical:///dev/ttyUSB1") && is_serial("serial:///dev/x"));
        for bad in [
            "serial://",
            "serial:///dev/x?baud=fast",
            "serial:///dev/x?speed=9600",
            "serial:///dev/x?server=3",
            "optical:///dev/x?baud=9600",
            "serial:///dev/x?address=1",
            "serial:///dev/x?inter_octet_ms=0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_url_without_a_port_is_refused() {
        let e = parse("tcp://127.0.0.1").unwrap_err();
        assert!(e.to_string().starts_with("`tcp://127.0.0.1` is not"), "{e}");
        assert!(is_url("hdlc+tcp://x:1") && !is_url("targets.toml"));
    }
}
