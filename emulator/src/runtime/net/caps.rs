//! Caps on the connections served at once: each meter's (its profile's `max_connections`) and
//! the fleet's (what its open-file limit can hold). A connection over either cap is taken and
//! closed at once, so that the client learns it at once instead of waiting in the backlog.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many connections may be open at once; clones share the count.
#[derive(Clone, Debug)]
pub struct ConnectionCap {
    taken: Arc<AtomicUsize>,
    limit: usize,
}

/// One connection's place under a [`ConnectionCap`], given back when dropped.
#[derive(Debug)]
pub struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionCap {
    /// A cap of `limit` connections (at least one).
    pub fn new(limit: usize) -> Self {
        ConnectionCap {
            taken: Arc::default(),
            limit: limit.max(1),
        }
    }

    /// No cap.
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// A place for a new connection, or `None` when every place is taken.
    pub fn take(&self) -> Option<Place> {
        let limit = self.limit;
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(self.taken.clone()))
    }
}

/// A place under every cap in `caps` (the meter's, then the fleet's), or `None` (after logging
/// which is full) when one has none left.
pub(super) fn admit(
    peer: std::net::SocketAddr,
    caps: [(&ConnectionCap, &str); 2],
) -> Option<[Place; 2]> {
    let [(first, first_name), (second, second_name)] = caps;
    let Some(a) = first.take() else {
        tracing::debug!(%peer, "refused: every connection {first_name} serves is taken");
        return None;
    };
    let Some(b) = second.take() else {
        tracing::debug!(%peer, "refused: every connection {second_name} serves is taken");
        return None;
    };
    Some([a, b])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_when_dropped_and_both_caps_count() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let meter = ConnectionCap::new(2);
        let fleet = ConnectionCap::new(3);
        let first = admit(peer, [(&meter, "the meter"), (&fleet, "the fleet")]).unwrap();
        let _second = admit(peer, [(&meter, "the meter"), (&fleet, "the fleet")]).unwrap();
        assert!(admit(peer, [(&meter, "the meter"), (&fleet, "the fleet")]).is_none());
        let other_meter = ConnectionCap::new(2);
        let _third = admit(peer, [(&other_meter, "the meter"), (&fleet, "the fleet")]).unwrap();
        assert!(admit(peer, [(&other_meter, "the meter"), (&fleet, "the fleet")]).is_none());
        drop(first);
        assert!(admit(peer, [(&meter, "the meter"), (&fleet, "the fleet")]).is_some());
    }
}
