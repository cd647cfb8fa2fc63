//! One meter on a TCP listener, over the IEC 62056-4-7 wrapper or HDLC. This is the only place
//! the meter meets sockets and clocks: it feeds requests and time in, and acts on the meter's
//! events (a reboot drops every connection and refuses new ones until the meter is back).

use super::hdlc_stations::hdlc_connection;
use super::link_faults::{LinkFaultState, LinkFaultStats, LinkFaults};
use super::store::DirStore;
use crate::meter::{Meter, MeterEvent};
use dlms::wrapper::{wrap, WrapperDecoder};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use dlms::Transport;

/// The meter's logical device (wrapper wPort, HDLC upper address).
pub const LOGICAL_DEVICE: u16 = 1;
/// The HDLC lower (physical) address of an emulated meter.
pub const PHYSICAL_ADDRESS: u16 = 17;
/// Behind an HDLC gateway, meter `i` answers at physical address `GATEWAY_FIRST_PHYSICAL + i`:
/// lower HDLC addresses below 0x10 are reserved (Gurux, "DLMS Client and Server addressing").
pub const GATEWAY_FIRST_PHYSICAL: u16 = 0x10;

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
    /// The connection whose AARQ made the current association, so that another connection
    /// closing does not end it.
    owner: Mutex<Option<u64>>,
    next_connection: std::sync::atomic::AtomicU64,
    link: LinkShape,
    link_faults: Mutex<LinkFaultState>,
    /// Woken when a request may have changed the meter's next deadline.
    timer: tokio::sync::Notify,
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
            owner: Mutex::new(None),
            next_connection: std::sync::atomic::AtomicU64::new(1),
            link_faults: Mutex::new(LinkFaultState::new(LinkFaults::default())),
            timer: tokio::sync::Notify::new(),
        })
    }

    /// Replaces the link faults still to fire (from the scenario, or injected now).
    pub fn set_link_faults(&self, plan: LinkFaults) {
        *self.link_faults.lock().expect("link faults lock") = LinkFaultState::new(plan);
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
        let out = f(&mut meter);
        if meter.poll_timeout() != before {
            self.timer.notify_one();
        }
        if meter.take_dirty() {
            if let Some(store) = &self.store {
                if let Err(e) = store.save(meter.state()) {
                    tracing::error!("persisting the meter state failed: {e}");
                }
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

    /// A new connection reaches the meter: its id (which owns the associations it makes).
    pub(super) fn connection_id(&self) -> u64 {
        self.link_fault(LinkFaultState::connection_opened);
        self.next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// A connection closed: its association, if it is the current one, ends.
    pub(super) fn disconnect(&self, connection: u64) {
        let mut owner = self.owner.lock().expect("owner lock");
        if *owner == Some(connection) {
            *owner = None;
            self.with_meter(|m| m.disconnect());
        }
    }

    pub(super) fn handle(
        &self,
        connection: u64,
        client_sap: u16,
        request: &[u8],
    ) -> Option<Vec<u8>> {
        if request.first() == Some(&dlms::apdu::tag::AARQ) {
            *self.owner.lock().expect("owner lock") = Some(connection);
        }
        let reply = self.with_meter(|m| m.handle_apdu(now_ms(), client_sap, request));
        tracing::debug!(
            client = client_sap,
            request = %summary(request),
            reply = %reply.as_deref().map_or("(none)".into(), summary),
        );
        reply
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
async fn timers(host: Arc<MeterHost>) {
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

/// Takes the next connection. Failures that pass (no open files left, a connection reset before
/// it was taken) are logged and retried after a pause, so that the meter keeps listening.
async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    loop {
        match listener.accept().await {
            Ok(connection) => return Ok(connection),
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

/// Ends a task when dropped, so that the meter's timers stop with its listener.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

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
    let _timers = AbortOnDrop(tokio::spawn(timers(host.clone())));
    loop {
        let (stream, peer) = accept(&listener).await?;
        if host.offline() {
            // A rebooting meter does not answer: the connection is closed at once.
            drop(stream);
            continue;
        }
        if host.link_fault(LinkFaultState::refuse) {
            // Refused: reset at once (linger 0 sends RST, as a port nobody listens on does;
            // with a zero timeout the drop does not block, which is what tokio warns about).
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
            continue;
        }
        tracing::debug!(%peer, "connection");
        let host = host.clone();
        tokio::spawn(async move {
            let result = match transport {
                Transport::Wrapper => wrapper_connection(stream, Route::One(host)).await,
                Transport::Hdlc => hdlc_connection(stream, Route::One(host)).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            tracing::debug!(%peer, "disconnected");
        });
    }
}

/// The meters a connection reaches.
#[derive(Clone)]
pub(super) enum Route {
    /// One meter at [`LOGICAL_DEVICE`]; its reboot ends the connection.
    One(Arc<MeterHost>),
    /// A gateway: meter `i` at wPort `i + 1`, or at HDLC physical address
    /// [`GATEWAY_FIRST_PHYSICAL`] + `i`; the connection outlives their reboots.
    Gateway(Arc<Vec<Arc<MeterHost>>>),
}

impl Route {
    /// The meter at a wrapper destination wPort.
    fn host(&self, wport: u16) -> Option<&Arc<MeterHost>> {
        match self {
            Route::One(host) => (wport == LOGICAL_DEVICE).then_some(host),
            Route::Gateway(hosts) => hosts.get(usize::from(wport.checked_sub(1)?)),
        }
    }

    /// The reboot signal of a lone meter, whose reboot ends its connections; none behind a
    /// gateway, whose connections outlive the meters' reboots.
    pub(super) fn lone_meter_reboots(&self) -> Option<watch::Receiver<u64>> {
        match self {
            Route::One(host) => Some(host.generation.subscribe()),
            Route::Gateway(_) => None,
        }
    }

    /// The meter at an HDLC physical address.
    pub(super) fn hdlc_host(&self, physical: u16) -> Option<&Arc<MeterHost>> {
        match self {
            Route::One(host) => (physical == PHYSICAL_ADDRESS).then_some(host),
            Route::Gateway(hosts) => {
                hosts.get(usize::from(physical.checked_sub(GATEWAY_FIRST_PHYSICAL)?))
            }
        }
    }
}

/// Reads what the peer sent: `None` once it has closed the connection.
pub(super) async fn read_some<'b>(
    stream: &mut TcpStream,
    buf: &'b mut [u8],
) -> std::io::Result<Option<&'b [u8]>> {
    let n = stream.read(buf).await?;
    Ok((n > 0).then_some(&buf[..n]))
}

/// Completes when the lone meter reboots (never when there is none to watch).
pub(super) async fn rebooted_now(rebooted: &mut Option<watch::Receiver<u64>>) {
    match rebooted {
        Some(r) => {
            let _ = r.changed().await;
        }
        None => std::future::pending().await,
    }
}

/// Serves every meter of `hosts` on one listener, as a data concentrator does, until the task
/// is dropped: over the wrapper meter `i` at wPort `i + 1`, over HDLC at physical address
/// [`GATEWAY_FIRST_PHYSICAL`] + `i`.
pub async fn serve_gateway(
    listener: TcpListener,
    hosts: Arc<Vec<Arc<MeterHost>>>,
    transport: Transport,
) -> std::io::Result<()> {
    let _timers: Vec<AbortOnDrop> = hosts
        .iter()
        .map(|h| AbortOnDrop(tokio::spawn(timers(h.clone()))))
        .collect();
    loop {
        let (stream, peer) = accept(&listener).await?;
        let route = Route::Gateway(hosts.clone());
        tokio::spawn(async move {
            let result = match transport {
                Transport::Wrapper => wrapper_connection(stream, route).await,
                Transport::Hdlc => hdlc_connection(stream, route).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "gateway connection ended: {e}");
            }
        });
    }
}

async fn wrapper_connection(mut stream: TcpStream, route: Route) -> std::io::Result<()> {
    // Per meter reached on this connection: its connection id, and whether it went half-open.
    let mut ids: std::collections::HashMap<u16, u64> = std::collections::HashMap::new();
    let mut half_open = std::collections::HashSet::new();
    let mut rebooted = route.lone_meter_reboots();
    let mut decoder = WrapperDecoder::new(u16::MAX);
    let mut buf = vec![0u8; 4096];
    let result = loop {
        let reboot = rebooted_now(&mut rebooted);
        tokio::select! {
            received = read_some(&mut stream, &mut buf) => {
                let Some(received) = received? else {
                    break Ok(());
                };
                decoder.push(received);
                // The replies to every request this read brought go out in one write.
                let mut out = Vec::new();
                loop {
                    let frame = match decoder.next_frame() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("closing: {e}");
                            stream.write_all(&out).await?;
                            disconnect_all(&route, &ids);
                            return Ok(());
                        }
                    };
                    let Some(host) = route.host(frame.destination) else {
                        continue;
                    };
                    if half_open.contains(&frame.destination) {
                        continue;
                    }
                    if host.link_fault(LinkFaultState::goes_half_open) {
                        half_open.insert(frame.destination);
                        continue;
                    }
                    let id = *ids.entry(frame.destination).or_insert_with(|| host.connection_id());
                    if let Some(reply) = host.handle(id, frame.source, &frame.apdu) {
                        let delay = host.link.exchange_time(frame.apdu.len(), reply.len());
                        if !delay.is_zero() {
                            stream.write_all(&std::mem::take(&mut out)).await?;
                            tokio::time::sleep(delay).await;
                        }
                        if let Some(bytes) = wrap(frame.destination, frame.source, &reply) {
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
            }
            _ = reboot => break Ok(()),
        }
    };
    disconnect_all(&route, &ids);
    result
}

/// The connection closed: each meter it reached loses the association it made.
fn disconnect_all(route: &Route, ids: &std::collections::HashMap<u16, u64>) {
    for (&wport, &id) in ids {
        if let Some(host) = route.host(wport) {
            host.disconnect(id);
        }
    }
}
