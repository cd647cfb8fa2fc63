//! Which meters a connection reaches, and the waits every connection shares: the peer's next
//! bytes, and the lone meter's reboot.

use super::host::{
    gateway_index, MeterHost, GATEWAY_FIRST_PHYSICAL, LOGICAL_DEVICE, PHYSICAL_ADDRESS,
};
use crate::meter::GroupAddress;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// The meters a connection reaches.
#[derive(Clone)]
pub(super) enum Route {
    /// One meter at [`LOGICAL_DEVICE`]; its reboot ends the connection.
    One(Arc<MeterHost>),
    /// A gateway: meter `i` at wPort [`gateway_wport`]`(i)`, or at HDLC physical address
    /// [`GATEWAY_FIRST_PHYSICAL`] + `i`; the connection outlives their reboots.
    Gateway(Arc<Vec<Arc<MeterHost>>>),
}

impl Route {
    /// The meter at a wrapper destination wPort.
    pub(super) fn wrapper_host(&self, wport: u16) -> Option<&Arc<MeterHost>> {
        match self {
            Route::One(host) => (wport == LOGICAL_DEVICE).then_some(host),
            Route::Gateway(hosts) => hosts.get(usize::from(gateway_index(wport)?)),
        }
    }

    /// Hands a request sent to every station (the wrapper's all-station wPort, HDLC's
    /// all-station address) to each meter the route reaches, as a broadcast: none answers.
    pub(super) fn to_all_stations(&self, client_sap: u16, request: &[u8]) {
        let one;
        let hosts: &[Arc<MeterHost>] = match self {
            Route::One(host) => {
                one = [host.clone()];
                &one
            }
            Route::Gateway(hosts) => hosts,
        };
        for host in hosts {
            host.group_request(GroupAddress::Broadcast, client_sap, request);
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

    /// How long the connection may stay silent: the lone meter's inactivity time-out, or the
    /// longest of a gateway's meters.
    pub(super) fn inactivity_timeout(&self) -> std::time::Duration {
        match self {
            Route::One(host) => host.inactivity_timeout(),
            Route::Gateway(hosts) => hosts
                .iter()
                .map(|h| h.inactivity_timeout())
                .max()
                .unwrap_or(std::time::Duration::from_secs(120)),
        }
    }

    /// The longest request a connection holds: the lone meter's max-receive-pdu-size, or the
    /// largest of a gateway's meters.
    pub(super) fn max_pdu_size(&self) -> u16 {
        match self {
            Route::One(host) => host.max_pdu_size(),
            Route::Gateway(hosts) => hosts.iter().map(|h| h.max_pdu_size()).max().unwrap_or(0),
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

/// What a connection's peer sends, read with the meter's inactivity time-out.
pub(super) struct PeerReader {
    /// Where [`Self::next`] reads to.
    buf: Vec<u8>,
    idle: std::time::Duration,
    /// When the peer last sent something.
    heard: tokio::time::Instant,
    /// One timer for the connection's life, due no later than `heard + idle`: when it fires
    /// early (bytes came since it was set) it is set again, so that a read only notes the
    /// time instead of moving a timer.
    quiet: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// The most a read takes in at once.
pub(super) const READ_SIZE: usize = 4096;

impl PeerReader {
    /// A reader that gives up once the peer has been silent for `idle`.
    pub(super) fn new(idle: std::time::Duration) -> Self {
        let now = tokio::time::Instant::now();
        PeerReader {
            buf: Vec::new(),
            idle,
            heard: now,
            quiet: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// What the peer sent next: `None` once it has closed the connection, or stayed silent
    /// for the inactivity time-out (even in the middle of a frame). Cancel-safe: a call
    /// dropped by a `select!` loses nothing, and the silence is counted from the last bytes.
    pub(super) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> std::io::Result<Option<&[u8]>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.reserve(READ_SIZE);
        let read = self.next_into(stream, &mut buf).await;
        self.buf = buf;
        Ok(read?.map(|_| &self.buf[..]))
    }

    /// As [`Self::next`], the bytes appended to `into` (up to its spare capacity, at least
    /// one byte) instead: the number appended, `None` at the end.
    pub(super) async fn next_into<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        into: &mut Vec<u8>,
    ) -> std::io::Result<Option<usize>> {
        let PeerReader {
            idle, heard, quiet, ..
        } = self;
        loop {
            tokio::select! {
                biased;
                read = stream.read_buf(into) => {
                    let n = read?;
                    *heard = tokio::time::Instant::now();
                    return Ok((n > 0).then_some(n));
                }
                _ = quiet.as_mut() => {
                    let due = *heard + *idle;
                    if due > tokio::time::Instant::now() {
                        quiet.as_mut().reset(due);
                        continue;
                    }
                    tracing::debug!("closing a connection silent for {idle:?}");
                    return Ok(None);
                }
            }
        }
    }
}

/// Completes when the lone meter reboots (never when there is none to watch). A connection's
/// `select!` polls it on every turn; it asks the meter's watch (whose `Notified` takes a lock
/// on every poll) only when the watch has moved or the task's waker changed, and otherwise
/// answers from one atomic load.
pub(super) struct Reboot(Option<RebootWatch>);

struct RebootWatch {
    /// Read to see whether the watch moved, without a lock.
    seen: watch::Receiver<u64>,
    /// Waits for the watch to move (on a clone of `seen`).
    changed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// The waker `changed` was last polled with.
    waker: Option<std::task::Waker>,
}

impl Reboot {
    /// The lone meter's reboot on `route` (none behind a gateway).
    pub(super) fn of(route: &Route) -> Self {
        Self::watching(route.lone_meter_reboots())
    }

    /// Completes when `generation` moves (or its meter is gone); never without one.
    fn watching(generation: Option<watch::Receiver<u64>>) -> Self {
        Reboot(generation.map(|seen| {
            let mut watching = seen.clone();
            RebootWatch {
                seen,
                changed: Box::pin(async move {
                    let _ = watching.changed().await;
                }),
                waker: None,
            }
        }))
    }
}

impl std::future::Future for Reboot {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let Some(watch) = self.0.as_mut() else {
            return std::task::Poll::Pending;
        };
        let still = matches!(watch.seen.has_changed(), Ok(false));
        if still
            && watch
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return std::task::Poll::Pending;
        }
        watch.waker = Some(cx.waker().clone());
        watch.changed.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_reader_counts_silence_from_the_last_bytes() {
        let idle = Duration::from_millis(200);
        let (mut peer, mut ours) = tokio::io::duplex(64);
        let mut reader = PeerReader::new(idle);
        let started = tokio::time::Instant::now();
        let writer = tokio::spawn(async move {
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_millis(120)).await;
                peer.write_all(b"x").await.unwrap();
            }
            // Kept open, silent.
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(peer);
        });
        // The second byte comes 240 ms in: past the time-out counted from the start, within
        // it counted from the first byte.
        for _ in 0..2 {
            assert_eq!(reader.next(&mut ours).await.unwrap(), Some(&b"x"[..]));
        }
        assert_eq!(reader.next(&mut ours).await.unwrap(), None, "silent");
        let silent_after = started.elapsed();
        assert!(
            silent_after >= Duration::from_millis(440) && silent_after < Duration::from_secs(4),
            "{silent_after:?}"
        );
        writer.abort();
    }

    #[tokio::test]
    async fn a_reboot_is_seen_however_often_it_was_polled_before() {
        let (generation, seen) = watch::channel(0u64);
        let mut reboot = Reboot::watching(Some(seen));
        for _ in 0..3 {
            assert!(poll_once(&mut reboot).await.is_pending());
        }
        let waiter = tokio::spawn(reboot);
        tokio::task::yield_now().await;
        generation.send_replace(1);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the reboot completes the wait")
            .unwrap();
        let mut none = Reboot::watching(None);
        assert!(poll_once(&mut none).await.is_pending());
    }

    /// Polls `f` once, from a task's context.
    async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
        std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx)))
            .await
    }
}
