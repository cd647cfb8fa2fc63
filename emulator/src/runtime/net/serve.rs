//! One meter, or a gateway's meters, on a TCP listener, over the IEC 62056-4-7 wrapper or HDLC.
//! This is where the meter meets sockets: it feeds requests and time in, and acts on the
//! meter's events (a reboot drops every connection and refuses new ones until the meter is
//! back).

use super::caps::{admit, ConnectionCap};
use super::hdlc_stations::{hdlc_connection, Carrier, SessionEnd};
use super::host::{now_ms, timers, MeterHost};
use super::link_faults::LinkFaultState;
use super::route::{PeerReader, Reboot, Route, READ_SIZE};
use crate::meter::Admission;
use dlms::wrapper::{wrap, wrap_into, WrapperDecoder, WrapperError};
use dlms::Transport;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Takes the next connection, with Nagle's algorithm off: a reply goes out as soon as it is
/// written, never held for the acknowledgement of the one before (a head-end that sends without
/// waiting would otherwise meet the peer's delayed acknowledgement). Failures that pass (no
/// open files left, a connection reset before it was taken) are logged and retried after a
/// pause, so that the meter keeps listening.
async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    loop {
        match listener.accept().await {
            Ok(connection) => {
                if let Err(e) = connection.0.set_nodelay(true) {
                    tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
                }
                return Ok(connection);
            }
            Err(e) if transient_accept_error(&e) => {
                tracing::warn!("accepting a connection failed: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn transient_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) || matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
    )
}

/// A TCP connection to a meter said to speak UDP (served by [`super::udp`] instead).
fn not_over_tcp() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a UDP meter is served on a UDP socket, not over TCP",
    )
}

/// Serves an HDLC session on a TCP connection; a meter that refuses an association by a reset
/// resets the connection.
async fn hdlc_over_tcp(mut stream: TcpStream, route: Route) -> std::io::Result<()> {
    if hdlc_connection(&mut stream, route, Carrier::Tcp).await? == SessionEnd::Reset {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    Ok(())
}

/// Ends a task when dropped, so that the meter's timers stop with its listener.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves the meter on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    host: Arc<MeterHost>,
    transport: Transport,
) -> std::io::Result<()> {
    serve_in_fleet(listener, host, transport, ConnectionCap::unlimited()).await
}

/// Serves the meter on `listener`, one of a fleet whose connections `fleet` caps, until the
/// task is dropped.
pub async fn serve_in_fleet(
    listener: TcpListener,
    host: Arc<MeterHost>,
    transport: Transport,
    fleet: ConnectionCap,
) -> std::io::Result<()> {
    // Whatever was due while the process was down (the end of an interrupted activation) runs
    // before the first connection is taken.
    host.with_meter(|m| m.handle_timeout(now_ms()));
    let _timers = AbortOnDrop(tokio::spawn(timers(host.clone())));
    let cap = ConnectionCap::new(host.max_connections());
    loop {
        let (stream, peer) = accept(&listener).await?;
        let Some(places) = admit(peer, [(&cap, "the meter"), (&fleet, "the fleet")]) else {
            host.with_meter(|m| m.attempt_refused(now_ms()));
            drop(stream);
            continue;
        };
        if host.offline() {
            // A rebooting meter does not answer: the connection is closed at once.
            host.with_meter(|m| m.attempt_refused(now_ms()));
            drop(stream);
            continue;
        }
        if host.link_fault(LinkFaultState::refuse) {
            host.with_meter(|m| m.attempt_refused(now_ms()));
            // Refused: reset at once (linger 0 sends RST, as a port nobody listens on does;
            // with a zero timeout the drop does not block, which is what tokio warns about).
            #[allow(deprecated)]
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
            continue;
        }
        tracing::debug!(%peer, "connection");
        let host = host.clone();
        tokio::spawn(async move {
            let _places = places;
            let result = match transport {
                Transport::Wrapper => wrapper_connection(stream, Route::One(host)).await,
                Transport::Hdlc => hdlc_over_tcp(stream, Route::One(host)).await,
                Transport::Udp => Err(not_over_tcp()),
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            tracing::debug!(%peer, "disconnected");
        });
    }
}

/// Serves every meter of `hosts` on one listener, as a data concentrator does, until the task
/// is dropped: over the wrapper meter `i` at wPort [`gateway_wport`](super::host::gateway_wport)`(i)`
/// (the all-station wPort 127 reaches every meter), over HDLC at physical address
/// [`GATEWAY_FIRST_PHYSICAL`](super::host::GATEWAY_FIRST_PHYSICAL) + `i`; `fleet` caps the
/// connections as the open-file limit requires.
pub async fn serve_gateway(
    listener: TcpListener,
    hosts: Arc<Vec<Arc<MeterHost>>>,
    transport: Transport,
    fleet: ConnectionCap,
) -> std::io::Result<()> {
    let _timers: Vec<AbortOnDrop> = hosts
        .iter()
        .map(|h| AbortOnDrop(tokio::spawn(timers(h.clone()))))
        .collect();
    // A gateway serves as many connections as its meters together would.
    let cap = ConnectionCap::new(hosts.iter().map(|h| h.max_connections()).sum());
    loop {
        let (stream, peer) = accept(&listener).await?;
        let Some(places) = admit(peer, [(&cap, "the gateway"), (&fleet, "the fleet")]) else {
            drop(stream);
            continue;
        };
        let route = Route::Gateway(hosts.clone());
        tokio::spawn(async move {
            let _places = places;
            let result = match transport {
                Transport::Wrapper => wrapper_connection(stream, route).await,
                Transport::Hdlc => hdlc_over_tcp(stream, route).await,
                Transport::Udp => Err(not_over_tcp()),
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "gateway connection ended: {e}");
            }
        });
    }
}

async fn wrapper_connection(mut stream: TcpStream, route: Route) -> std::io::Result<()> {
    // Per meter reached on this connection: its connection id, and whether it went half-open
    // (ordered maps: looked up per request, with no hashing of a 2-byte key).
    let mut ids: std::collections::BTreeMap<u16, u64> = std::collections::BTreeMap::new();
    let mut half_open = std::collections::BTreeSet::new();
    // The meters the requests of the current read went to.
    let mut answered: Vec<(u16, u64)> = Vec::new();
    let mut decoder = WrapperDecoder::new(route.max_pdu_size());
    let mut reader = PeerReader::new(route.inactivity_timeout());
    // The replies to every request a read brought, which go out in one write (one buffer for
    // the connection's life).
    let mut out = Vec::new();
    // One future for the connection's life (not one per read).
    let mut reboot = Reboot::of(&route);
    let result = loop {
        tokio::select! {
            // Bytes waiting are served first: the reboot is looked at when there are none.
            biased;
            // Read straight into the decoder's buffer.
            received = reader.next_into(&mut stream, decoder.input(READ_SIZE)) => {
                if received?.is_none() {
                    break Ok(());
                }
                out.clear();
                loop {
                    let frame = match decoder.next_frame_ref() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(WrapperError::TooLong { sender, receiver, length, .. }) => {
                            let reply = route
                                .wrapper_host(receiver)
                                .filter(|_| !half_open.contains(&receiver))
                                .and_then(|host| host.refuse_too_long(sender, length.into()))
                                .and_then(|reply| wrap(receiver, sender, &reply));
                            out.extend(reply.unwrap_or_default());
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!("closing: {e}");
                            stream.write_all(&out).await?;
                            disconnect_all(&route, &ids);
                            return Ok(());
                        }
                    };
                    if frame.destination == dlms::wrapper::wport::ALL_STATION {
                        route.to_all_stations(frame.source, frame.apdu);
                        continue;
                    }
                    let Some(host) = route.wrapper_host(frame.destination) else {
                        continue;
                    };
                    if half_open.contains(&frame.destination) {
                        continue;
                    }
                    if !host.link_faults_clean() && host.link_fault(LinkFaultState::goes_half_open) {
                        half_open.insert(frame.destination);
                        continue;
                    }
                    let id = *ids.entry(frame.destination).or_insert_with(|| host.connection_id());
                    match host.admit(id, frame.source, frame.apdu) {
                        Admission::Serve => {}
                        Admission::Wait => {
                            stream.write_all(&out).await?;
                            out.clear();
                            host.wait_for_association(id, frame.source).await;
                        }
                        Admission::Reset if matches!(route, Route::One(_)) => {
                            stream.write_all(&out).await?;
                            disconnect_all(&route, &ids);
                            // A reset, not an orderly close: no linger.
                            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            return Ok(());
                        }
                        Admission::Reset => {
                            // Behind a gateway the meter drops its own link and answers nothing.
                            host.disconnect(id);
                            ids.remove(&frame.destination);
                            continue;
                        }
                    }
                    answered.push((frame.destination, id));
                    if let Some(reply) = host.handle(id, frame.source, frame.apdu) {
                        let delay = host.link.exchange_time(frame.apdu.len(), reply.len());
                        if !delay.is_zero() {
                            stream.write_all(&out).await?;
                            out.clear();
                            tokio::time::sleep(delay).await;
                        }
                        if host.link_faults_clean() {
                            wrap_into(&mut out, frame.destination, frame.source, &reply);
                        } else if let Some(bytes) = wrap(frame.destination, frame.source, &reply) {
                            // The 8-byte wrapper header is kept: damage there ends the
                            // connection instead of testing the head-end.
                            for frame in host.link_fault(|f| f.outgoing(bytes, 8)) {
                                out.extend_from_slice(&frame);
                            }
                        }
                    }
                }
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                }
                // Requests read together were sent before any of their replies went out.
                answered.sort_unstable();
                answered.dedup();
                for (wport, id) in answered.drain(..) {
                    if let Some(host) = route.wrapper_host(wport) {
                        host.replies_delivered(id);
                    }
                }
            }
            _ = &mut reboot => break Ok(()),
        }
    };
    disconnect_all(&route, &ids);
    result
}

/// The connection closed: each meter it reached loses the association it made.
fn disconnect_all(route: &Route, ids: &std::collections::BTreeMap<u16, u64>) {
    for (&wport, &id) in ids {
        if let Some(host) = route.wrapper_host(wport) {
            host.disconnect(id);
        }
    }
}
