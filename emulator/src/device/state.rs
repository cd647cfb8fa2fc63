//! What a meter keeps in non-volatile memory: it survives reboots; associations and link state
//! do not.

use crate::events::EventLog;
use crate::firmware::{factory_parts, FirmwarePart};
use crate::transfer::Transfer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The persistent state of one meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterState {
    /// The image transfer process, its blocks and image (IC 18).
    pub transfer: Transfer,
    /// The firmware parts with their two slots.
    pub parts: Vec<FirmwarePart>,
    /// The event log.
    pub log: EventLog,
    /// Meter clock minus emulated time, in milliseconds (set by writing the clock).
    pub clock_offset_ms: i64,
    /// The activation scheduler's execution time (IC 22 attribute 4), ms since the epoch.
    pub scheduled_activation_ms: Option<u64>,
    /// The raw execution_time last written, returned as written.
    pub scheduled_activation_raw: Option<Vec<u8>>,
    /// Per client SAP: the last invocation counter accepted (replay protection).
    pub client_invocation_counters: BTreeMap<u16, u32>,
    /// The meter's own next invocation counter.
    pub invocation_counter: u32,
    /// An injected fault: the next activation fails with this reason and rolls back.
    pub fail_next_activation: Option<String>,
    /// The error register (0-0:97.97.0.255): 0 in the normal state.
    #[serde(default)]
    pub error_register: u32,
    /// The last broadcast invocation counter accepted from a group (replay protection).
    #[serde(default)]
    pub broadcast_invocation_counter: Option<u32>,
}

impl Default for MeterState {
    fn default() -> Self {
        MeterState {
            transfer: Transfer::default(),
            parts: factory_parts(),
            log: EventLog::default(),
            clock_offset_ms: 0,
            scheduled_activation_ms: None,
            scheduled_activation_raw: None,
            client_invocation_counters: BTreeMap::new(),
            invocation_counter: 1,
            fail_next_activation: None,
            error_register: 0,
            broadcast_invocation_counter: None,
        }
    }
}
