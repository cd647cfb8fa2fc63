//! The meter's event log (kept in non-volatile memory), shown by a profile generic object.

use serde::{Deserialize, Serialize};

/// What the meter records about firmware upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventCode {
    /// An image transfer was initiated.
    TransferInitiated = 1,
    /// Verification succeeded: "Firmware Ready for Activation" (MCS301).
    FirmwareReadyForActivation = 2,
    /// Verification failed; the detail says which check.
    VerificationFailed = 3,
    /// The new image is running.
    ActivationSucceeded = 4,
    /// Activation failed and the meter rolled back to the old image.
    ActivationFailedRolledBack = 5,
    /// The meter restarted.
    Reboot = 6,
    /// A block could not be stored; it was refused and stays missing.
    StorageFailed = 7,
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Meter time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub code: EventCode,
    /// Details (which check failed, which firmware part, which version).
    pub detail: String,
}

/// A bounded event log: the oldest entries go first when it is full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLog {
    /// The entries, oldest first.
    pub entries: Vec<Event>,
    /// The most entries kept.
    pub capacity: usize,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            entries: Vec::new(),
            capacity: 100,
        }
    }
}

impl EventLog {
    /// Records an event.
    pub fn record(&mut self, time_ms: u64, code: EventCode, detail: impl Into<String>) {
        if self.entries.len() == self.capacity {
            self.entries.remove(0);
        }
        self.entries.push(Event {
            time_ms,
            code,
            detail: detail.into(),
        });
    }

    /// The codes recorded, oldest first.
    pub fn codes(&self) -> Vec<EventCode> {
        self.entries.iter().map(|e| e.code).collect()
    }
}
