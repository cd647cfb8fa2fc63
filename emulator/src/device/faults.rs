//! Faults a meter injects into its own behaviour, the way field meters fail an upgrade. Each
//! fires at a definite point, so a test (or a seeded fleet plan) replays exactly.

use serde::Deserialize;
use std::collections::BTreeSet;

/// The faults of one meter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Blocks the meter acknowledges (success) without storing, once each: the head-end must
    /// find them missing in attribute 3 or 4 and send them again (OSGP-SIM
    /// `transferFailureChance`, docs/protocol.md#vendor-deviations).
    pub lose_blocks: BTreeSet<u32>,
    /// The meter loses power when this block arrives: no reply, the block is not stored, the
    /// connection drops and the meter reboots (once).
    pub reboot_at_block: Option<u32>,
    /// Activation reboots the meter before it replies (GX-WEB: "Meters usually reboot after
    /// this action is executed and don't reply anymore").
    pub silent_activation: bool,
    /// The connection is cut (no reply) at this request count since power-up (once).
    pub cut_connection_at_request: Option<u32>,
    /// The meter loses power at this request (once): a reboot at a random time, not tied to
    /// the transfer.
    pub reboot_at_request: Option<u32>,
    /// The meter carries out this request but its reply is lost (once).
    pub drop_reply_at_request: Option<u32>,
    /// For a while the meter answers every GET, SET and ACTION with one result without
    /// carrying it out (temporary-failure or hardware-fault, as busy meters do).
    pub busy: Option<BusySpell>,
    /// The first this many initiates fail with other-reason: storage full.
    pub storage_full_initiates: u32,
    /// The meter's clock is off by this many milliseconds at power-up.
    pub clock_drift_ms: i64,
}

/// A run of requests a busy meter answers with one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusySpell {
    /// The first request answered so.
    pub from_request: u32,
    /// How many requests.
    pub requests: u32,
    /// The result: 2 temporary-failure or 1 hardware-fault.
    pub result: u8,
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
    /// Carry the request out but send no reply.
    DropReply,
    /// Answer with this result without carrying the request out.
    Busy(u8),
}

/// Takes `slot` if it holds `n`.
fn fire(slot: &mut Option<u32>, n: u32) -> bool {
    let due = *slot == Some(n);
    if due {
        *slot = None;
    }
    due
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

    /// Counts a request; what, if anything, happens to it.
    pub fn on_request(&mut self) -> Option<Injection> {
        self.requests += 1;
        let n = self.requests;
        if fire(&mut self.plan.cut_connection_at_request, n) {
            return Some(Injection::CutConnection);
        }
        if fire(&mut self.plan.reboot_at_request, n) {
            return Some(Injection::PowerCut);
        }
        if fire(&mut self.plan.drop_reply_at_request, n) {
            return Some(Injection::DropReply);
        }
        self.plan
            .busy
            .filter(|b| n >= b.from_request && n - b.from_request < b.requests)
            .map(|b| Injection::Busy(b.result))
    }

    /// True if this initiate finds the storage full.
    pub fn on_initiate(&mut self) -> bool {
        let full = self.plan.storage_full_initiates > 0;
        self.plan.storage_full_initiates = self.plan.storage_full_initiates.saturating_sub(1);
        full
    }

    /// Adds faults now (from the control endpoint): the plan's set fields replace ours, and
    /// request numbers count from the current request.
    pub fn inject(&mut self, more: Faults) {
        let from_now = |n: Option<u32>| n.map(|n| self.requests + n);
        self.plan.lose_blocks.extend(more.lose_blocks);
        self.plan.reboot_at_block = more.reboot_at_block.or(self.plan.reboot_at_block);
        self.plan.silent_activation |= more.silent_activation;
        self.plan.cut_connection_at_request =
            from_now(more.cut_connection_at_request).or(self.plan.cut_connection_at_request);
        self.plan.reboot_at_request =
            from_now(more.reboot_at_request).or(self.plan.reboot_at_request);
        self.plan.drop_reply_at_request =
            from_now(more.drop_reply_at_request).or(self.plan.drop_reply_at_request);
        if let Some(mut busy) = more.busy {
            busy.from_request += self.requests;
            self.plan.busy = Some(busy);
        }
        self.plan.storage_full_initiates += more.storage_full_initiates;
    }

    /// The faults still to fire.
    pub fn pending(&self) -> &Faults {
        &self.plan
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
