//! `meterfleet bench group`: a scenario's group campaign beside a unicast campaign over the
//! same fleet and seed (a fresh fleet each, in this process), as the ratios an operator weighs:
//! blocks sent and wall time.

use crate::scenario_campaign;
use emulator::scenario::{Delivery, Scenario};
use harness::campaign::{CampaignReport, CampaignSettings};
use std::time::Instant;

/// One campaign's side of the comparison.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Side {
    /// Meters upgraded.
    pub upgraded: usize,
    /// Block transfers sent: group transmissions and every point-to-point block.
    pub blocks_sent: u64,
    /// What a unicast campaign must deliver: every meter's blocks once.
    pub blocks_needed: u64,
    /// From the fleet's start to the campaign's end, in seconds.
    pub wall_seconds: f64,
}

impl Side {
    fn of(report: &CampaignReport, wall_seconds: f64) -> Self {
        Side {
            upgraded: report.summary.succeeded,
            blocks_sent: report.summary.blocks_sent,
            blocks_needed: report.summary.blocks_needed,
            wall_seconds,
        }
    }
}

/// The two campaigns over the same fleet and seed.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Comparison {
    /// The scenario's group campaign.
    pub group: Side,
    /// The same fleet upgraded point-to-point, confirmed.
    pub unicast: Side,
}

impl Comparison {
    /// The comparison for a terminal.
    pub fn render(&self) -> String {
        let (g, u) = (self.group, self.unicast);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        format!(
            "{:<22} {:>12} {:>12} {:>10}\n{:<22} {:>12} {:>12} {:>10.4}\n{:<22} {:>12.1} {:>12.1} {:>10.3}\n{:<22} {:>12} {:>12}\n{:<22} {:>12} {:>12}\n",
            "",
            "group",
            "unicast",
            "ratio",
            "blocks sent",
            g.blocks_sent,
            u.blocks_sent,
            ratio(g.blocks_sent as f64, u.blocks_sent as f64),
            "wall time (s)",
            g.wall_seconds,
            u.wall_seconds,
            ratio(g.wall_seconds, u.wall_seconds),
            "blocks needed",
            g.blocks_needed,
            u.blocks_needed,
            "meters upgraded",
            g.upgraded,
            u.upgraded,
        )
    }
}

/// Runs `scenario`'s campaign with group delivery, then with unicast, each over a fresh fleet
/// of the same seed; `concurrency` meters at once in each.
pub async fn compare(scenario: &Scenario, concurrency: usize) -> Result<Comparison, String> {
    scenario_campaign::prepare(scenario)?;
    let settings = CampaignSettings {
        concurrency,
        passes: 3,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let mut grouped = scenario.clone();
    grouped.campaign.delivery = Delivery::Group;
    let mut unicast = scenario.clone();
    unicast.campaign.delivery = Delivery::Unicast;
    let mut sides = Vec::new();
    for s in [grouped, unicast] {
        let started = Instant::now();
        let (report, _) = scenario_campaign::run(&s, &settings, |_| {}).await?;
        sides.push(Side::of(&report, started.elapsed().as_secs_f64()));
        // The fleet's sockets close as its tasks end: give them a moment before the next
        // fleet binds the same addresses.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    Ok(Comparison {
        group: sides[0],
        unicast: sides[1],
    })
}
