//! The HDLC link layer of IEC 62056-46 as a sans-IO state machine, for both roles.
//!
//! Normal response mode: the client (primary) holds the poll token and passes it with the P
//! bit; the server (secondary) transmits only when polled and hands the token back with the F
//! bit on its last frame. Sequence numbers are modulo 8, windows 1..7, lost frames are resent
//! go-back-N from the peer's N(R). APDUs longer than the negotiated max-info are segmented
//! (S bit), each segment acknowledged per the window (docs/protocol.md#hdlc).
//!
//! Use it as quinn-proto is used: feed bytes with [`HdlcLink::handle_input`] and expired timers
//! with [`HdlcLink::handle_timeout`]; drain [`HdlcLink::poll_event`], then
//! [`HdlcLink::poll_transmit`]; sleep until [`HdlcLink::poll_timeout`]. Time is passed in.

use super::address::HdlcAddress;
use super::control::Control;
use super::frame::FrameRepr;
use super::params::{HdlcParameters, MAX_INFO_LIMIT};
use super::stream::FrameSplitter;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use thiserror::Error;

/// LLC header on frames from client to server.
pub const LLC_REQUEST: [u8; 3] = [0xE6, 0xE6, 0x00];
/// LLC header on frames from server to client.
pub const LLC_RESPONSE: [u8; 3] = [0xE6, 0xE7, 0x00];

/// Which end of the link this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The primary station: connects, polls, times out and retransmits.
    Client,
    /// The secondary station: answers when polled.
    Server,
}

/// How a link is set up.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// This station's address.
    pub local: HdlcAddress,
    /// The peer's address (for a server, learnt from the SNRM when `None`).
    pub peer: Option<HdlcAddress>,
    /// What this station proposes (client) or accepts at most (server).
    pub parameters: HdlcParameters,
    /// Client: how long to wait for the peer's final frame before resending.
    pub response_timeout: Duration,
    /// Client: how many timeouts in a row end the link.
    pub max_retries: u32,
    /// Server: silence after which the link is dropped, if any.
    pub inactivity_timeout: Option<Duration>,
    /// On a serial line: silence within a frame after which its bytes are dropped (see
    /// [`FrameSplitter::with_inter_octet_timeout`]); `None` over TCP.
    pub inter_octet_timeout: Option<Duration>,
    /// The longest APDU this station takes in; the segments of a longer one are acknowledged
    /// but not kept, and [`LinkEvent::ApduTooLong`] reports it.
    pub max_apdu: u16,
}

impl LinkConfig {
    /// A client link to `server` with default timing (1 s response timeout, 3 retries).
    pub fn client(client: u8, server: HdlcAddress, parameters: HdlcParameters) -> Self {
        LinkConfig {
            local: HdlcAddress::client(client),
            peer: Some(server),
            parameters,
            response_timeout: Duration::from_secs(1),
            max_retries: 3,
            inactivity_timeout: None,
            inter_octet_timeout: None,
            max_apdu: u16::MAX,
        }
    }

    /// A server link at `server` that accepts any client (120 s inactivity timeout).
    pub fn server(server: HdlcAddress, parameters: HdlcParameters) -> Self {
        LinkConfig {
            local: server,
            peer: None,
            parameters,
            response_timeout: Duration::from_secs(1),
            max_retries: 3,
            inactivity_timeout: Some(Duration::from_secs(120)),
            inter_octet_timeout: None,
            max_apdu: u16::MAX,
        }
    }
}

/// Why a link went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// This station asked for it.
    Local,
    /// The peer sent DISC or DM.
    Peer,
    /// The peer rejected a frame (FRMR).
    FrameReject,
    /// The peer did not answer after every retry.
    NoResponse,
    /// Nothing was received for the inactivity timeout.
    Inactivity,
}

/// What a link reports to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The link is up, with the parameters in force (seen from this station).
    Connected(HdlcParameters),
    /// A whole APDU arrived (LLC header removed).
    Apdu(Vec<u8>),
    /// A message longer than [`LinkConfig::max_apdu`] arrived and was dropped.
    ApduTooLong {
        /// Its length, LLC header included.
        length: usize,
    },
    /// The link is down.
    Disconnected(DisconnectReason),
}

/// Why an APDU cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LinkError {
    /// The link is not connected.
    #[error("the HDLC link is not connected")]
    NotConnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connecting,
    Connected,
    Disconnecting,
}

#[derive(Debug, Clone)]
struct Segment {
    info: Vec<u8>,
    more: bool,
}

/// One end of an HDLC link.
#[derive(Debug)]
pub struct HdlcLink {
    role: Role,
    config: LinkConfig,
    /// This station's address as the peer uses it (a server learns it from the SNRM).
    local: HdlcAddress,
    state: State,
    params: HdlcParameters,
    peer: Option<HdlcAddress>,
    vs: u8,
    vr: u8,
    send_queue: VecDeque<Segment>,
    unacked: VecDeque<(u8, Segment)>,
    /// The message being received, while it fits `max_apdu`.
    rx: Vec<u8>,
    /// The length of the message being received, kept or not.
    rx_len: usize,
    token: bool,
    awaiting_reply: bool,
    poll_due: bool,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<LinkEvent>,
    timer: Option<Instant>,
    retries: u32,
    last_rx: Option<Instant>,
    splitter: FrameSplitter,
}

impl HdlcLink {
    /// A link in the given role, disconnected.
    pub fn new(role: Role, config: LinkConfig) -> Self {
        let mut params = config.parameters;
        params.max_info_tx = params.max_info_tx.clamp(1, MAX_INFO_LIMIT);
        params.max_info_rx = params.max_info_rx.clamp(1, MAX_INFO_LIMIT);
        params.window_tx = params.window_tx.clamp(1, super::params::MAX_WINDOW);
        params.window_rx = params.window_rx.clamp(1, super::params::MAX_WINDOW);
        let config = LinkConfig {
            parameters: params,
            ..config
        };
        let splitter = match config.inter_octet_timeout {
            Some(limit) => FrameSplitter::with_inter_octet_timeout(limit),
            None => FrameSplitter::new(),
        };
        HdlcLink {
            role,
            local: config.local,
            peer: config.peer,
            params,
            config,
            state: State::Disconnected,
            vs: 0,
            vr: 0,
            send_queue: VecDeque::new(),
            unacked: VecDeque::new(),
            rx: Vec::new(),
            rx_len: 0,
            token: false,
            awaiting_reply: false,
            poll_due: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            timer: None,
            retries: 0,
            last_rx: None,
            splitter,
        }
    }

    /// True while the link is up.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The parameters in force, seen from this station.
    pub fn parameters(&self) -> HdlcParameters {
        self.params
    }

    /// The peer's address, once known.
    pub fn peer(&self) -> Option<HdlcAddress> {
        self.peer
    }

    /// Frames dropped for bad checksums so far.
    pub fn bad_frames(&self) -> u64 {
        self.splitter.bad_frames()
    }

    /// Client: starts connecting (SNRM).
    pub fn connect(&mut self, now: Instant) {
        if self.role != Role::Client {
            return;
        }
        self.reset();
        self.state = State::Connecting;
        self.send_unnumbered(Control::Snrm { pf: true }, self.config.parameters.encode());
        self.arm(now);
    }

    /// Client: starts disconnecting (DISC). Server: drops the link at once.
    pub fn disconnect(&mut self, now: Instant) {
        match self.role {
            Role::Client if self.state != State::Disconnected => {
                self.state = State::Disconnecting;
                self.send_queue.clear();
                self.unacked.clear();
                self.retries = 0;
                self.send_unnumbered(Control::Disc { pf: true }, Vec::new());
                self.arm(now);
            }
            Role::Server if self.state == State::Connected => self.go_down(DisconnectReason::Local),
            _ => {}
        }
    }

    /// Queues an APDU, segmented to the negotiated max-info.
    pub fn send_apdu(&mut self, apdu: &[u8]) -> Result<(), LinkError> {
        if self.state != State::Connected {
            return Err(LinkError::NotConnected);
        }
        let llc = match self.role {
            Role::Client => LLC_REQUEST,
            Role::Server => LLC_RESPONSE,
        };
        let mut message = Vec::with_capacity(3 + apdu.len());
        message.extend_from_slice(&llc);
        message.extend_from_slice(apdu);
        let chunks: Vec<&[u8]> = message.chunks(self.params.max_info_tx as usize).collect();
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.send_queue.push_back(Segment {
                info: chunk.to_vec(),
                more: i + 1 < n,
            });
        }
        if self.role == Role::Client {
            self.awaiting_reply = true;
        }
        Ok(())
    }

    /// Feeds bytes received from the transport.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.splitter.push_at(now, bytes);
        while let Some(frame) = self.splitter.next_frame() {
            self.handle_frame(now, &frame);
        }
    }

    /// Feeds one whole frame (flags included).
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        let frame = match FrameRepr::parse(bytes) {
            Ok(f) => f,
            Err(e) => {
                let unknown_control = matches!(e.kind, crate::ErrorKind::UnknownTag(_));
                if unknown_control && self.role == Role::Server && self.state == State::Connected {
                    self.send_unnumbered(Control::Frmr { pf: true }, Vec::new());
                }
                return;
            }
        };
        if !self.addressed_to_us(&frame.destination) {
            return;
        }
        if let Some(peer) = self.peer {
            if !same_address(&frame.source, &peer) && !matches!(frame.control, Control::Snrm { .. })
            {
                return;
            }
        }
        self.last_rx = Some(now);
        match self.role {
            Role::Server => self.server_frame(&frame),
            Role::Client => self.client_frame(now, &frame),
        }
    }

    /// True if `dest` is this station: exactly, or (for a server) its logical address alone in
    /// the 1-byte form.
    fn addressed_to_us(&self, dest: &HdlcAddress) -> bool {
        same_address(dest, &self.config.local)
            || (self.role == Role::Server
                && dest.width == 1
                && dest.upper == self.config.local.upper)
    }

    fn server_frame(&mut self, frame: &FrameRepr<'_>) {
        let pf = frame.control.pf();
        match frame.control {
            Control::Snrm { .. } => {
                // Answer from the address the client used.
                self.local = frame.destination;
                let proposed = match HdlcParameters::parse(frame.info) {
                    Ok(p) => p,
                    Err(_) => {
                        self.send_unnumbered(Control::Frmr { pf: true }, Vec::new());
                        return;
                    }
                };
                let answer = HdlcParameters::answer(&self.config.parameters, &proposed);
                let was_connected = self.state == State::Connected;
                self.reset();
                self.peer = Some(frame.source);
                self.params = answer;
                self.state = State::Connected;
                self.send_unnumbered(Control::Ua { pf: true }, answer.encode());
                if was_connected {
                    self.events
                        .push_back(LinkEvent::Disconnected(DisconnectReason::Peer));
                }
                self.events.push_back(LinkEvent::Connected(answer));
            }
            Control::Disc { .. } => {
                if self.state == State::Connected {
                    self.send_unnumbered(Control::Ua { pf: true }, Vec::new());
                    self.go_down(DisconnectReason::Peer);
                } else {
                    self.send_unnumbered(Control::Dm { pf: true }, Vec::new());
                }
            }
            Control::I { .. } | Control::Rr { .. } | Control::Rnr { .. } => {
                if self.state != State::Connected {
                    if pf {
                        self.send_unnumbered(Control::Dm { pf: true }, Vec::new());
                    }
                    return;
                }
                if !self.numbered_frame(frame) {
                    self.send_unnumbered(Control::Frmr { pf: true }, Vec::new());
                    return;
                }
                if pf {
                    self.token = true;
                }
            }
            Control::Ui { .. } | Control::Ua { .. } | Control::Dm { .. } | Control::Frmr { .. } => {
            }
        }
    }

    fn client_frame(&mut self, now: Instant, frame: &FrameRepr<'_>) {
        let pf = frame.control.pf();
        match (self.state, frame.control) {
            (State::Connecting, Control::Ua { .. }) => {
                let answer = match HdlcParameters::parse(frame.info) {
                    Ok(p) => p.mirrored(),
                    Err(_) => return,
                };
                let ours = self.config.parameters;
                self.params = HdlcParameters {
                    max_info_tx: answer.max_info_tx.min(ours.max_info_tx),
                    max_info_rx: answer.max_info_rx.min(ours.max_info_rx),
                    window_tx: answer.window_tx.min(ours.window_tx),
                    window_rx: answer.window_rx.min(ours.window_rx),
                };
                self.state = State::Connected;
                self.token = true;
                self.disarm();
                self.events.push_back(LinkEvent::Connected(self.params));
            }
            (State::Disconnecting, Control::Ua { .. } | Control::Dm { .. }) => {
                self.go_down(DisconnectReason::Local)
            }
            (State::Connecting | State::Connected, Control::Dm { .. }) => {
                self.go_down(DisconnectReason::Peer)
            }
            (State::Connected, Control::Frmr { .. }) => self.go_down(DisconnectReason::FrameReject),
            (State::Connected, Control::I { .. } | Control::Rr { .. } | Control::Rnr { .. }) => {
                let progressed = self.numbered_frame(frame);
                if pf {
                    self.token = true;
                    self.disarm();
                    if progressed {
                        self.retries = 0;
                    }
                    if self.awaiting_reply && self.send_queue.is_empty() && self.rx_len == 0 {
                        // The server had nothing for us yet: poll again after the timeout.
                        self.arm(now);
                    }
                }
            }
            _ => {}
        }
    }

    /// Handles N(R) and, for I-frames, N(S) and the information; false if N(R) is impossible.
    fn numbered_frame(&mut self, frame: &FrameRepr<'_>) -> bool {
        let nr = frame.control.nr().expect("numbered frame");
        if !self.acknowledge(nr) {
            return false;
        }
        if frame.control.pf() && !self.unacked.is_empty() {
            // The peer has the token back without having seen these: send them again.
            self.go_back();
        }
        if let Control::I { ns, .. } = frame.control {
            if frame.info.len() > self.params.max_info_rx as usize {
                return false;
            }
            if ns == self.vr {
                self.vr = (self.vr + 1) % 8;
                self.receive_segment(frame.info, frame.segmented);
            }
            return true;
        }
        true
    }

    /// Adds one segment to the message being received; the last one delivers it.
    fn receive_segment(&mut self, info: &[u8], more: bool) {
        // The LLC header is not part of the APDU.
        let limit = usize::from(self.config.max_apdu) + LLC_REQUEST.len();
        self.rx_len = self.rx_len.saturating_add(info.len());
        if self.rx_len <= limit {
            self.rx.extend_from_slice(info);
        } else {
            self.rx = Vec::new();
        }
        if more {
            return;
        }
        let length = std::mem::take(&mut self.rx_len);
        let message = std::mem::take(&mut self.rx);
        if self.role == Role::Client {
            self.awaiting_reply = false;
        }
        if length > limit {
            self.events.push_back(LinkEvent::ApduTooLong { length });
            return;
        }
        let llc = match self.role {
            Role::Client => LLC_RESPONSE,
            Role::Server => LLC_REQUEST,
        };
        let apdu = match message.strip_prefix(&llc[..]) {
            Some(rest) => rest.to_vec(),
            None => message,
        };
        // A message without the LLC header is the APDU as it is.
        if apdu.len() > usize::from(self.config.max_apdu) {
            self.events.push_back(LinkEvent::ApduTooLong { length });
            return;
        }
        self.events.push_back(LinkEvent::Apdu(apdu));
    }

    /// Drops the frames the peer acknowledges with `nr`; false if `nr` acknowledges a frame
    /// never sent.
    fn acknowledge(&mut self, nr: u8) -> bool {
        let base = self.unacked.front().map_or(self.vs, |(ns, _)| *ns);
        let k = (nr + 8 - base) % 8;
        if k as usize > self.unacked.len() {
            return false;
        }
        for _ in 0..k {
            self.unacked.pop_front();
        }
        if k > 0 {
            self.retries = 0;
        }
        true
    }

    /// Moves every unacknowledged frame back to the send queue (go-back-N).
    fn go_back(&mut self) {
        if let Some((ns, _)) = self.unacked.front() {
            self.vs = *ns;
        }
        while let Some((_, seg)) = self.unacked.pop_back() {
            self.send_queue.push_front(seg);
        }
    }

    /// Handles an expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.splitter.expire(now);
        if self.role == Role::Server {
            if let (State::Connected, Some(limit), Some(last)) =
                (self.state, self.config.inactivity_timeout, self.last_rx)
            {
                if now >= last + limit {
                    self.go_down(DisconnectReason::Inactivity);
                }
            }
            return;
        }
        match self.timer {
            Some(t) if now >= t => {}
            _ => return,
        }
        self.retries += 1;
        if self.retries > self.config.max_retries {
            self.go_down(DisconnectReason::NoResponse);
            return;
        }
        match self.state {
            State::Connecting => {
                self.send_unnumbered(Control::Snrm { pf: true }, self.config.parameters.encode())
            }
            State::Disconnecting => self.send_unnumbered(Control::Disc { pf: true }, Vec::new()),
            State::Connected => {
                self.go_back();
                self.token = true;
                self.poll_due = true;
            }
            State::Disconnected => {}
        }
        self.arm(now);
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let link = match self.role {
            Role::Client => self.timer,
            Role::Server => match (self.state, self.config.inactivity_timeout, self.last_rx) {
                (State::Connected, Some(limit), Some(last)) => Some(last + limit),
                _ => None,
            },
        };
        [link, self.splitter.partial_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.out.is_empty() && self.token && self.state == State::Connected {
            self.fill(now);
        }
        self.out.pop_front()
    }

    /// Uses the token: sends I-frames up to the window, or an RR, ending with P/F set.
    fn fill(&mut self, now: Instant) {
        let room = (self.params.window_tx as usize).saturating_sub(self.unacked.len());
        let count = room.min(self.send_queue.len());
        for i in 0..count {
            let seg = self.send_queue.pop_front().expect("counted");
            let last = i + 1 == count;
            let control = Control::I {
                ns: self.vs,
                nr: self.vr,
                pf: last,
            };
            self.emit(seg.more, control, &seg.info);
            self.unacked.push_back((self.vs, seg));
            self.vs = (self.vs + 1) % 8;
        }
        let send_rr = match self.role {
            Role::Server => count == 0,
            Role::Client => count == 0 && (self.rx_len > 0 || self.poll_due),
        };
        if send_rr {
            self.emit(
                false,
                Control::Rr {
                    nr: self.vr,
                    pf: true,
                },
                &[],
            );
        }
        if count > 0 || send_rr {
            self.token = false;
            self.poll_due = false;
            if self.role == Role::Client {
                self.arm(now);
            }
        }
    }

    fn emit(&mut self, segmented: bool, control: Control, info: &[u8]) {
        let Some(peer) = self.peer else { return };
        let frame = FrameRepr {
            segmented,
            destination: peer,
            source: self.local,
            control,
            info,
        };
        self.out.push_back(frame.to_bytes());
    }

    fn send_unnumbered(&mut self, control: Control, info: Vec<u8>) {
        self.emit(false, control, &info);
    }

    fn arm(&mut self, now: Instant) {
        self.timer = Some(now + self.config.response_timeout);
    }

    fn disarm(&mut self) {
        self.timer = None;
    }

    fn reset(&mut self) {
        self.vs = 0;
        self.vr = 0;
        self.send_queue.clear();
        self.unacked.clear();
        self.rx.clear();
        self.rx_len = 0;
        self.token = false;
        self.awaiting_reply = false;
        self.poll_due = false;
        self.retries = 0;
        self.timer = None;
        self.params = self.config.parameters;
    }

    fn go_down(&mut self, reason: DisconnectReason) {
        self.reset();
        self.state = State::Disconnected;
        if self.role == Role::Server {
            self.peer = self.config.peer;
        }
        self.events.push_back(LinkEvent::Disconnected(reason));
    }
}

fn same_address(a: &HdlcAddress, b: &HdlcAddress) -> bool {
    a.upper == b.upper && a.lower.unwrap_or(0) == b.lower.unwrap_or(0)
}

#[cfg(test)]
mod tests;
