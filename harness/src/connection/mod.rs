//! One connection to a meter carrying APDUs: the wrapper or HDLC over TCP, the wrapper over
//! UDP (one APDU per datagram), or HDLC on a serial line (directly, or through the optical
//! probe after its sign-on into mode E), with a timeout on every exchange. HDLC runs `dlms`'s
//! sans-IO link in the client role.

mod serial;

use crate::target::{Endpoint, Target, Transport};
use dlms::hdlc::{HdlcAddress, HdlcLink, LinkConfig, LinkEvent, Role};
use dlms::wrapper::{wrap, wrap_into, WrapperDecoder};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Why an exchange with the meter failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkFailure {
    /// Connecting or an I/O operation failed.
    #[error("I/O: {0}")]
    Io(String),
    /// No reply in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The meter closed the connection (or the HDLC link went down).
    #[error("connection closed by the meter")]
    Closed,
    /// The meter sent something that is not a frame.
    #[error("framing: {0}")]
    Framing(String),
}

fn io(e: std::io::Error) -> LinkFailure {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionAborted => LinkFailure::Closed,
        _ => LinkFailure::Io(e.to_string()),
    }
}

/// A connection carrying APDUs.
pub struct Connection {
    pipe: Pipe,
    framing: Framing,
    client_sap: u16,
    server_wport: u16,
    server_hdlc: HdlcAddress,
    buf: Vec<u8>,
    /// The frame being sent, kept for the next one.
    out: Vec<u8>,
    /// One timer for the connection, due no later than the current wait's deadline: moved
    /// earlier when a wait is shorter than the one it was set for, set again when it fires
    /// before the deadline, and otherwise left alone (cheaper than moving it for each reply).
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// What carries the frames: a byte stream (TCP, a serial line), or datagrams.
pub(crate) enum Pipe {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Serial(Box<serial::OpenLine>),
}

impl Pipe {
    /// Connects to `target`'s endpoint: TCP (or a UDP socket bound to it for UDP), or the
    /// serial line, signed on through the optical probe, within `timeout`.
    pub(crate) async fn open(target: &Target, timeout: Duration) -> Result<Self, LinkFailure> {
        let address = match &target.address {
            Endpoint::Serial(line) => {
                if target.transport != Transport::Hdlc {
                    return Err(LinkFailure::Framing(format!(
                        "a serial line carries HDLC, not the {}",
                        target.transport
                    )));
                }
                return Ok(Pipe::Serial(Box::new(serial::open(line, timeout).await?)));
            }
            Endpoint::Ip(address) => *address,
        };
        if target.transport == Transport::Udp {
            let any: std::net::SocketAddr = if address.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(any).await.map_err(io)?;
            socket.connect(address).await.map_err(io)?;
            return Ok(Pipe::Udp(socket));
        }
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| LinkFailure::Timeout(timeout))?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        Ok(Pipe::Tcp(stream))
    }

    /// Sends `bytes`: onto the stream, or as one datagram.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), LinkFailure> {
        match self {
            Pipe::Tcp(stream) => stream.write_all(bytes).await.map_err(io),
            Pipe::Udp(socket) => socket.send(bytes).await.map(drop).map_err(io),
            Pipe::Serial(line) => line.port.write_all(bytes).await.map_err(io),
        }
    }

    /// The next bytes: what the stream holds (0 once closed), or one datagram.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkFailure> {
        match self {
            Pipe::Tcp(stream) => stream.read(buf).await.map_err(io),
            Pipe::Udp(socket) => socket.recv(buf).await.map_err(io),
            Pipe::Serial(line) => line.port.read(buf).await.map_err(io),
        }
    }

    /// On a serial line, records that an HDLC link from `client` to `server` may still be up
    /// as the line is let go: its DISC goes out before the line's next sign-on.
    pub(crate) fn leave_link_up(&mut self, server: HdlcAddress, client: u8) {
        if let Pipe::Serial(line) = self {
            line.leave_link_up(serial::disc_frame(server, client));
        }
    }
}

enum Framing {
    Wrapper(WrapperDecoder),
    Hdlc(Box<HdlcLink>),
}

impl Connection {
    /// Over HDLC, the link parameters agreed in the SNRM/UA exchange, as this client sees them.
    pub fn hdlc_parameters(&self) -> Option<dlms::hdlc::HdlcParameters> {
        match &self.framing {
            Framing::Hdlc(link) => Some(link.parameters()),
            Framing::Wrapper(_) => None,
        }
    }

    /// Connects (and, over HDLC, sets up the link) within `timeout`.
    pub async fn open(target: &Target, timeout: Duration) -> Result<Self, LinkFailure> {
        let pipe = Pipe::open(target, timeout).await?;
        let framing = match target.transport {
            Transport::Wrapper | Transport::Udp => Framing::Wrapper(WrapperDecoder::new(u16::MAX)),
            Transport::Hdlc => {
                let mut config = LinkConfig::client(
                    target.client_sap as u8,
                    target.server_hdlc,
                    target.hdlc_parameters,
                );
                config.response_timeout = timeout.min(Duration::from_secs(2));
                if let (Pipe::Serial(line), Some(serial)) = (&pipe, target.address.serial()) {
                    // A whole window of the longest frames each way has to cross the line.
                    let p = target.hdlc_parameters;
                    let frames = usize::from(p.window_tx.max(p.window_rx));
                    let longest = usize::from(p.max_info_tx.max(p.max_info_rx)) + 16;
                    config.response_timeout +=
                        dlms::mode_e::transmission_time(2 * frames * longest, line.baud);
                    config.inter_octet_timeout = Some(serial.inter_octet_timeout);
                }
                Framing::Hdlc(Box::new(HdlcLink::new(Role::Client, config)))
            }
        };
        let mut conn = Connection {
            pipe,
            framing,
            client_sap: target.client_sap,
            server_wport: target.server_wport,
            server_hdlc: target.server_hdlc,
            buf: vec![0; 8192],
            out: Vec::new(),
            timer: Box::pin(tokio::time::sleep(timeout)),
        };
        if let Framing::Hdlc(link) = &mut conn.framing {
            link.connect(Instant::now());
            conn.pump(Instant::now() + timeout, timeout, |e| {
                matches!(e, LinkEvent::Connected(_)).then_some(())
            })
            .await?;
        }
        Ok(conn)
    }

    /// Sends one APDU and waits for the reply APDU.
    pub async fn exchange(
        &mut self,
        apdu: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, LinkFailure> {
        self.send(apdu).await?;
        self.receive_until(Instant::now() + timeout, timeout).await
    }

    /// Sends one APDU (over HDLC, hands it to the link, which sends it while receiving).
    pub async fn send(&mut self, apdu: &[u8]) -> Result<(), LinkFailure> {
        match &mut self.framing {
            Framing::Wrapper(_) => {
                self.out.clear();
                if !wrap_into(&mut self.out, self.client_sap, self.server_wport, apdu) {
                    return Err(LinkFailure::Framing("APDU longer than 65,535 bytes".into()));
                }
                self.pipe.write(&self.out).await
            }
            Framing::Hdlc(link) => link.send_apdu(apdu).map_err(|_| LinkFailure::Closed),
        }
    }

    /// True when several APDUs can go out at once without waiting for replies (the wrapper,
    /// in one write over TCP, a datagram each over UDP; an HDLC client waits for each reply
    /// before it sends again).
    pub fn can_burst(&self) -> bool {
        matches!(self.framing, Framing::Wrapper(_))
    }

    /// Sends several APDUs in one write over the wrapper. Over HDLC nothing is sent and the
    /// result is a framing failure: check [`Self::can_burst`] first.
    pub async fn send_burst(&mut self, apdus: &[Vec<u8>]) -> Result<(), LinkFailure> {
        if !self.can_burst() {
            return Err(LinkFailure::Framing(
                "bursts of APDUs need the wrapper".into(),
            ));
        }
        let mut frames = Vec::with_capacity(apdus.iter().map(|a| a.len() + 8).sum());
        for apdu in apdus {
            let frame = wrap(self.client_sap, self.server_wport, apdu)
                .ok_or_else(|| LinkFailure::Framing("APDU longer than 65,535 bytes".into()))?;
            match &mut self.pipe {
                Pipe::Udp(_) => self.pipe.write(&frame).await?,
                Pipe::Tcp(_) | Pipe::Serial(_) => frames.extend_from_slice(&frame),
            }
        }
        if frames.is_empty() {
            return Ok(());
        }
        self.pipe.write(&frames).await
    }

    /// Waits until `deadline` for the next APDU from the meter; `timeout` is the whole wait,
    /// as a time-out names it.
    pub async fn receive_until(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<u8>, LinkFailure> {
        match &mut self.framing {
            Framing::Wrapper(decoder) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                if self.timer.deadline() > deadline {
                    self.timer.as_mut().reset(deadline);
                }
                loop {
                    match decoder.next_frame() {
                        Ok(Some(f)) if f.destination == self.client_sap => return Ok(f.apdu),
                        Ok(Some(_)) => continue,
                        Ok(None) => {}
                        Err(e) => return Err(LinkFailure::Framing(e.to_string())),
                    }
                    let n = tokio::select! {
                        biased;
                        n = self.pipe.read(&mut self.buf) => n?,
                        _ = self.timer.as_mut() => {
                            if deadline > tokio::time::Instant::now() {
                                // Set for an earlier wait: now for this one.
                                self.timer.as_mut().reset(deadline);
                                continue;
                            }
                            return Err(LinkFailure::Timeout(timeout));
                        }
                    };
                    match (&self.pipe, n) {
                        (Pipe::Tcp(_) | Pipe::Serial(_), 0) => return Err(LinkFailure::Closed),
                        (Pipe::Udp(_), _) => {
                            // A datagram is one frame: what a bad one left is not kept.
                            *decoder = WrapperDecoder::new(u16::MAX);
                        }
                        _ => {}
                    }
                    decoder.push(&self.buf[..n]);
                }
            }
            Framing::Hdlc(_) => {
                self.pump(deadline, timeout, |e| match e {
                    LinkEvent::Apdu(a) => Some(a),
                    _ => None,
                })
                .await
            }
        }
    }

    /// Runs the HDLC link until `want` picks an event, the link goes down, or time runs out.
    async fn pump<T>(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        mut want: impl FnMut(LinkEvent) -> Option<T>,
    ) -> Result<T, LinkFailure> {
        let Framing::Hdlc(link) = &mut self.framing else {
            unreachable!("pump is for HDLC")
        };
        loop {
            let now = Instant::now();
            while let Some(frame) = link.poll_transmit(now) {
                self.pipe.write(&frame).await?;
            }
            while let Some(event) = link.poll_event() {
                if let LinkEvent::Disconnected(_) = event {
                    return Err(LinkFailure::Closed);
                }
                if let Some(t) = want(event) {
                    return Ok(t);
                }
            }
            if now >= deadline {
                return Err(LinkFailure::Timeout(timeout));
            }
            let wake = link.poll_timeout().map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                // Bytes already there count before a timer (an inter-octet time-out must not
                // drop a frame whose rest is waiting to be read).
                biased;
                n = self.pipe.read(&mut self.buf) => {
                    let n = n?;
                    if n == 0 {
                        return Err(LinkFailure::Closed);
                    }
                    link.handle_input(Instant::now(), &self.buf[..n]);
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    link.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Ends the connection (DISC over HDLC, best effort).
    pub async fn close(mut self) {
        if let Framing::Hdlc(link) = &mut self.framing {
            if link.is_connected() {
                let now = Instant::now();
                link.disconnect(now);
                let wait = Duration::from_millis(500);
                let ended = self
                    .pump(now + wait, wait, |e| {
                        matches!(e, LinkEvent::Disconnected(_)).then_some(())
                    })
                    .await;
                if ended.is_err() {
                    self.pipe
                        .leave_link_up(self.server_hdlc, self.client_sap as u8);
                }
            }
        }
        if let Pipe::Tcp(stream) = &mut self.pipe {
            let _ = stream.shutdown().await;
        }
    }
}

impl Drop for Connection {
    /// A connection dropped with its HDLC link up (a failed exchange, a cancelled task) leaves
    /// a serial line's meter in HDLC: its DISC goes out before the line is used again.
    fn drop(&mut self) {
        if let Framing::Hdlc(link) = &self.framing {
            if link.is_connected() {
                self.pipe
                    .leave_link_up(self.server_hdlc, self.client_sap as u8);
            }
        }
    }
}
