//! A campaign over 200 emulated meters in one process: some lose blocks, five trust another
//! vendor's key and must fail verification. The statistics must add up.

mod common;

use dlms::image;
use dlms::Transport as MeterTransport;
use emulator::faults::Faults;
use emulator::meter::{Meter, MeterConfig};
use emulator::net::host::MeterHost;
use emulator::net::serve::serve;
use emulator::profile::MeterProfile;
use harness::campaign::{run, CampaignSettings};
use harness::target::{Target, Transport};
use harness::transfer::{Outcome, Plan, Step};
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use std::time::Duration;

const METERS: usize = 200;
const DOOMED: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_over_200_meters_reports_consistent_statistics() {
    let vendor = SigningKey::from_slice(&[0x61; 32]).unwrap();
    let stranger = SigningKey::from_slice(&[0x62; 32]).unwrap();
    let mut targets = Vec::new();
    for i in 0..METERS {
        let trusted = if i < DOOMED { &stranger } else { &vendor };
        let faults = if i % 10 == 9 {
            Faults {
                lose_blocks: [2, 5].into(),
                ..Faults::default()
            }
        } else {
            Faults::default()
        };
        let config = MeterConfig {
            profile: MeterProfile {
                activation_reboot_ms: 150,
                ..MeterProfile::default()
            },
            faults,
            trusted_key: Some(*trusted.verifying_key()),
            ..MeterConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut target = common::as_management(
            Target::parse(
                &listener.local_addr().unwrap().to_string(),
                Transport::Wrapper,
            )
            .unwrap(),
        );
        target.name = format!("meter-{i:04}");
        target.request_timeout = Duration::from_secs(2);
        targets.push(target);
        tokio::spawn(serve(
            listener,
            MeterHost::new(Meter::new(config), None),
            MeterTransport::Wrapper,
        ));
    }
    let payload: Vec<u8> = (0..2_000u32).map(|i| i as u8).collect();
    let image = image::build(&vendor, 1, b"APP-7.0.0", &payload).unwrap();
    let plan = Plan {
        poll_interval: Duration::from_millis(50),
        reconnect_deadline: Duration::from_secs(20),
        ..Plan::new(image, b"APP-7.0.0")
    };
    let settings = CampaignSettings {
        concurrency: 50,
        passes: 3,
        confirm_only: false,
        point_to_point_below: 0,
    };
    let report = run(targets, Arc::new(plan), &settings, |_| {}).await;
    let s = &report.summary;
    println!("{}", s.render());
    assert_eq!(s.expected, METERS);
    assert_eq!(s.succeeded, METERS - DOOMED);
    assert_eq!(s.failed, DOOMED);
    assert_eq!(s.succeeded + s.failed, report.meters.len());
    assert!((s.success_percent - 97.5).abs() < 1e-9);
    assert!((s.unsuccessful_percent - 2.5).abs() < 1e-9);
    assert_eq!(s.failures_by_step.get("verify"), Some(&DOOMED));
    assert_eq!(
        s.passes, 1,
        "verification failures are not retried: nothing left for pass 2"
    );
    assert_eq!(s.succeeded_after_pass, vec![METERS - DOOMED]);
    let blocks = (image::build(&vendor, 1, b"APP-7.0.0", &payload)
        .unwrap()
        .len() as u64)
        .div_ceil(200);
    assert_eq!(s.blocks_needed, blocks * METERS as u64);
    let lossy = (0..METERS).filter(|i| i % 10 == 9).count() as u64;
    assert_eq!(
        s.blocks_sent,
        s.blocks_needed + 2 * lossy,
        "each lossy meter needs its two blocks again"
    );
    assert!(s.first_block_at.unwrap() <= s.last_block_at.unwrap());
    let p = s.duration_percentiles.unwrap();
    assert!(p.p50 <= p.p95 && p.p95 <= p.p99);
    for (i, m) in report.meters.iter().enumerate() {
        assert_eq!(
            m.report.meter,
            format!("meter-{i:04}"),
            "results in target order"
        );
        match &m.report.outcome {
            Outcome::Failed { step, .. } => assert!(
                i < DOOMED && *step == Step::Verify,
                "{i}: {:?}",
                m.report.outcome
            ),
            outcome => assert!(i >= DOOMED && outcome.upgraded(), "{i}: {outcome:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remainder_goes_point_to_point_confirmed_once_few_enough_meters_are_left() {
    let vendor = SigningKey::from_slice(&[0x63; 32]).unwrap();
    let mut targets = Vec::new();
    for i in 0..6 {
        // Half the meters refuse their first initiate (storage full): they need a second pass.
        let faults = Faults {
            storage_full_initiates: u32::from(i % 2 == 0),
            ..Faults::default()
        };
        let config = MeterConfig {
            profile: MeterProfile {
                activation_reboot_ms: 150,
                ..MeterProfile::default()
            },
            faults,
            trusted_key: Some(*vendor.verifying_key()),
            ..MeterConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mut target =
            common::as_management(Target::parse(&address, Transport::Wrapper).unwrap());
        target.name = format!("meter-{i}");
        targets.push(target);
        tokio::spawn(serve(
            listener,
            MeterHost::new(Meter::new(config), None),
            MeterTransport::Wrapper,
        ));
    }
    let image = image::build(&vendor, 1, b"APP-7.0.0", &[9; 2_000]).unwrap();
    let plan = Plan {
        poll_interval: Duration::from_millis(50),
        block_service: harness::transfer::BlockService::Unconfirmed { burst: 4 },
        ..Plan::new(image, b"APP-7.0.0")
    };
    let settings = CampaignSettings {
        concurrency: 6,
        passes: 2,
        confirm_only: false,
        point_to_point_below: 3,
    };
    let report = run(targets, Arc::new(plan), &settings, |_| {}).await;
    assert_eq!(report.summary.succeeded, 6, "{:?}", report.summary);
    assert_eq!(report.summary.point_to_point_from_pass, Some(2));
    for m in &report.meters {
        let unconfirmed = m
            .report
            .events
            .iter()
            .any(|e| e.message.contains("as unconfirmed ACTIONs"));
        // Pass 1 bursts unconfirmed; the three left for pass 2 get theirs confirmed.
        assert_eq!(
            unconfirmed,
            m.pass == 1,
            "{}: {:?}",
            m.report.meter,
            m.report.events
        );
    }
}
