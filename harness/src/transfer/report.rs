//! What a transfer did: its outcome, its statistics, and every decision as an event.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The steps of the image transfer process as the driver runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// The milestones of a meter's upgrade whose times a campaign report gives, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Associated (the first time).
    Connect,
    /// The transfer initiated, or found under way and resumed.
    Initiate,
    /// The first block sent.
    FirstBlock,
    /// The last block sent.
    LastBlock,
    /// The image verified (status 3).
    Verify,
    /// Activation invoked, or scheduled.
    Activate,
    /// The new firmware confirmed.
    Confirm,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 7] = [
        Phase::Connect,
        Phase::Initiate,
        Phase::FirstBlock,
        Phase::LastBlock,
        Phase::Verify,
        Phase::Activate,
        Phase::Confirm,
    ];

    /// The phase's name, as reports write it.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Initiate => "initiate",
            Phase::FirstBlock => "first-block",
            Phase::LastBlock => "last-block",
            Phase::Verify => "verify",
            Phase::Activate => "activate",
            Phase::Confirm => "confirm",
        }
    }
}

/// One decision of the driver.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Event {
    /// Milliseconds since the transfer started.
    pub at_ms: u64,
    /// The step.
    pub step: Step,
    /// What was seen and decided.
    pub message: String,
}

/// How success was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    /// The meter.
    pub meter: String,
    /// The version the transfer brings (the part's identifier once active).
    pub version: String,
    /// When the transfer started (Unix seconds; RFC 3339 in JSON).
    #[serde(
        serialize_with = "crate::rfc3339::serialize",
        deserialize_with = "crate::rfc3339::deserialize"
    )]
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
    /// When each phase was reached (Unix seconds; RFC 3339 in JSON), the first time for
    /// connect and initiate, the last for the others.
    #[serde(
        serialize_with = "crate::rfc3339::serialize_map",
        deserialize_with = "crate::rfc3339::deserialize_map"
    )]
    pub phases: std::collections::BTreeMap<Phase, f64>,
    /// The meter's attribute 3 as last read (block 0 first), while blocks were missing or
    /// once all were in; none where the meter gives only attribute 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitmap: Option<String>,
    /// How long the whole transfer took.
    #[serde(
        rename = "duration_seconds",
        serialize_with = "seconds",
        deserialize_with = "read_seconds"
    )]
    pub duration: Duration,
    /// Every decision, in order.
    pub events: Vec<Event>,
    /// Every APDU exchanged, when the plan asked for a trace (times are per session).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<crate::session::TraceEntry>,
}

impl Report {
    /// The report of a meter that ended with `outcome` in an earlier run of the campaign
    /// (read from its journal); nothing was sent to it in this one.
    pub fn carried(meter: &str, version: &[u8], outcome: Outcome) -> Report {
        let mut report = Report::starting(meter, version);
        report.outcome = outcome;
        report.events.push(Event {
            at_ms: 0,
            step: Step::Connect,
            message: "ended in an earlier run of this campaign (its journal says so)".into(),
        });
        report
    }

    /// The report of a transfer of `version` to `meter` starting now: nothing done yet.
    pub fn starting(meter: &str, version: &[u8]) -> Report {
        Report {
            meter: meter.to_string(),
            version: String::from_utf8_lossy(version).into_owned(),
            started_at: unix_seconds(SystemTime::now()),
            outcome: Outcome::ReadyForActivation,
            blocks_needed: 0,
            blocks_sent: 0,
            passes: 0,
            retries: 0,
            reconnects: 0,
            phases: Default::default(),
            bitmap: None,
            duration: Duration::ZERO,
            events: Vec::new(),
            trace: Vec::new(),
        }
    }

    /// When the first block was sent (Unix seconds).
    pub fn first_block_at(&self) -> Option<f64> {
        self.phases.get(&Phase::FirstBlock).copied()
    }

    /// When the last block was sent (Unix seconds).
    pub fn last_block_at(&self) -> Option<f64> {
        self.phases.get(&Phase::LastBlock).copied()
    }

    /// Records that `phase` was reached now: the first time for connect, initiate and the
    /// first block, the latest for the others.
    pub fn reached(&mut self, phase: Phase) {
        let first_only = matches!(phase, Phase::Connect | Phase::Initiate | Phase::FirstBlock);
        if first_only && self.phases.contains_key(&phase) {
            return;
        }
        self.phases.insert(phase, unix_seconds(SystemTime::now()));
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn read_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = <f64 as serde::Deserialize>::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}
