//! A meter as its connections share it: the meter behind a lock, its store, its link's shape
//! and faults, its reboot signal and its timers. Every connection, wrapper or HDLC, one meter
//! or a gateway's many, reaches the meter through a [`MeterHost`].

use super::link_faults::{LinkFaultState, LinkFaultStats, LinkFaults};
use super::store::DirStore;
use crate::meter::{Admission, GroupAddress, Meter, MeterEvent};
use crate::profile::MeterProfile;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The meter's logical device (wrapper wPort, HDLC upper address).
pub const LOGICAL_DEVICE: u16 = 1;
/// The HDLC lower (physical) address of an emulated meter.
pub const PHYSICAL_ADDRESS: u16 = 17;
/// Behind an HDLC gateway, meter `i` answers at physical address `GATEWAY_FIRST_PHYSICAL + i`:
/// lower HDLC addresses below 0x10 are reserved (Gurux, "DLMS Client and Server addressing").
pub const GATEWAY_FIRST_PHYSICAL: u16 = 0x10;

/// The wrapper wPort of meter `index` behind a gateway: `index + 1`, stepping over 127, the
/// wrapper's all-station address (IEC 62056-47).
pub const fn gateway_wport(index: u16) -> u16 {
    if index < 126 {
        index + 1
    } else {
        index + 2
    }
}

/// The index of the meter at wrapper wPort `wport` behind a gateway (the inverse of
/// [`gateway_wport`]); none for 0 and the all-station 127.
pub const fn gateway_index(wport: u16) -> Option<u16> {
    match wport {
        0 | dlms::wrapper::wport::ALL_STATION => None,
        1..=126 => Some(wport - 1),
        _ => Some(wport - 2),
    }
}

/// Milliseconds since the Unix epoch, the meter's notion of now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A meter shared by its connections, with its store and a reboot signal.
pub struct MeterHost {
    meter: Mutex<Meter>,
    store: Option<DirStore>,
    pub(super) generation: watch::Sender<u64>,
    next_connection: std::sync::atomic::AtomicU64,
    pub(super) link: LinkShape,
    link_faults: Mutex<LinkFaultState>,
    /// True while the link faults can inject nothing: a connection then skips them, and
    /// their lock, for every request and reply.
    link_clean: std::sync::atomic::AtomicBool,
    /// Woken when a request may have changed the meter's next deadline.
    timer: tokio::sync::Notify,
    /// Woken when an association ends (for AARQs held over a limit).
    freed: tokio::sync::Notify,
    /// Set when the last save of the state failed: the request that changed it gets no reply.
    save_failed: std::sync::atomic::AtomicBool,
}

/// The delay a link adds to each exchange: latency both ways, and bytes at its bandwidth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkShape {
    /// One-way latency in milliseconds.
    pub latency_ms: u64,
    /// Bits per second; 0 is unlimited.
    pub bits_per_second: u64,
}

impl LinkShape {
    /// The time one request of `request` bytes and its reply of `reply` bytes take on the link.
    pub fn exchange_time(&self, request: usize, reply: usize) -> Duration {
        let bits = (request + reply) as u64 * 8 * 1000;
        let transfer_ms = bits.checked_div(self.bits_per_second).unwrap_or(0);
        Duration::from_millis(2 * self.latency_ms + transfer_ms)
    }
}

impl MeterHost {
    /// Hosts `meter`, persisting to `store` when given.
    pub fn new(meter: Meter, store: Option<DirStore>) -> Arc<Self> {
        Self::with_link(meter, store, LinkShape::default())
    }

    /// Hosts `meter` behind a link of the given shape.
    pub fn with_link(meter: Meter, store: Option<DirStore>, link: LinkShape) -> Arc<Self> {
        Arc::new(MeterHost {
            link,
            meter: Mutex::new(meter),
            store,
            generation: watch::channel(0).0,
            next_connection: std::sync::atomic::AtomicU64::new(1),
            link_faults: Mutex::new(LinkFaultState::new(LinkFaults::default())),
            link_clean: std::sync::atomic::AtomicBool::new(true),
            timer: tokio::sync::Notify::new(),
            freed: tokio::sync::Notify::new(),
            save_failed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Replaces the link faults still to fire (from the scenario, or injected now).
    pub fn set_link_faults(&self, plan: LinkFaults) {
        let mut state = self.link_faults.lock().expect("link faults lock");
        self.link_clean
            .store(plan.is_clean(), std::sync::atomic::Ordering::Release);
        *state = LinkFaultState::new(plan);
    }

    /// True while the link faults can inject nothing (none planned, or none since the last
    /// plan): the per-request and per-reply draws may be skipped.
    pub(super) fn link_faults_clean(&self) -> bool {
        self.link_clean.load(std::sync::atomic::Ordering::Acquire)
    }

    /// What the link faults injected so far.
    pub fn link_fault_stats(&self) -> LinkFaultStats {
        self.link_faults.lock().expect("link faults lock").stats
    }

    pub(super) fn link_fault<T>(&self, f: impl FnOnce(&mut LinkFaultState) -> T) -> T {
        f(&mut self.link_faults.lock().expect("link faults lock"))
    }

    /// Runs `f` on the meter, then persists, handles its events, and wakes the timers if its
    /// next deadline moved.
    pub fn with_meter<T>(&self, f: impl FnOnce(&mut Meter) -> T) -> T {
        let mut meter = self.meter.lock().expect("meter lock");
        let before = meter.poll_timeout();
        let associations = meter.associations();
        let out = f(&mut meter);
        if meter.poll_timeout() != before {
            self.timer.notify_one();
        }
        if meter.associations() < associations {
            self.freed.notify_waiters();
        }
        if meter.take_dirty() {
            if let Some(store) = &self.store {
                let saved = store.save(meter.state());
                if let Err(e) = &saved {
                    tracing::error!("persisting the meter state failed: {e}");
                    // Tried again with the next request.
                    meter.state_mut();
                }
                self.save_failed
                    .store(saved.is_err(), std::sync::atomic::Ordering::Relaxed);
            }
        }
        while let Some(event) = meter.poll_event() {
            match event {
                MeterEvent::Offline { until_ms } => {
                    tracing::debug!(
                        back_in_ms = until_ms.saturating_sub(now_ms()),
                        "meter rebooting"
                    );
                    self.generation.send_modify(|g| *g += 1);
                }
                MeterEvent::Online => tracing::debug!("meter back online"),
                MeterEvent::CutConnections => {
                    tracing::debug!("injected fault: connections cut");
                    self.generation.send_modify(|g| *g += 1);
                }
            }
        }
        out
    }

    /// A value read from the meter's profile.
    fn read_profile<T>(&self, read: impl FnOnce(&MeterProfile) -> T) -> T {
        read(self.meter.lock().expect("meter lock").profile())
    }

    /// How many connections the meter serves at once.
    pub(super) fn max_connections(&self) -> usize {
        self.read_profile(|p| usize::from(p.max_connections))
    }

    /// The longest request the meter takes in (its max-receive-pdu-size): what a connection
    /// holds of a partial request.
    pub(super) fn max_pdu_size(&self) -> u16 {
        self.read_profile(|p| p.max_pdu_size)
    }

    /// A request of `length` bytes, longer than [`Self::max_pdu_size`], was skipped by the
    /// connection: the meter's answer.
    pub(super) fn refuse_too_long(&self, client_sap: u16, length: usize) -> Option<Vec<u8>> {
        let reply = self.meter.lock().expect("meter lock").refuse_too_long();
        tracing::debug!(
            client = client_sap,
            length,
            "request longer than the PDU size"
        );
        reply
    }

    /// How long a connection to this meter may stay silent.
    pub(super) fn inactivity_timeout(&self) -> Duration {
        self.read_profile(|p| Duration::from_millis(p.inactivity_timeout_ms))
    }

    /// A new connection reaches the meter: its id (its association is its own).
    pub(super) fn connection_id(&self) -> u64 {
        self.link_fault(LinkFaultState::connection_opened);
        self.next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The connections that have reached this meter (each counted at its first request) since
    /// the process started.
    pub fn connections_opened(&self) -> u64 {
        self.next_connection
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(1)
    }

    /// A connection closed: its association ends.
    pub(super) fn disconnect(&self, connection: u64) {
        self.with_meter(|m| m.disconnect(connection, now_ms()));
    }

    pub(super) fn handle(
        &self,
        connection: u64,
        client_sap: u16,
        request: &[u8],
    ) -> Option<Vec<u8>> {
        let reply = self.with_meter(|m| m.handle_apdu(now_ms(), connection, client_sap, request));
        // A change the meter could not store is not acknowledged: the head-end hears nothing
        // and asks again.
        let reply = reply.filter(|_| {
            !self
                .save_failed
                .swap(false, std::sync::atomic::Ordering::Relaxed)
        });
        tracing::debug!(
            client = client_sap,
            request = %summary(request),
            reply = %reply.as_deref().map_or("(none)".into(), summary),
        );
        reply
    }

    /// What to do with `request` before handing it to the meter ([`Meter::admit`]).
    pub(super) fn admit(&self, connection: u64, client_sap: u16, request: &[u8]) -> Admission {
        // Only an AARQ can be over a limit: the other requests do not take the meter's lock
        // twice.
        if request.first() != Some(&dlms::apdu::tag::AARQ) {
            return Admission::Serve;
        }
        self.with_meter(|m| m.admit(now_ms(), connection, client_sap, request))
    }

    /// Holds an AARQ from `client_sap` on `connection` until the meter has an association
    /// free for it, or the inactivity time-out passes (the meter then rejects it).
    pub(super) async fn wait_for_association(&self, connection: u64, client_sap: u16) {
        let deadline = tokio::time::Instant::now() + self.inactivity_timeout();
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.with_meter(|m| m.association_free(connection, client_sap)) {
                return;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return;
            }
        }
    }

    /// A group-addressed request reaches the meter over its group path: lost there, or
    /// carried out or discarded by the meter, never answered.
    pub(super) fn group_request(&self, address: GroupAddress, client_sap: u16, request: &[u8]) {
        if self.link_fault(LinkFaultState::group_frame_lost) {
            return;
        }
        let outcome = self.with_meter(|m| m.handle_group(now_ms(), address, client_sap, request));
        tracing::trace!(?address, client = client_sap, ?outcome, "group request");
    }

    /// The replies to every request `connection` sent so far have gone out.
    pub(super) fn replies_delivered(&self, connection: u64) {
        self.with_meter(|m| m.replies_delivered(connection));
    }

    pub(super) fn offline(&self) -> bool {
        self.with_meter(|m| m.is_offline())
    }
}

/// A one-line description of an APDU for the log.
fn summary(apdu: &[u8]) -> String {
    use dlms::Codec;
    match dlms::Apdu::decode(apdu) {
        Ok(a) => {
            let text = dlms::text::apdu(&a)
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("; ");
            if text.len() > 160 {
                let head: String = text.chars().take(160).collect();
                format!("{head}… ({} bytes)", apdu.len())
            } else {
                text
            }
        }
        Err(e) => format!("undecodable ({e}): {} bytes", apdu.len()),
    }
}

/// Runs the meter's timers (verification, scheduled activation, the end of a reboot): sleeps
/// until the meter's next deadline, or until a request may have moved it.
pub(super) async fn timers(host: Arc<MeterHost>) {
    loop {
        let next = host.with_meter(|m| m.poll_timeout());
        let wait = next.map_or(Duration::from_secs(3600), |t| {
            Duration::from_millis(t.saturating_sub(now_ms()))
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => host.with_meter(|m| m.handle_timeout(now_ms())),
            _ = host.timer.notified() => {}
        }
    }
}
