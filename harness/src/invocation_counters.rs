//! The invocation counters this process has used, per client system title. A meter refuses an
//! APDU whose counter is not above the last it accepted from that title (a replay), so each
//! association starts above both the clock (in milliseconds, for a new process) and every
//! counter this process has already sent: two associations opened within the same millisecond
//! would otherwise start on the same counter.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn used_counters() -> &'static Mutex<HashMap<[u8; 8], u32>> {
    static USED: OnceLock<Mutex<HashMap<[u8; 8], u32>>> = OnceLock::new();
    USED.get_or_init(Mutex::default)
}

/// The counter a new association with `title` starts at.
pub(crate) fn first(title: &[u8; 8]) -> u32 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis()) as u32;
    let used = used_counters().lock().expect("counters lock");
    used.get(title).map_or(now_ms, |&next| now_ms.max(next))
}

/// Notes that an association with `title` will send `next` as its next counter.
pub(crate) fn used(title: &[u8; 8], next: u32) {
    let mut used = used_counters().lock().expect("counters lock");
    let entry = used.entry(*title).or_insert(next);
    *entry = (*entry).max(next);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_association_starts_above_every_counter_already_sent() {
        let title = *b"TESTCTR1";
        let start = first(&title);
        used(&title, start.wrapping_add(1_000_000));
        assert!(first(&title) >= start.wrapping_add(1_000_000));
    }
}
