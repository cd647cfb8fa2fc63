//! Link faults, as smoltcp's fault injector wraps a device: each frame the meter sends may be
//! lost, duplicated, corrupted or held back behind the next one (reordered); connections may
//! be refused; and a connection may go half-open, the meter reading but never answering nor
//! closing. Every draw comes from the meter's own seeded generator, so a run replays.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// The link faults of one meter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkFaults {
    /// Per frame sent: the frame is lost.
    pub loss: f64,
    /// Per frame sent: the frame goes out twice.
    pub duplicate: f64,
    /// Per frame sent: one byte of it is flipped.
    pub corrupt: f64,
    /// Per frame sent: the frame is held back and goes out after the next one.
    pub reorder: f64,
    /// The first this many connections are reset as soon as they are accepted.
    pub refuse_connections: u32,
    /// At this request the connection goes half-open: nothing is answered on it any more and
    /// it is never closed by the meter (once).
    pub half_open_at_request: Option<u32>,
    /// Per group frame (multicast or broadcast) reaching the meter: lost on the way, as the
    /// PLC or RF segment behind a concentrator loses it; unicast retries never see it.
    pub group_loss: f64,
    /// The generator's seed.
    pub seed: u64,
}

impl LinkFaults {
    /// True when the plan can inject nothing (its seed aside).
    pub fn is_clean(&self) -> bool {
        *self
            == LinkFaults {
                seed: self.seed,
                ..LinkFaults::default()
            }
    }
}

/// Counts of what was injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkFaultStats {
    /// Frames lost.
    pub lost: u64,
    /// Frames sent twice.
    pub duplicated: u64,
    /// Frames corrupted.
    pub corrupted: u64,
    /// Frames reordered.
    pub reordered: u64,
    /// Connections refused.
    pub refused: u64,
    /// Connections left half-open.
    pub half_open: u64,
    /// Group frames lost on the way to the meter.
    pub group_lost: u64,
}

/// Mixed into the seed of the group path's generator.
const GROUP_STREAM: u64 = 0x6752_4F55_5020_5041;

/// The link faults still to fire, with their generator.
#[derive(Debug, Clone)]
pub struct LinkFaultState {
    plan: LinkFaults,
    rng: ChaCha8Rng,
    /// The group path's own generator, so that group traffic leaves the unicast draws as
    /// they were.
    group_rng: ChaCha8Rng,
    requests: u32,
    held: Option<Vec<u8>>,
    /// What was injected so far.
    pub stats: LinkFaultStats,
}

impl LinkFaultState {
    /// The faults of `plan`, none fired yet.
    pub fn new(plan: LinkFaults) -> Self {
        LinkFaultState {
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            group_rng: ChaCha8Rng::seed_from_u64(plan.seed ^ GROUP_STREAM),
            plan,
            requests: 0,
            held: None,
            stats: LinkFaultStats::default(),
        }
    }

    /// A connection arrives: true if it is to be refused.
    pub fn refuse(&mut self) -> bool {
        let refuse = self.plan.refuse_connections > 0;
        if refuse {
            self.plan.refuse_connections -= 1;
            self.stats.refused += 1;
        }
        refuse
    }

    /// A group frame arrives: true if it is lost on the group path.
    pub fn group_frame_lost(&mut self) -> bool {
        let lost = self.plan.group_loss > 0.0 && self.group_rng.gen_bool(self.plan.group_loss);
        self.stats.group_lost += u64::from(lost);
        lost
    }

    /// A new connection reaches the meter: a frame held back on an earlier one is gone with it
    /// (TCP does not carry bytes across connections).
    pub fn connection_opened(&mut self) {
        self.held = None;
    }

    /// A request arrives: true if its connection goes half-open now.
    pub fn goes_half_open(&mut self) -> bool {
        self.requests += 1;
        let due = self.plan.half_open_at_request == Some(self.requests);
        if due {
            self.plan.half_open_at_request = None;
            self.stats.half_open += 1;
        }
        due
    }

    /// The frames to write for `frame`, in order. Bytes before `keep` (a header whose damage
    /// would only end the connection) are never corrupted.
    pub fn outgoing(&mut self, mut frame: Vec<u8>, keep: usize) -> Vec<Vec<u8>> {
        let p = &self.plan;
        let (loss, duplicate, corrupt, reorder) = (p.loss, p.duplicate, p.corrupt, p.reorder);
        let draw: f64 = self.rng.gen();
        let mut out = Vec::with_capacity(3);
        if draw < loss {
            self.stats.lost += 1;
        } else if draw < loss + corrupt && frame.len() > keep {
            let at = self.rng.gen_range(keep..frame.len());
            frame[at] ^= 1 << self.rng.gen_range(0..8);
            self.stats.corrupted += 1;
            out.push(frame);
        } else if draw < loss + corrupt + duplicate {
            self.stats.duplicated += 1;
            out.push(frame.clone());
            out.push(frame);
        } else if draw < loss + corrupt + duplicate + reorder && self.held.is_none() {
            self.stats.reordered += 1;
            self.held = Some(frame);
            return out;
        } else {
            out.push(frame);
        }
        out.extend(self.held.take());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_clean_only_when_it_can_inject_nothing() {
        assert!(LinkFaults::default().is_clean());
        let seeded = LinkFaults {
            seed: 7,
            ..LinkFaults::default()
        };
        assert!(seeded.is_clean(), "a seed alone injects nothing");
        for faulty in [
            LinkFaults {
                loss: 0.1,
                ..seeded.clone()
            },
            LinkFaults {
                half_open_at_request: Some(3),
                ..seeded.clone()
            },
            LinkFaults {
                refuse_connections: 1,
                ..seeded.clone()
            },
            LinkFaults {
                group_loss: 0.5,
                ..seeded.clone()
            },
        ] {
            assert!(!faulty.is_clean(), "{faulty:?}");
        }
    }

    fn run(plan: LinkFaults, frames: u32) -> (Vec<Vec<u8>>, LinkFaultStats) {
        let mut state = LinkFaultState::new(plan);
        let mut sent = Vec::new();
        for i in 0..frames {
            sent.extend(state.outgoing(vec![0xAA, 0xBB, i as u8, (i >> 8) as u8], 2));
        }
        (sent, state.stats)
    }

    #[test]
    fn the_same_seed_gives_the_same_frames() {
        let plan = LinkFaults {
            loss: 0.1,
            duplicate: 0.1,
            corrupt: 0.1,
            reorder: 0.1,
            seed: 9,
            ..LinkFaults::default()
        };
        assert_eq!(run(plan.clone(), 500), run(plan.clone(), 500));
        let other = LinkFaults {
            seed: 10,
            ..plan.clone()
        };
        assert_ne!(run(plan, 500).0, run(other, 500).0);
    }

    #[test]
    fn each_fault_shows_in_the_frames_sent() {
        let only = |f: fn(&mut LinkFaults)| {
            let mut plan = LinkFaults {
                seed: 1,
                ..LinkFaults::default()
            };
            f(&mut plan);
            run(plan, 400)
        };
        let (sent, stats) = only(|p| p.loss = 0.2);
        assert_eq!(sent.len() as u64, 400 - stats.lost);
        assert!(stats.lost > 40);
        let (sent, stats) = only(|p| p.duplicate = 0.2);
        assert_eq!(sent.len() as u64, 400 + stats.duplicated);
        let (sent, stats) = only(|p| p.corrupt = 0.2);
        let damaged = sent
            .iter()
            .enumerate()
            .filter(|(i, f)| f[2..] != [*i as u8, (*i >> 8) as u8])
            .count();
        assert_eq!(damaged as u64, stats.corrupted);
        assert!(sent.iter().all(|f| f[..2] == [0xAA, 0xBB]), "headers kept");
        let (sent, stats) = only(|p| p.reorder = 0.2);
        let out_of_order = sent.windows(2).filter(|w| w[0][2] > w[1][2]).count();
        assert!(stats.reordered > 0 && out_of_order as u64 >= stats.reordered - 1);
    }

    #[test]
    fn a_held_frame_does_not_cross_into_a_new_connection() {
        let mut state = LinkFaultState::new(LinkFaults {
            reorder: 1.0,
            ..LinkFaults::default()
        });
        assert!(state.outgoing(vec![1], 0).is_empty(), "held back");
        state.connection_opened();
        assert!(
            state.outgoing(vec![2], 0).is_empty(),
            "the next one is held in turn"
        );
        state.plan.reorder = 0.0;
        assert_eq!(
            state.outgoing(vec![3], 0),
            vec![vec![3], vec![2]],
            "frame 1 is gone"
        );
    }

    #[test]
    fn refusals_and_half_open_fire_once_each() {
        let mut state = LinkFaultState::new(LinkFaults {
            refuse_connections: 2,
            half_open_at_request: Some(3),
            ..LinkFaults::default()
        });
        assert_eq!(
            (state.refuse(), state.refuse(), state.refuse()),
            (true, true, false)
        );
        let half: Vec<bool> = (0..5).map(|_| state.goes_half_open()).collect();
        assert_eq!(half, [false, false, true, false, false]);
    }
}
