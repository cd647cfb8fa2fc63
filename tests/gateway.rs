//! Gateway addressing: many meters behind one port, as behind a data concentrator, each at its
//! own wrapper wPort or HDLC physical address. The targets file the fleet writes upgrades every
//! one of them.

use emulator::scenario::Scenario;
use harness::campaign::{run, CampaignSettings};
use harness::transfer::Plan;
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_campaign_upgrades_every_meter_behind_one_wrapper_gateway_port() {
    let targets = gateway_campaign("wrapper", 4061).await;
    let wports: std::collections::BTreeSet<u16> = targets.iter().map(|t| t.server_wport).collect();
    assert_eq!(wports, (1..=40).collect());
}

#[tokio::test]
async fn a_campaign_upgrades_every_meter_behind_one_hdlc_gateway_port() {
    let targets = gateway_campaign("hdlc", 4062).await;
    let physical: std::collections::BTreeSet<Option<u16>> =
        targets.iter().map(|t| t.server_hdlc.lower).collect();
    assert_eq!(physical, (16..16 + 40).map(Some).collect());
}

/// Upgrades the 40 meters of a gateway with faults over `transport`; returns their targets.
async fn gateway_campaign(transport: &str, port: u16) -> Vec<harness::target::Target> {
    let scenario = Scenario::from_toml(
        &format!("name = \"gw\"\nseed = 3\nfirst_address = \"127.6.0.1\"\nport = {port}\naddressing = \"gateway\"\ntransport = \"{transport}\"\ntime_scale = 10.0\n[image]\npart = 1\nversion = \"APP-2.0.0\"\nsize = 4000\n[[population]]\nname = \"dc\"\ncount = 40\nprofile = {{ activation_reboot_ms = 2000, reboot_ms = 2000 }}\nfaults = {{ lose_block = 0.05, busy = 0.2, drop_reply = 0.1 }}\n"),
        "gateway test",
    )
    .unwrap();
    let vendor = SigningKey::from_slice(&[0x3A; 32]).unwrap();
    let fleet = emulator::fleet::start(&scenario, *vendor.verifying_key(), *vendor.verifying_key())
        .await
        .unwrap();
    let targets: Vec<harness::target::Target> =
        harness::target::file::parse(&fleet.targets_toml(), "targets", std::path::Path::new("."))
            .unwrap()
            .into_iter()
            .map(|m| m.main)
            .collect();
    assert_eq!(targets.len(), 40);
    assert!(targets
        .iter()
        .all(|t| t.address.to_string() == format!("127.6.0.1:{port}")));
    let expected_transport = match transport {
        "hdlc" => harness::target::Transport::Hdlc,
        _ => harness::target::Transport::Wrapper,
    };
    assert!(targets.iter().all(|t| t.transport == expected_transport));

    let payload: Vec<u8> = (0..4000u32).map(|i| (i % 241) as u8).collect();
    let image = dlms::image::build(&vendor, 1, b"APP-2.0.0", &payload).unwrap();
    let plan = Plan {
        poll_interval: Duration::from_millis(50),
        reconnect_deadline: Duration::from_secs(20),
        verify_deadline: Duration::from_secs(20),
        ..Plan::new(image, b"APP-2.0.0")
    };
    let targets: Vec<_> = targets
        .into_iter()
        .map(|mut t| {
            t.request_timeout = Duration::from_secs(1);
            t
        })
        .collect();
    let settings = CampaignSettings {
        concurrency: 20,
        passes: 3,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let report = run(targets.clone(), Arc::new(plan), &settings, |_| {}).await;
    let failed: Vec<String> = report
        .meters
        .iter()
        .filter(|m| !m.report.outcome.upgraded())
        .map(|m| format!("{}: {:?}", m.report.meter, m.report.outcome))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let upgraded = fleet
        .meters
        .iter()
        .filter(|m| {
            m.host.with_meter(|meter| {
                meter
                    .state()
                    .parts
                    .iter()
                    .any(|p| p.active.identifier == b"APP-2.0.0")
            })
        })
        .count();
    assert_eq!(
        upgraded, 40,
        "each meter behind the gateway holds the new image"
    );
    targets
}
