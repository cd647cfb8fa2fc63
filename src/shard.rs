//! Shards: one fleet, campaign or conformance run split over processes, each taking a fixed
//! slice of the meters by index (`--shard-index I --shard-count N`, or the orchestrator's own
//! index: an Indexed Job's `JOB_COMPLETION_INDEX`, a StatefulSet pod's ordinal at the end of
//! its host name). Every meter's faults derive from the fleet seed and its index, so a shard
//! started again serves the same meters.

use std::ops::Range;

/// The shard flags.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct ShardArgs {
    /// This process's shard, from 0 (default, with --shard-count: an Indexed Job's
    /// JOB_COMPLETION_INDEX, else the ordinal a StatefulSet pod's host name ends with).
    #[arg(long, value_name = "I", requires = "shard_count")]
    #[serde(default)]
    pub shard_index: Option<u32>,
    /// How many shards share the meters, each a contiguous slice of them by index.
    #[arg(long, value_name = "N", env = "METERFLEET_SHARD_COUNT", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    #[serde(default)]
    pub shard_count: Option<u32>,
}

/// One shard of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: u32,
    /// How many.
    pub count: u32,
}

impl ShardArgs {
    /// The shard this process is, if the work is sharded.
    pub fn resolve(&self) -> Result<Option<Shard>, String> {
        let Some(count) = self.shard_count else {
            return Ok(None);
        };
        let index = match self.shard_index {
            Some(i) => i,
            None => orchestrator_index(
                std::env::var("JOB_COMPLETION_INDEX").ok().as_deref(),
                host_name().as_deref(),
            )
            .ok_or(
                "--shard-count without --shard-index needs the orchestrator's index: JOB_COMPLETION_INDEX (an Indexed Job) or a host name ending in -N (a StatefulSet pod)",
            )?,
        };
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the shard count {count}"
            ));
        }
        Ok(Some(Shard { index, count }))
    }
}

/// The index an orchestrator gives: an Indexed Job's completion index, else the ordinal at the
/// end of a StatefulSet pod's host name (`fleet-3`).
fn orchestrator_index(completion_index: Option<&str>, host: Option<&str>) -> Option<u32> {
    if let Some(i) = completion_index.and_then(|i| i.trim().parse().ok()) {
        return Some(i);
    }
    host?.trim().rsplit_once('-')?.1.parse().ok()
}

/// This machine's host name: `HOSTNAME`, else /etc/hostname.
fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
}

impl Shard {
    /// The indices of this shard's meters among `total`: a contiguous slice, the first
    /// `total % count` shards one meter longer.
    pub fn range(&self, total: usize) -> Range<usize> {
        let (count, index) = (self.count as usize, self.index as usize);
        let (base, extra) = (total / count, total % count);
        let start = index * base + index.min(extra);
        start..start + base + usize::from(index < extra)
    }

    /// This shard's items of `all`, in order.
    pub fn take<T>(&self, all: Vec<T>) -> Vec<T> {
        let range = self.range(all.len());
        all.into_iter()
            .skip(range.start)
            .take(range.len())
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} of {}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_meter_once_in_order() {
        for total in [0usize, 1, 7, 10, 1001] {
            for count in 1..=5u32 {
                let taken: Vec<usize> = (0..count)
                    .flat_map(|index| Shard { index, count }.take((0..total).collect()))
                    .collect();
                assert_eq!(
                    taken,
                    (0..total).collect::<Vec<_>>(),
                    "{total} over {count}"
                );
            }
        }
        assert_eq!(Shard { index: 1, count: 3 }.range(10), 4..7);
    }

    #[test]
    fn the_orchestrator_names_the_index() {
        assert_eq!(orchestrator_index(Some("2"), Some("fleet-7")), Some(2));
        assert_eq!(
            orchestrator_index(None, Some("meterfleet-fleet-7\n")),
            Some(7)
        );
        assert_eq!(orchestrator_index(None, Some("bench")), None);
        assert_eq!(orchestrator_index(None, None), None);
    }

    #[test]
    fn an_index_past_the_count_is_refused() {
        let args = ShardArgs {
            shard_index: Some(4),
            shard_count: Some(4),
        };
        assert!(args.resolve().unwrap_err().contains("not below"));
    }
}
