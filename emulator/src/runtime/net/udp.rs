//! DLMS/COSEM over UDP (IEC 62056-4-7, the UDP-based transport layer): one wrapped APDU per
//! datagram and no connection. An association lives between a client's address (and wPort)
//! and the meter: its connection id is kept per peer until the peer releases it or stays
//! silent for the meter's inactivity time-out. A lone meter answers at wPort 1; a gateway's
//! meter `i` at its own wPort, as over TCP; the all-station wPort 127 reaches every meter
//! unanswered. [`serve_multicast`] takes the datagrams sent to an IP multicast group.

use super::host::{now_ms, timers, MeterHost, LOGICAL_DEVICE};
use super::route::Route;
use crate::meter::{Admission, GroupAddress};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// The largest datagram read: a wrapper header and the longest APDU.
const MAX_DATAGRAM: usize = 8 + u16::MAX as usize;

/// Serves one meter on `socket` until the task is dropped.
pub async fn serve_udp(socket: UdpSocket, host: Arc<MeterHost>) -> std::io::Result<()> {
    host.with_meter(|m| m.handle_timeout(now_ms()));
    serve_route(socket, Route::One(host)).await
}

/// Serves every meter of `hosts` on one socket, as a data concentrator does (each meter at its
/// own wPort), until the task is dropped.
pub async fn serve_udp_gateway(
    socket: UdpSocket,
    hosts: Arc<Vec<Arc<MeterHost>>>,
) -> std::io::Result<()> {
    serve_route(socket, Route::Gateway(hosts)).await
}

/// A socket that takes the datagrams sent to the IP multicast group `group`, joined
/// (`IP_ADD_MEMBERSHIP`) on the interface whose address is `interface` (any for 0.0.0.0). The
/// address may be reused, so that several fleets on one host join the same group.
pub fn multicast_socket(group: SocketAddrV4, interface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    if !group.ip().is_multicast() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a multicast address", group.ip()),
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    // Room for a burst while the meters take the datagrams before it (the kernel caps it at
    // net.core.rmem_max).
    socket.set_recv_buffer_size(4 << 20)?;
    socket.bind(&SocketAddr::V4(group).into())?;
    socket.join_multicast_v4(group.ip(), &interface)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Hands every wrapper datagram `socket` takes (sent to the management logical device or to
/// all stations) to each meter of `members` as a multicast, until the task is dropped: each
/// meter through its own group-path loss, and none answers.
pub async fn serve_multicast(
    socket: UdpSocket,
    members: Arc<Vec<Arc<MeterHost>>>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await?;
        let mut decoder = dlms::wrapper::WrapperDecoder::new(u16::MAX);
        decoder.push(&buf[..n]);
        let Ok(Some(frame)) = decoder.next_frame() else {
            tracing::debug!(%peer, "a multicast datagram that is not one wrapper frame: dropped");
            continue;
        };
        if ![LOGICAL_DEVICE, dlms::wrapper::wport::ALL_STATION].contains(&frame.destination) {
            continue;
        }
        for host in members.iter() {
            host.group_request(GroupAddress::Multicast, frame.source, &frame.apdu);
        }
    }
}

/// A peer's association with one meter: its connection id and when it last spoke.
struct Peer {
    id: u64,
    last: tokio::time::Instant,
}

async fn serve_route(socket: UdpSocket, route: Route) -> std::io::Result<()> {
    let hosts: Vec<Arc<MeterHost>> = match &route {
        Route::One(host) => vec![host.clone()],
        Route::Gateway(hosts) => hosts.to_vec(),
    };
    let timer_tasks: Vec<_> = hosts
        .iter()
        .map(|h| tokio::spawn(timers(h.clone())))
        .collect();
    let _timers = AbortAll(timer_tasks);
    let socket = Arc::new(socket);
    let mut peers: HashMap<(SocketAddr, u16, u16), Peer> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, peer) = match received {
                    Ok(r) => r,
                    // An ICMP error for an earlier reply to a peer gone away: not ours to end on.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                };
                datagram(&socket, &route, &mut peers, peer, &buf[..n]);
            }
            _ = sweep.tick() => forget_silent(&route, &mut peers),
        }
    }
}

/// Hands one datagram's APDU to its meter and sends the reply back; a datagram that is not
/// one whole wrapper frame for a meter here is dropped, as a datagram service drops it.
fn datagram(
    socket: &Arc<UdpSocket>,
    route: &Route,
    peers: &mut HashMap<(SocketAddr, u16, u16), Peer>,
    peer: SocketAddr,
    bytes: &[u8],
) {
    let mut decoder = dlms::wrapper::WrapperDecoder::new(u16::MAX);
    decoder.push(bytes);
    let Ok(Some(frame)) = decoder.next_frame() else {
        tracing::debug!(%peer, "a datagram that is not one wrapper frame: dropped");
        return;
    };
    if frame.destination == dlms::wrapper::wport::ALL_STATION {
        route.to_all_stations(frame.source, &frame.apdu);
        return;
    }
    let Some(host) = route.wrapper_host(frame.destination) else {
        return;
    };
    let key = (peer, frame.source, frame.destination);
    let now = tokio::time::Instant::now();
    let entry = peers.entry(key).or_insert_with(|| Peer {
        id: host.connection_id(),
        last: now,
    });
    entry.last = now;
    let id = entry.id;
    // An AARQ over the meter's limits: no connection to reset, so a meter that resets answers
    // nothing, and one that would hold it answers at once (it rejects it).
    if host.admit(id, frame.source, &frame.apdu) == Admission::Reset {
        host.disconnect(id);
        peers.remove(&key);
        return;
    }
    let Some(reply) = host.handle(id, frame.source, &frame.apdu) else {
        return;
    };
    host.replies_delivered(id);
    let Some(bytes) = dlms::wrapper::wrap(frame.destination, frame.source, &reply) else {
        return;
    };
    let delay = host.link.exchange_time(frame.apdu.len(), reply.len());
    // Each datagram goes through the link's faults whole: lost, duplicated, damaged.
    let frames = host.link_fault(|f| f.outgoing(bytes, 8));
    let socket = socket.clone();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        for frame in frames {
            if let Err(e) = socket.send_to(&frame, peer).await {
                tracing::debug!(%peer, "a reply not sent: {e}");
            }
        }
    });
}

/// Ends the associations of the peers silent for longer than their meter's inactivity
/// time-out.
fn forget_silent(route: &Route, peers: &mut HashMap<(SocketAddr, u16, u16), Peer>) {
    peers.retain(|(_, _, wport), p| {
        let Some(host) = route.wrapper_host(*wport) else {
            return false;
        };
        let silent = p.last.elapsed() > host.inactivity_timeout();
        if silent {
            host.disconnect(p.id);
        }
        !silent
    });
}

/// Aborts the tasks when dropped, so that the meters' timers stop with the socket.
struct AbortAll(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortAll {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
