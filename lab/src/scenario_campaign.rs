//! A campaign over a scenario's fleet in this process: the fleet started on its loopback
//! addresses, an image signed with the scenario's vendor key, the harness's campaign over every
//! meter, and the campaign report with the scenario, the doomed meters and the bitmaps of the
//! meters still incomplete after each pass (read from the emulated meters' memory), and the
//! judge's verdict on the harness as the fleet saw it.

use crate::keys;
use emulator::fleet::{self, Fleet};
use emulator::meter::MeterKeys;
use emulator::profile::{GroupAddressing, GroupSecurity, MeterProfile};
use emulator::scenario::{Delivery, Scenario};
use harness::campaign::group::GroupDelivery;
use harness::campaign::{self, CampaignReport, CampaignSettings, ScenarioInfo};
use harness::target::{GroupAccess, GroupKeys, Target};
use harness::transfer::{BlockService, Plan};
use rand::{RngCore, SeedableRng};
use std::sync::Arc;
use std::time::Duration;

/// The campaign targets of an in-process fleet, one per meter.
pub fn fleet_targets(fleet: &Fleet) -> Vec<Target> {
    fleet
        .meters
        .iter()
        .map(|m| {
            let mut t = Target::new(m.plan.address, fleet.transport);
            t.name = m.plan.name.clone();
            t.server_wport = m.plan.wport;
            t.server_hdlc = dlms::hdlc::HdlcAddress::server(1, m.plan.physical_address);
            t.multicast = m.plan.multicast;
            t.group = group_access(&m.plan.profile);
            t.request_timeout = Duration::from_secs(5);
            // The management client: the public client only reads.
            if let Some(c) = m.plan.profile.management_client() {
                t.client_sap = c.sap;
                t.auth =
                    harness::target::Auth::Lls(c.password.clone().unwrap_or_default().into_bytes());
            }
            t
        })
        .collect()
}

/// The transfer plan of an in-process campaign: quick polling, a minute for verification and
/// for a meter to come back.
pub fn fleet_plan(image: Vec<u8>, version: &[u8], part: u8) -> Plan {
    Plan {
        part,
        poll_interval: Duration::from_millis(100),
        verify_deadline: Duration::from_secs(60),
        reconnect_deadline: Duration::from_secs(60),
        ..Plan::new(image, version)
    }
}

/// How group requests reach an emulated meter of `profile`, as its targets file says.
pub fn group_access(profile: &MeterProfile) -> Option<GroupAccess> {
    let group = profile.group;
    let keys = MeterKeys::default();
    (group.addressing != GroupAddressing::None).then(|| GroupAccess {
        client: group.client,
        keys: (group.security == GroupSecurity::BroadcastKey).then(|| GroupKeys {
            broadcast: keys.broadcast_key,
            authentication: keys.keys.authentication,
            ..GroupKeys::default()
        }),
        multicast_only: group.addressing == GroupAddressing::MulticastOnly,
    })
}

/// The group delivery a scenario's campaign asks for, if it asks for one.
pub fn group_delivery(scenario: &Scenario) -> Option<GroupDelivery> {
    let c = scenario.campaign;
    (c.delivery == Delivery::Group).then(|| GroupDelivery {
        cycles: c.cycles,
        repair_every: c.repair_every,
        interval: Duration::from_millis(c.interval_ms),
        regroup_at: c.regroup_at,
        ..GroupDelivery::default()
    })
}

/// The image a scenario describes, with a payload from `seed`, signed by the vendor key.
pub fn scenario_image(scenario: &Scenario, version: &[u8], seed: u64) -> Result<Vec<u8>, String> {
    let mut payload = vec![0u8; scenario.image.size as usize];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut payload);
    dlms::image::build(
        &keys::vendor(scenario.seed),
        scenario.image.part,
        version,
        &payload,
    )
    .ok_or_else(|| "the scenario's image part or version is out of range".to_string())
}

/// The scenario's releases (`[[release]]`), each built with its prerequisites and signed by
/// the vendor key, with a payload from the seed: `(version, image)`.
pub fn release_images(scenario: &Scenario) -> Result<Vec<(String, Vec<u8>)>, String> {
    scenario
        .release
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut payload = vec![0u8; r.size as usize];
            rand_chacha::ChaCha8Rng::seed_from_u64(scenario.seed + 1 + i as u64)
                .fill_bytes(&mut payload);
            let needs: Vec<(u8, &[u8])> = r
                .requires
                .iter()
                .filter_map(|(p, v)| Some((p.parse().ok()?, v.as_bytes())))
                .collect();
            let image = dlms::image::build_with_prerequisites(
                &keys::vendor(scenario.seed),
                r.part,
                r.version.as_bytes(),
                &needs,
                &payload,
            )
            .ok_or_else(|| format!("release {}: out of range", r.version))?;
            Ok((r.version.clone(), image))
        })
        .collect()
}

/// Checks the open-file limit a fleet of the scenario needs, raising it where allowed.
pub fn prepare(scenario: &Scenario) -> Result<(), String> {
    fleet::ensure_open_files(fleet::files_needed(scenario.meter_count() as usize, true)).map(drop)
}

/// Starts the scenario's fleet, upgrades it, and returns the report; `progress` is called with
/// where the campaign stands as meters finish.
pub async fn run(
    scenario: &Scenario,
    settings: &CampaignSettings,
    progress: impl Fn(campaign::Progress) + Send + Sync + 'static,
) -> Result<(CampaignReport, emulator::judge::Report), String> {
    let version = scenario.image.version.as_bytes();
    let image = scenario_image(scenario, version, scenario.seed)?;
    let image_size_bytes = image.len();
    let fleet = start(scenario).await?;
    let targets = fleet_targets(&fleet);
    let mut plan = fleet_plan(image, version, scenario.image.part);
    if let Some(delivery) = group_delivery(scenario) {
        plan.block_service = BlockService::Group(delivery);
    }
    let report = campaign::run(targets, Arc::new(plan), settings, progress).await;
    Ok(described(report, scenario, &fleet, image_size_bytes))
}

/// Starts the scenario's fleet, and runs the campaign plan at `plan` over it (its images
/// files beside it, as [`release_images`] builds them); `progress` is called as meters finish.
pub async fn run_plan(
    scenario: &Scenario,
    plan: &std::path::Path,
    concurrency: usize,
    progress: impl Fn(campaign::Progress) + Send + Sync + 'static,
) -> Result<(CampaignReport, emulator::judge::Report), String> {
    let base = fleet_plan(Vec::new(), b"", scenario.image.part);
    let plan = campaign::plan::CampaignPlan::load(plan, &base).map_err(|e| e.to_string())?;
    let fleet = start(scenario).await?;
    let targets: Vec<campaign::waves::PlanTarget> = fleet_targets(&fleet)
        .into_iter()
        .zip(&fleet.meters)
        .map(|(target, m)| campaign::waves::PlanTarget {
            target,
            labels: m.plan.labels.clone(),
        })
        .collect();
    let journalled = campaign::Journalled {
        journal: None,
        standing: Default::default(),
    };
    let report = campaign::waves::run_plan(
        &targets,
        &plan,
        concurrency,
        &journalled,
        Arc::new(progress),
    )
    .await;
    let size = plan.steps.last().map_or(0, |s| s.plan.image.len());
    Ok(described(report, scenario, &fleet, size))
}

async fn start(scenario: &Scenario) -> Result<Fleet, String> {
    fleet::start(
        scenario,
        *keys::vendor(scenario.seed).verifying_key(),
        *keys::stranger(scenario.seed).verifying_key(),
    )
    .await
}

/// `report` with the fleet it ran over (each meter's line saying whether the scenario doomed
/// it), and the judge's verdict on the harness.
fn described(
    mut report: CampaignReport,
    scenario: &Scenario,
    fleet: &Fleet,
    image_size_bytes: usize,
) -> (CampaignReport, emulator::judge::Report) {
    let doomed: std::collections::HashMap<&str, bool> = fleet
        .meters
        .iter()
        .map(|m| (m.plan.name.as_str(), m.plan.doomed()))
        .collect();
    for line in report.meters.iter_mut() {
        line.doomed = doomed.get(line.report.meter.as_str()).copied();
    }
    report.scenario = Some(ScenarioInfo {
        name: scenario.name.clone(),
        seed: scenario.seed,
        meters: fleet.meters.len(),
        doomed: fleet.doomed(),
        image_version: scenario.image.version.clone(),
        image_size_bytes,
    });
    (report, fleet.judge_report())
}
