//! The flags of `upgrade` for group delivery (multicast, or all stations behind a gateway).

use harness::campaign::group::{GroupDelivery, GroupKeys};
use std::time::Duration;

/// How blocks go to groups of meters.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct GroupArgs {
    /// Deliver the blocks to groups: each meter's multicast group (`multicast` in the targets
    /// file), else all stations behind its gateway; each block once per cycle, unicast rounds
    /// repairing what the group path lost, then verification and activation per meter.
    #[arg(long, conflicts_with = "unconfirmed_blocks")]
    #[serde(default)]
    group: bool,
    /// With --group: group cycles at most before the rest goes point-to-point.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    #[serde(default = "two")]
    group_cycles: u32,
    /// With --group: blocks pushed between unicast repair rounds (0: a round after each cycle
    /// only).
    #[arg(long, value_name = "N", default_value_t = 100)]
    #[serde(default = "hundred")]
    group_repair_every: u32,
    /// With --group: milliseconds between two group transmissions (the pacing the path needs).
    #[arg(long, value_name = "MS", default_value_t = 2)]
    #[serde(default = "two_ms")]
    group_interval_ms: u64,
    /// With --group: a block that this many meters or more lack goes to the group again; fewer
    /// get it point-to-point.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(default = "two")]
    group_regroup_at: u32,
    /// With --group: send group APDUs plain, not under the broadcast key set (for meters
    /// whose profile takes them so).
    #[arg(long)]
    #[serde(default)]
    group_plain: bool,
}

impl Default for GroupArgs {
    /// No group delivery; the flags' defaults otherwise.
    fn default() -> Self {
        GroupArgs {
            group: false,
            group_cycles: two(),
            group_repair_every: hundred(),
            group_interval_ms: two_ms(),
            group_regroup_at: two(),
            group_plain: false,
        }
    }
}

fn two() -> u32 {
    2
}
fn hundred() -> u32 {
    100
}
fn two_ms() -> u64 {
    2
}

impl GroupArgs {
    /// The group delivery the flags ask for, if any.
    pub fn delivery(&self) -> Option<GroupDelivery> {
        self.group.then(|| GroupDelivery {
            cycles: self.group_cycles,
            repair_every: self.group_repair_every,
            interval: Duration::from_millis(self.group_interval_ms),
            regroup_at: self.group_regroup_at,
            keys: (!self.group_plain).then(GroupKeys::default),
            ..GroupDelivery::default()
        })
    }
}
