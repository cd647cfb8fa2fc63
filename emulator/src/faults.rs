//! Faults a meter injects into its own behaviour, the way field meters fail an upgrade. Each
//! fires at a definite point, so a test (or a seeded fleet plan) replays exactly.

use serde::Deserialize;
use std::collections::BTreeSet;

/// The faults of one meter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Blocks the meter acknowledges (success) without storing, once each: the head-end must
    /// find them missing in attribute 3 or 4 and send them again (OSGP-SIM
    /// `transferFailureChance`, protocol-notes §8.3 item 13).
    pub lose_blocks: BTreeSet<u32>,
    /// The meter loses power when this block arrives: no reply, the block is not stored, the
    /// connection drops and the meter reboots (once).
    pub reboot_at_block: Option<u32>,
    /// Activation reboots the meter before it replies (GX-WEB: "Meters usually reboot after
    /// this action is executed and don't reply anymore").
    pub silent_activation: bool,
    /// The connection is cut (no reply) at this request count since power-up (once).
    pub cut_connection_at_request: Option<u32>,
}

/// What a fault makes of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// Answer success without storing the block.
    LoseBlock,
    /// Lose power now.
    PowerCut,
    /// Drop the connection now.
    CutConnection,
}

/// The faults still to fire.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    plan: Faults,
    requests: u32,
}

impl FaultState {
    /// The faults of `plan`, none fired yet.
    pub fn new(plan: Faults) -> Self {
        FaultState { plan, requests: 0 }
    }

    /// Counts a request; `Some` if the connection is to be cut at it.
    pub fn on_request(&mut self) -> Option<Injection> {
        self.requests += 1;
        if self.plan.cut_connection_at_request == Some(self.requests) {
            self.plan.cut_connection_at_request = None;
            return Some(Injection::CutConnection);
        }
        None
    }

    /// What happens to block `n`.
    pub fn on_block(&mut self, n: u32) -> Option<Injection> {
        if self.plan.reboot_at_block == Some(n) {
            self.plan.reboot_at_block = None;
            return Some(Injection::PowerCut);
        }
        self.plan
            .lose_blocks
            .remove(&n)
            .then_some(Injection::LoseBlock)
    }

    /// True if activation reboots without a reply.
    pub fn silent_activation(&self) -> bool {
        self.plan.silent_activation
    }
}
