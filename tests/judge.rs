//! The judge is right: meterfleet's own driver gets a clean verdict, and a careless head-end
//! with named bad habits trips exactly the rules each habit breaks.

mod common;

use dlms::cosem::image_transfer::{self as it, attribute as a, method as m};
use emulator::judge::{rule, Report};
use emulator::meter::{Meter, MeterConfig};
use emulator::net::host::MeterHost;
use emulator::net::serve::serve;
use emulator::profile::MeterProfile;
use harness::session::Session;
use harness::target::{Target, Transport};
use harness::transfer::{Driver, Plan};
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use std::time::Duration;

fn vendor() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

/// A judging meter on a free loopback port, and the management client's target for it.
async fn judged_meter() -> (Arc<MeterHost>, Target) {
    let config = MeterConfig {
        profile: MeterProfile {
            activation_reboot_ms: 200,
            ..MeterProfile::default()
        },
        trusted_key: Some(*vendor().verifying_key()),
        judge: true,
        ..MeterConfig::default()
    };
    let host = MeterHost::new(Meter::new(config), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, host.clone(), dlms::Transport::Wrapper));
    let mut target = common::as_management(Target::new(address, Transport::Wrapper));
    target.request_timeout = Duration::from_secs(2);
    (host, target)
}

fn verdict(host: &MeterHost) -> Report {
    let judge = host.with_meter(|m| m.judge().cloned()).unwrap();
    Report::of([("meter", &judge)])
}

#[tokio::test]
async fn meterfleets_own_driver_breaks_no_rule() {
    let (host, target) = judged_meter().await;
    let image = dlms::image::build(&vendor(), 1, b"APP-2.0.0", &[7; 5_000]).unwrap();
    let plan = Plan {
        poll_interval: Duration::from_millis(100),
        ..Plan::new(image, b"APP-2.0.0")
    };
    let report = Driver::new(&target, &plan).run().await;
    assert!(report.outcome.upgraded(), "{:?}", report.outcome);
    let judged = verdict(&host);
    assert!(judged.broken().is_empty(), "{}", judged.render());
}

#[tokio::test]
async fn a_careless_head_end_trips_exactly_the_rules_its_habits_break() {
    let (host, target) = judged_meter().await;
    let mut session = Session::open(&target, false).await.unwrap();
    // Habit 1: it initiates 1,000 bytes (5 blocks of 200) and sends block 0 short.
    let initiate = it::initiate_parameters(b"CARELESS-1", 1000);
    session
        .action(it::method(m::IMAGE_TRANSFER_INITIATE), Some(initiate))
        .await
        .unwrap();
    for (n, len) in [(0u32, 100usize), (1, 200), (3, 200), (4, 200)] {
        let bytes = vec![0xAB; len];
        let block = it::block_parameters(n, &bytes);
        session
            .action(it::method(m::IMAGE_BLOCK_TRANSFER), Some(block))
            .await
            .unwrap();
    }
    // Habit 2: it verifies without reading the bit-string (block 2 is missing).
    session
        .action(it::method(m::IMAGE_VERIFY), Some(it::trigger_parameter()))
        .await
        .unwrap();
    // Habit 3: it polls the status as fast as it can.
    for _ in 0..15 {
        session
            .get(it::CLASS_ID, it::LOGICAL_NAME, a::IMAGE_TRANSFER_STATUS)
            .await
            .unwrap()
            .unwrap();
    }
    // Habit 4: it drops the connection without releasing the association.
    drop(session);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let judged = verdict(&host);
    assert_eq!(
        judged.broken(),
        [
            rule::BLOCK_SIZE,
            rule::VERIFY_WITHOUT_BITMAP,
            rule::STATUS_POLLED_TOO_FAST,
            rule::ASSOCIATION_NOT_RELEASED,
        ],
        "{}",
        judged.render()
    );
    let size = judged
        .rules
        .iter()
        .find(|r| r.rule.id == rule::BLOCK_SIZE)
        .unwrap();
    assert_eq!(size.verdict, "fail", "a must");
    assert_eq!(
        size.first[0].1.what,
        "block 0 of 100 bytes; image_block_size is 200"
    );
}

#[tokio::test]
async fn connecting_again_and_again_into_a_reboot_is_a_storm() {
    let (host, target) = judged_meter().await;
    host.with_meter(|m| m.reboot(emulator::net::host::now_ms(), 5_000));
    // A head-end that retries every 50 ms instead of backing off.
    for _ in 0..8 {
        let _ = tokio::net::TcpStream::connect(target.address).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let judged = verdict(&host);
    assert_eq!(
        judged.broken(),
        [rule::RECONNECT_STORM],
        "{}",
        judged.render()
    );
}
