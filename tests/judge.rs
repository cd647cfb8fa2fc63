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
    judged_meter_with(MeterProfile::default()).await
}

/// A judging meter with `profile` (activating in 200 ms), and its management target.
async fn judged_meter_with(profile: MeterProfile) -> (Arc<MeterHost>, Target) {
    let config = MeterConfig {
        profile: MeterProfile {
            activation_reboot_ms: 200,
            ..profile
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
    // Habit 2: its last block holds 150 bytes, not the 200 the size initiated leaves.
    let initiate = it::initiate_parameters(b"CARELESS-1", 1000);
    session
        .action(it::method(m::IMAGE_TRANSFER_INITIATE), Some(initiate))
        .await
        .unwrap();
    for (n, len) in [(0u32, 100usize), (1, 200), (3, 200), (4, 150)] {
        let bytes = vec![0xAB; len];
        let block = it::block_parameters(n, &bytes);
        session
            .action(it::method(m::IMAGE_BLOCK_TRANSFER), Some(block))
            .await
            .unwrap();
    }
    // Habit 3: it verifies without reading the bit-string (block 2 is missing).
    session
        .action(it::method(m::IMAGE_VERIFY), Some(it::trigger_parameter()))
        .await
        .unwrap();
    // Habit 4: it polls the status as fast as it can.
    for _ in 0..15 {
        session
            .get(it::CLASS_ID, it::LOGICAL_NAME, a::IMAGE_TRANSFER_STATUS)
            .await
            .unwrap()
            .unwrap();
    }
    // Habit 5: it drops the connection without releasing the association.
    drop(session);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let judged = verdict(&host);
    assert_eq!(
        judged.broken(),
        [
            rule::BLOCK_SIZE,
            rule::IMAGE_SIZE_MISMATCH,
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
async fn connecting_again_and_again_to_a_meter_whose_connections_are_taken_is_a_storm() {
    let (host, target) = judged_meter_with(MeterProfile {
        max_connections: 1,
        ..MeterProfile::default()
    })
    .await;
    let session = Session::open(&target, false).await.unwrap();
    // Each attempt is closed at once.
    retry_every_50_ms(&target).await;
    session.close().await;
    assert_only_a_storm(&host);
}

/// A head-end that connects again every 50 ms, eight times, instead of backing off.
async fn retry_every_50_ms(target: &Target) {
    for _ in 0..8 {
        let _ = tokio::net::TcpStream::connect(target.address.ip().unwrap()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The judge saw a reconnect storm and nothing else.
fn assert_only_a_storm(host: &MeterHost) {
    let judged = verdict(host);
    assert_eq!(
        judged.broken(),
        [rule::RECONNECT_STORM],
        "{}",
        judged.render()
    );
}

#[tokio::test]
async fn connecting_again_and_again_into_a_reboot_is_a_storm() {
    let (host, target) = judged_meter().await;
    host.with_meter(|m| m.reboot(emulator::net::host::now_ms(), 5_000));
    retry_every_50_ms(&target).await;
    assert_only_a_storm(&host);
}

#[tokio::test]
async fn activating_blind_a_meter_that_does_not_verify_implicitly_is_caught() {
    let profile = MeterProfile {
        quirks: [emulator::profile::Quirk::NoImplicitVerify].into(),
        ..MeterProfile::default()
    };
    let (host, target) = judged_meter_with(profile).await;
    let image = dlms::image::build(&vendor(), 1, b"APP-2.0.0", &[7; 900]).unwrap();
    let mut session = Session::open(&target, false).await.unwrap();
    let size = u32::try_from(image.len()).unwrap();
    session
        .action(
            it::method(m::IMAGE_TRANSFER_INITIATE),
            Some(it::initiate_parameters(b"APP-2.0.0", size)),
        )
        .await
        .unwrap();
    for (n, block) in image.chunks(200).enumerate() {
        let block = it::block_parameters(u32::try_from(n).unwrap(), block);
        session
            .action(it::method(m::IMAGE_BLOCK_TRANSFER), Some(block))
            .await
            .unwrap();
    }
    session
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            a::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER,
        )
        .await
        .unwrap()
        .unwrap();
    // It activates without image_verify; this meter answers other-reason.
    let outcome = session
        .action(it::method(m::IMAGE_ACTIVATE), Some(it::trigger_parameter()))
        .await
        .unwrap();
    assert_eq!(outcome.result, dlms::apdu::DataAccessResult::OTHER_REASON);
    session.close().await;
    let judged = verdict(&host);
    assert_eq!(
        judged.broken(),
        [rule::ACTIVATE_WITHOUT_VERIFY],
        "{}",
        judged.render()
    );
}

#[tokio::test]
async fn two_requests_under_one_invoke_id_sent_without_waiting_are_reuse() {
    use dlms::apdu::{Apdu, AttributeWithSelection, GetRequest, InvokeIdAndPriority};
    use dlms::wrapper::{wrap, WrapperDecoder};
    use dlms::Codec;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (host, target) = judged_meter().await;
    let mut stream = tokio::net::TcpStream::connect(target.address.ip().unwrap())
        .await
        .unwrap();
    let mut decoder = WrapperDecoder::new(2048);
    // Sends `apdus` in one write as the public client and reads as many replies.
    async fn exchange(
        stream: &mut tokio::net::TcpStream,
        decoder: &mut WrapperDecoder,
        apdus: &[Vec<u8>],
    ) {
        let wire: Vec<u8> = apdus.iter().flat_map(|a| wrap(16, 1, a).unwrap()).collect();
        stream.write_all(&wire).await.unwrap();
        let mut got = 0;
        let mut buf = [0u8; 2048];
        while got < apdus.len() {
            while decoder.next_frame().unwrap().is_some() {
                got += 1;
            }
            if got < apdus.len() {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the meter closed the connection");
                decoder.push(&buf[..n]);
            }
        }
    }
    let get = |id: u8| {
        Apdu::GetRequest(GetRequest::Normal {
            iip: InvokeIdAndPriority::new(id, true, true),
            attribute: AttributeWithSelection::plain(it::attribute(a::IMAGE_BLOCK_SIZE)),
        })
        .to_bytes()
    };
    let aarq = dlms::association::ClientSettings::default()
        .aarq()
        .to_bytes();
    exchange(&mut stream, &mut decoder, &[aarq]).await;
    // One id again and again, each after its reply: what every client does, and fine.
    for _ in 0..3 {
        exchange(&mut stream, &mut decoder, &[get(1)]).await;
    }
    // Two different ids without waiting: pipelined, and fine.
    exchange(&mut stream, &mut decoder, &[get(2), get(3)]).await;
    assert!(verdict(&host).broken().is_empty());
    // The same id twice without waiting: the replies cannot be told apart.
    exchange(&mut stream, &mut decoder, &[get(4), get(4)]).await;
    let release = dlms::association::release_request().to_bytes();
    exchange(&mut stream, &mut decoder, &[release]).await;
    let judged = verdict(&host);
    assert_eq!(
        judged.broken(),
        [rule::INVOKE_ID_REUSED],
        "{}",
        judged.render()
    );
    assert_eq!(
        judged
            .rules
            .iter()
            .find(|r| r.rule.id == rule::INVOKE_ID_REUSED)
            .unwrap()
            .first[0]
            .1
            .what,
        "client 16 sent invoke-id 4 again before the reply to the first"
    );
}
