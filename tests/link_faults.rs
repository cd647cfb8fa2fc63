//! Link faults on the wire, each with the emulated meter over TCP: frames lost, duplicated,
//! corrupted and reordered, connections refused and half-open. Each fault must show on the
//! wire, and the head-end's driver must still upgrade the meter (corruption aside, which the
//! wrapper cannot detect: it is checked over HDLC, whose FCS catches it).

mod common;

use dlms::image;
use emulator::meter::{Meter, MeterConfig};
use emulator::net::host::MeterHost;
use emulator::net::link_faults::{LinkFaultStats, LinkFaults};
use emulator::net::serve::serve;
use emulator::profile::MeterProfile;
use harness::target::{Target, Transport};
use harness::transfer::{Driver, Plan};
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use std::time::Duration;

fn vendor() -> SigningKey {
    SigningKey::from_slice(&[0x6D; 32]).unwrap()
}

async fn meter(faults: LinkFaults, transport: Transport) -> (Target, Arc<MeterHost>) {
    let config = MeterConfig {
        profile: MeterProfile {
            activation_reboot_ms: 300,
            reboot_ms: 300,
            ..MeterProfile::default()
        },
        trusted_key: Some(*vendor().verifying_key()),
        ..MeterConfig::default()
    };
    let host = MeterHost::new(Meter::new(config), None);
    host.set_link_faults(faults);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, host.clone(), transport));
    let mut target = common::as_management(Target::parse(&address.to_string(), transport).unwrap());
    target.request_timeout = Duration::from_millis(700);
    (target, host)
}

/// Upgrades a meter with `faults` and returns what the link injected.
async fn upgrade_through(faults: LinkFaults, transport: Transport) -> LinkFaultStats {
    let (target, host) = meter(faults, transport).await;
    let payload: Vec<u8> = (0..12_000u32).map(|i| (i % 251) as u8).collect();
    let image = image::build(&vendor(), 1, b"APP-2.0.0", &payload).unwrap();
    let plan = Plan {
        poll_interval: Duration::from_millis(50),
        reconnect_deadline: Duration::from_secs(20),
        verify_deadline: Duration::from_secs(20),
        ..Plan::new(image, b"APP-2.0.0")
    };
    let report = Driver::new(&target, &plan).run().await;
    let stats = host.link_fault_stats();
    assert!(
        report.outcome.upgraded(),
        "{:?} after {stats:?}:\n{}",
        report.outcome,
        report
            .events
            .iter()
            .map(|e| format!("{:?}: {}", e.step, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
    stats
}

fn seeded(f: impl FnOnce(&mut LinkFaults)) -> LinkFaults {
    let mut faults = LinkFaults {
        seed: 42,
        ..LinkFaults::default()
    };
    f(&mut faults);
    faults
}

#[tokio::test]
async fn lost_frames_are_survived() {
    let stats = upgrade_through(seeded(|f| f.loss = 0.03), Transport::Wrapper).await;
    assert!(stats.lost > 0, "{stats:?}");
}

#[tokio::test]
async fn duplicated_frames_are_recognised_by_their_invoke_id() {
    let stats = upgrade_through(seeded(|f| f.duplicate = 0.1), Transport::Wrapper).await;
    assert!(stats.duplicated > 0, "{stats:?}");
}

#[tokio::test]
async fn reordered_frames_are_survived() {
    let stats = upgrade_through(seeded(|f| f.reorder = 0.03), Transport::Wrapper).await;
    assert!(stats.reordered > 0, "{stats:?}");
}

#[tokio::test]
async fn corrupted_hdlc_frames_fail_their_checksum_and_are_sent_again() {
    let stats = upgrade_through(seeded(|f| f.corrupt = 0.03), Transport::Hdlc).await;
    assert!(stats.corrupted > 0, "{stats:?}");
}

#[tokio::test]
async fn refused_connections_and_a_half_open_one_are_survived() {
    let stats = upgrade_through(
        seeded(|f| {
            f.refuse_connections = 2;
            f.half_open_at_request = Some(20);
        }),
        Transport::Wrapper,
    )
    .await;
    assert_eq!((stats.refused, stats.half_open), (2, 1), "{stats:?}");
}
