//! What a transfer did: its outcome, its statistics, and every decision as an event.

use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The steps of the image transfer process as the driver runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Connecting and associating.
    Connect,
    /// Reading image_block_size and checking it fits the PDU.
    BlockSize,
    /// Reading and, if needed, writing image_transfer_enabled.
    Enable,
    /// Initiating, or resuming a transfer already under way.
    Initiate,
    /// Sending blocks, in passes.
    Blocks,
    /// Reading the bitmap (attribute 3, or attribute 4) for missing blocks.
    Completeness,
    /// Verifying, polling the status on temporary-failure.
    Verify,
    /// Checking image_to_activate_info.
    CheckInfo,
    /// Activating (now, or through the activation scheduler).
    Activate,
    /// Reconnecting after the reboot and confirming the new firmware.
    Confirm,
}

impl Step {
    /// The step's name, as reports and JSON write it.
    pub const fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::BlockSize => "block-size",
            Step::Enable => "enable",
            Step::Initiate => "initiate",
            Step::Blocks => "blocks",
            Step::Completeness => "completeness",
            Step::Verify => "verify",
            Step::CheckInfo => "check-info",
            Step::Activate => "activate",
            Step::Confirm => "confirm",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One decision of the driver.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the transfer started.
    pub at_ms: u64,
    /// The step.
    pub step: Step,
    /// What was seen and decided.
    pub message: String,
}

/// How success was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Evidence {
    /// The active firmware identifier of the target part (1-b:0.2.0.255) shows the new version.
    ActiveFirmwareIdentifier(String),
    /// The meter has no such object; image_transfer_status is 6 after the reconnect.
    TransferStatusSix,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::ActiveFirmwareIdentifier(v) => write!(f, "active firmware identifier {v}"),
            Evidence::TransferStatusSix => f.write_str("image_transfer_status 6"),
        }
    }
}

/// How the transfer ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    /// The new firmware runs.
    Upgraded {
        /// How that was confirmed.
        evidence: Evidence,
    },
    /// Verified and left for activation (activation "no"), or activation scheduled.
    ReadyForActivation,
    /// The transfer failed.
    Failed {
        /// The step that failed.
        step: Step,
        /// Why, as an operator reads it.
        reason: String,
    },
}

impl std::fmt::Display for Outcome {
    /// `upgraded (active firmware identifier APP-2.0.0)`, `failed at verify: ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Upgraded { evidence } => write!(f, "upgraded ({evidence})"),
            Outcome::ReadyForActivation => f.write_str("verified, ready for activation"),
            Outcome::Failed { step, reason } => write!(f, "failed at {step}: {reason}"),
        }
    }
}

impl Outcome {
    /// True if the new firmware was confirmed.
    pub fn upgraded(&self) -> bool {
        matches!(self, Outcome::Upgraded { .. })
    }
}

/// Seconds since the Unix epoch, with milliseconds.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The report of one meter's transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The meter.
    pub meter: String,
    /// When the transfer started (Unix seconds; RFC 3339 in JSON).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub started_at: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// Blocks the image needs.
    pub blocks_needed: u32,
    /// Block transfers sent (including resends).
    pub blocks_sent: u32,
    /// Passes over the image (the first, then the gap-filling ones).
    pub passes: u32,
    /// Requests repeated after a failure or a temporary-failure.
    pub retries: u32,
    /// Connections made after the first.
    pub reconnects: u32,
    /// When the first block was sent (Unix seconds; RFC 3339 in JSON).
    #[serde(serialize_with = "crate::rfc3339::serialize_option")]
    pub first_block_at: Option<f64>,
    /// When the last block was sent (Unix seconds; RFC 3339 in JSON).
    #[serde(serialize_with = "crate::rfc3339::serialize_option")]
    pub last_block_at: Option<f64>,
    /// How long the whole transfer took.
    #[serde(rename = "duration_seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// Every decision, in order.
    pub events: Vec<Event>,
    /// Every APDU exchanged, when the plan asked for a trace (times are per session).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<crate::session::TraceEntry>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
