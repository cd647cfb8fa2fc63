//! The head-end's side of a group path: where one transmission reaches every meter of a group
//! (an IP multicast group, or all stations behind a gateway), and the socket that sends there.

use crate::target::{Target, Transport};
use dlms::hdlc::{ui_frame, HdlcAddress};
use dlms::wrapper::{wport, wrap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Where a group transmission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupRoute {
    /// Datagrams (wrapper framing) to an IP multicast group the meters joined.
    Multicast(SocketAddrV4),
    /// The all-station address behind a gateway, over the gateway's own transport: wrapper
    /// wPort 127 (TCP or UDP), or UI frames to HDLC's all-station address.
    AllStations(SocketAddr, Transport),
}

impl GroupRoute {
    /// The route group transmissions reach `target` by: its multicast group if it joined one,
    /// else all the stations at its address; none for a meter that takes multicast only and
    /// joined no group, or one on a serial line (group delivery is over IP).
    pub fn of(target: &Target) -> Option<Self> {
        match (target.multicast, target.group) {
            (Some(group), _) => Some(GroupRoute::Multicast(group)),
            (None, Some(g)) if g.multicast_only => None,
            (None, _) => Some(GroupRoute::AllStations(
                target.address.ip()?,
                target.transport,
            )),
        }
    }
}

impl std::fmt::Display for GroupRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupRoute::Multicast(group) => write!(f, "multicast group {group}"),
            GroupRoute::AllStations(address, Transport::Hdlc) => {
                write!(f, "HDLC all-station UI frames through {address}")
            }
            GroupRoute::AllStations(address, transport) => {
                write!(f, "all stations (wPort 127) of {address} over {transport}")
            }
        }
    }
}

enum Link {
    Datagram(UdpSocket, SocketAddr),
    Stream(TcpStream),
}

/// Sends group transmissions along one route, counting them and their bytes.
pub struct GroupSender {
    route: GroupRoute,
    /// A member's unicast address: where multicast leaves from (the interface that reaches it).
    member: SocketAddr,
    client: u16,
    link: Link,
    /// Transmissions sent.
    pub transmissions: u64,
    /// Bytes sent, framing included.
    pub bytes: u64,
}

impl GroupSender {
    /// A sender along `route` as group client `client`; `member` is one member's unicast
    /// address, which picks the interface multicast leaves from.
    pub async fn open(route: GroupRoute, member: SocketAddr, client: u16) -> std::io::Result<Self> {
        Ok(GroupSender {
            link: connect(route, member).await?,
            route,
            member,
            client,
            transmissions: 0,
            bytes: 0,
        })
    }

    /// Sends `apdu` to the group once; a stream the gateway closed meanwhile (its inactivity
    /// time-out during a long repair round) is opened again.
    pub async fn send(&mut self, apdu: &[u8]) -> std::io::Result<()> {
        let frame = self.frame(apdu)?;
        if let Err(e) = self.transmit(&frame).await {
            tracing::debug!(route = %self.route, "group link lost ({e}): opening it again");
            self.link = connect(self.route, self.member).await?;
            self.transmit(&frame).await?;
        }
        self.transmissions += 1;
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Whatever comes back on the group link within `wait` (a meter must answer no group
    /// request): the first bytes, if any.
    pub async fn reply_within(&mut self, wait: std::time::Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        let read = async {
            match &mut self.link {
                Link::Datagram(socket, _) => socket.recv_from(&mut buf).await.map(|(n, _)| n),
                Link::Stream(stream) => stream.read(&mut buf).await,
            }
        };
        match tokio::time::timeout(wait, read).await {
            Ok(Ok(n)) if n > 0 => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    async fn transmit(&mut self, frame: &[u8]) -> std::io::Result<()> {
        match &mut self.link {
            Link::Datagram(socket, to) => socket.send_to(frame, *to).await.map(drop),
            Link::Stream(stream) => stream.write_all(frame).await,
        }
    }

    fn frame(&self, apdu: &[u8]) -> std::io::Result<Vec<u8>> {
        let framed = match self.route {
            GroupRoute::AllStations(_, Transport::Hdlc) => ui_frame(
                HdlcAddress::all_stations(1),
                HdlcAddress::client(self.client as u8),
                apdu,
            ),
            GroupRoute::AllStations(..) => wrap(self.client, wport::ALL_STATION, apdu),
            GroupRoute::Multicast(_) => wrap(self.client, wport::MANAGEMENT_LOGICAL_DEVICE, apdu),
        };
        framed.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a group APDU of {} bytes does not fit one frame",
                    apdu.len()
                ),
            )
        })
    }
}

async fn connect(route: GroupRoute, member: SocketAddr) -> std::io::Result<Link> {
    Ok(match route {
        GroupRoute::Multicast(group) => {
            Link::Datagram(multicast_sender(member)?, SocketAddr::V4(group))
        }
        GroupRoute::AllStations(address, Transport::Udp) => {
            let any: SocketAddr = if address.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            Link::Datagram(UdpSocket::bind(any).await?, address)
        }
        GroupRoute::AllStations(address, _) => {
            let stream = TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            Link::Stream(stream)
        }
    })
}

/// A UDP socket that sends multicast out of the interface whose address reaches `member`
/// (a host with several interfaces, or none routing 224.0.0.0/4, still reaches the group).
fn multicast_sender(member: SocketAddr) -> std::io::Result<UdpSocket> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    probe.connect(member)?;
    let std::net::IpAddr::V4(local) = probe.local_addr()?.ip() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "IPv4 multicast needs an IPv4 member address",
        ));
    };
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.bind(&SocketAddr::from((local, 0)).into())?;
    socket.set_multicast_if_v4(&local)?;
    // Across a bridge or a router or two, not beyond.
    socket.set_multicast_ttl_v4(4)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}
