//! HDLC connections (IEC 62056-46 over TCP, as through a serial-to-TCP adapter, or on a serial
//! line): one meter at its physical address, or every meter of a gateway or multidrop line,
//! each at its own physical address. Each meter reached has its own link station on the
//! connection; a UI frame to the all-station address reaches every meter at once, unanswered.

use super::host::{MeterHost, LOGICAL_DEVICE, PHYSICAL_ADDRESS};
use super::link_faults::LinkFaultState;
use super::route::{PeerReader, Reboot, Route};
use crate::meter::Admission;
use dlms::hdlc::{
    Frame, FrameSplitter, HdlcAddress, HdlcLink, HdlcParameters, LinkConfig, LinkEvent, Role,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// What carries an HDLC session, where it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carrier {
    /// A TCP connection: the session lasts as long as it does.
    Tcp,
    /// A serial line: frames begun and then silent for `inter_octet` are dropped; with
    /// `ends_with_link` (the optical port in mode E), the session ends when the meter's link
    /// goes down, and the port goes back to its sign-on.
    Serial {
        /// The inter-octet time-out.
        inter_octet: Duration,
        /// Whether the end of the link ends the session.
        ends_with_link: bool,
    },
}

/// How an HDLC session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionEnd {
    /// The peer closed, went silent, the link ended, or the lone meter rebooted.
    Ended,
    /// The lone meter refused an association by resetting the connection.
    Reset,
}

/// The link parameters an emulated meter offers.
const PARAMETERS: HdlcParameters = HdlcParameters {
    max_info_tx: 512,
    max_info_rx: 512,
    window_tx: 7,
    window_rx: 7,
};

/// One meter's station on an HDLC connection.
struct Station {
    host: Arc<MeterHost>,
    link: HdlcLink,
    /// The connection id that owns the associations made through this station.
    id: u64,
    half_open: bool,
    rebooted: watch::Receiver<u64>,
    /// An AARQ over the meter's association limit, held until one frees or the deadline.
    held: Option<(u16, Vec<u8>, Instant)>,
    /// The meter answered an AARQ over its limit with a reset of the connection.
    reset: bool,
    /// The link went down (DISC, inactivity).
    link_down: bool,
}

impl Station {
    fn new(host: Arc<MeterHost>, physical: u16) -> Self {
        let address = HdlcAddress::server(LOGICAL_DEVICE, physical);
        Station {
            id: host.connection_id(),
            rebooted: host.generation.subscribe(),
            link: HdlcLink::new(
                Role::Server,
                LinkConfig {
                    max_apdu: host.max_pdu_size(),
                    ..LinkConfig::server(address, PARAMETERS)
                },
            ),
            half_open: false,
            held: None,
            reset: false,
            link_down: false,
            host,
        }
    }

    /// Hands the APDUs received to the meter and queues its replies; stops at an AARQ the
    /// meter holds.
    fn serve(&mut self, now: Instant) {
        if let Some((sap, aarq, deadline)) = self.held.take() {
            if now < deadline && !self.host.with_meter(|m| m.association_free(self.id, sap)) {
                self.held = Some((sap, aarq, deadline));
                return;
            }
            self.answer(sap, &aarq);
        }
        let mut answered = false;
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Apdu(_) if self.half_open => {}
                LinkEvent::Apdu(_) if self.host.link_fault(LinkFaultState::goes_half_open) => {
                    self.half_open = true;
                }
                LinkEvent::Apdu(apdu) => {
                    answered = true;
                    let sap = self.link.peer().map_or(0, |p| p.upper);
                    match self.host.admit(self.id, sap, &apdu) {
                        Admission::Serve => self.answer(sap, &apdu),
                        Admission::Wait => {
                            let deadline = now + self.host.inactivity_timeout();
                            self.held = Some((sap, apdu.to_vec(), deadline));
                            return;
                        }
                        Admission::Reset => {
                            // Behind a gateway the meter drops its association and answers
                            // nothing; a lone meter's connection is reset.
                            self.host.disconnect(self.id);
                            self.reset = true;
                        }
                    }
                }
                LinkEvent::ApduTooLong { length } => {
                    let sap = self.link.peer().map_or(0, |p| p.upper);
                    if let Some(reply) = self.host.refuse_too_long(sap, length) {
                        let _ = self.link.send_apdu(&reply);
                    }
                }
                LinkEvent::Disconnected(reason) => {
                    tracing::debug!(?reason, "HDLC link down");
                    self.host.disconnect(self.id);
                    self.link_down = true;
                }
                LinkEvent::Connected(p) => tracing::debug!(?p, "HDLC link up"),
            }
        }
        // The replies are queued and go out before the next frames are read.
        if answered {
            self.host.replies_delivered(self.id);
        }
    }

    fn answer(&mut self, sap: u16, apdu: &[u8]) {
        if let Some(reply) = self.host.handle(self.id, sap, apdu) {
            let _ = self.link.send_apdu(&reply);
        }
    }

    /// Appends the frames due now to `out`, through the link faults; a half-open station
    /// sends nothing.
    fn transmit(&mut self, now: Instant, out: &mut Vec<u8>) {
        while let Some(frame) = self.link.poll_transmit(now) {
            if self.half_open {
                continue;
            }
            // The opening flag is kept; any other damage fails the frame's checksums.
            for damaged in self.host.link_fault(|f| f.outgoing(frame.clone(), 1)) {
                out.extend_from_slice(&damaged);
            }
        }
    }
}

/// Serves one HDLC session until the client closes the connection or stays silent for the
/// inactivity time-out (or, for a lone meter, until the meter reboots, as a modem drops its
/// line; or, on the optical port, until the link ends).
pub(super) async fn hdlc_connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    route: Route,
    carrier: Carrier,
) -> std::io::Result<SessionEnd> {
    let mut stations: HashMap<u16, Station> = HashMap::new();
    if let Route::One(host) = &route {
        stations.insert(
            PHYSICAL_ADDRESS,
            Station::new(host.clone(), PHYSICAL_ADDRESS),
        );
    }
    let (mut splitter, ends_with_link) = match carrier {
        Carrier::Tcp => (FrameSplitter::new(), false),
        Carrier::Serial {
            inter_octet,
            ends_with_link,
        } => (
            FrameSplitter::with_inter_octet_timeout(inter_octet),
            ends_with_link,
        ),
    };
    let mut reader = PeerReader::new(route.inactivity_timeout());
    // A DISC ends an optical port's session even with no link up (answered by DM): the client
    // is done with mode E.
    let mut disc_seen = false;
    // One future for the connection's life (not one per read).
    let mut reboot = Reboot::of(&route);
    let result = loop {
        let now = Instant::now();
        let mut out = Vec::new();
        for station in stations.values_mut() {
            station.serve(now);
            station.transmit(now, &mut out);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        if matches!(route, Route::One(_)) && stations.values().any(|s| s.reset) {
            break Ok(SessionEnd::Reset);
        }
        if ends_with_link && (disc_seen || stations.values().any(|s| s.link_down)) {
            break Ok(SessionEnd::Ended);
        }
        let sleep = stations
            .values()
            .filter_map(|s| s.link.poll_timeout())
            .chain(splitter.partial_deadline())
            .min()
            .map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(now)
            });
        // A held AARQ is looked at again every 100 ms.
        let sleep = if stations.values().any(|s| s.held.is_some()) {
            sleep.min(Duration::from_millis(100))
        } else {
            sleep
        };
        tokio::select! {
            // Bytes already there count before a timer (an inter-octet time-out must not drop
            // a frame whose rest is waiting to be read).
            biased;
            received = reader.next(stream) => {
                let Some(received) = received? else {
                    break Ok(SessionEnd::Ended);
                };
                let now = Instant::now();
                splitter.push_at(now, received);
                while let Some(frame) = splitter.next_frame() {
                    // A UI frame to every station of the line: each meter takes it unanswered.
                    if let Some((source, apdu)) = dlms::hdlc::all_station_apdu(&frame) {
                        route.to_all_stations(source.upper, apdu);
                        continue;
                    }
                    if let Some(station) = station_for(&route, &mut stations, &frame) {
                        station.link.handle_frame(now, &frame);
                        disc_seen |= is_disc(&frame);
                    }
                }
            }
            _ = tokio::time::sleep(sleep) => {
                let now = Instant::now();
                splitter.expire(now);
                for station in stations.values_mut() {
                    station.link.handle_timeout(now);
                }
            }
            _ = &mut reboot => break Ok(SessionEnd::Ended),
        }
    };
    for station in stations.values() {
        station.host.disconnect(station.id);
    }
    result
}

fn is_disc(frame: &[u8]) -> bool {
    dlms::hdlc::FrameRepr::parse(frame)
        .is_ok_and(|f| matches!(f.control, dlms::hdlc::Control::Disc { .. }))
}

/// The station `frame` is for. Behind a gateway that is the meter at the destination's
/// physical address, set up on its first frame; a meter that rebooted since loses its station
/// (and its link), and a meter rebooting now has none, so its frames go unanswered.
fn station_for<'a>(
    route: &Route,
    stations: &'a mut HashMap<u16, Station>,
    frame: &[u8],
) -> Option<&'a mut Station> {
    if let Route::One(_) = route {
        return stations.get_mut(&PHYSICAL_ADDRESS);
    }
    let physical = Frame::new_checked(frame).ok()?.destination().ok()?.lower?;
    let host = route.hdlc_host(physical)?;
    let rebooted = stations
        .get(&physical)
        .is_some_and(|s| s.rebooted.has_changed().unwrap_or(true));
    if rebooted {
        if let Some(old) = stations.remove(&physical) {
            old.host.disconnect(old.id);
        }
    }
    if host.offline() {
        host.with_meter(|m| m.attempt_refused(super::host::now_ms()));
        return None;
    }
    Some(
        stations
            .entry(physical)
            .or_insert_with(|| Station::new(host.clone(), physical)),
    )
}
