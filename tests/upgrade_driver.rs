//! The image transfer driver against emulated meters on loopback: one test per field fault it
//! must survive, and the bad signature it must report as a clear failure.

mod common;

use dlms::image;
use dlms::Transport as MeterTransport;
use emulator::faults::Faults;
use emulator::meter::{Meter, MeterConfig};
use emulator::net::host::MeterHost;
use emulator::net::serve::serve;
use emulator::profile::MeterProfile;
use harness::target::{Target, Transport};
use harness::transfer::{BlockService, Driver, Evidence, Outcome, Plan, Report, Step};
use p256::ecdsa::SigningKey;
use std::time::Duration;

fn vendor() -> SigningKey {
    SigningKey::from_slice(&[0x5C; 32]).unwrap()
}

fn fast_profile() -> MeterProfile {
    MeterProfile {
        activation_reboot_ms: 300,
        reboot_ms: 300,
        ..MeterProfile::default()
    }
}

/// Starts an emulated meter on a free loopback port and returns its target.
async fn meter(profile: MeterProfile, faults: Faults, transport: Transport) -> Target {
    let config = MeterConfig {
        profile,
        faults,
        trusted_key: Some(*vendor().verifying_key()),
        ..MeterConfig::default()
    };
    let host = MeterHost::new(Meter::new(config), None);
    let address = if transport == Transport::Udp {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        tokio::spawn(emulator::net::udp::serve_udp(socket, host));
        address
    } else {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, host, transport));
        address
    };
    let mut target = common::as_management(Target::parse(&address.to_string(), transport).unwrap());
    target.request_timeout = Duration::from_millis(1500);
    target
}

fn plan(image: Vec<u8>) -> Plan {
    Plan {
        poll_interval: Duration::from_millis(50),
        reconnect_deadline: Duration::from_secs(15),
        verify_deadline: Duration::from_secs(15),
        ..Plan::new(image, b"APP-2.0.0")
    }
}

fn good_image() -> Vec<u8> {
    let payload: Vec<u8> = (0..9_000u32).map(|i| (i % 253) as u8).collect();
    image::build(&vendor(), 1, b"APP-2.0.0", &payload).unwrap()
}

async fn upgrade(
    profile: MeterProfile,
    faults: Faults,
    transport: Transport,
    image: Vec<u8>,
) -> Report {
    let target = meter(profile, faults, transport).await;
    let plan = plan(image);
    let report = Driver::new(&target, &plan).run().await;
    let log: Vec<String> = report
        .events
        .iter()
        .map(|e| format!("{:?}: {}", e.step, e.message))
        .collect();
    eprintln!("{}", log.join("\n"));
    report
}

fn assert_upgraded(report: &Report) {
    assert_eq!(
        report.outcome,
        Outcome::Upgraded {
            evidence: Evidence::ActiveFirmwareIdentifier("APP-2.0.0".into())
        },
        "{:#?}",
        report.events
    );
}

#[tokio::test]
async fn a_clean_meter_is_upgraded_over_the_wrapper_hdlc_and_udp() {
    for transport in [Transport::Wrapper, Transport::Hdlc, Transport::Udp] {
        let report = upgrade(fast_profile(), Faults::default(), transport, good_image()).await;
        assert_upgraded(&report);
        assert_eq!(report.passes, 1);
        assert_eq!(report.blocks_sent, report.blocks_needed);
        assert_eq!(
            report.reconnects, 1,
            "one reconnect, after the activation reboot"
        );
        assert!(report.first_block_at() <= report.last_block_at());
    }
}

#[tokio::test]
async fn lost_blocks_are_found_in_the_bitmap_and_sent_again() {
    let faults = Faults {
        lose_blocks: [3, 7, 20].into(),
        ..Faults::default()
    };
    let report = upgrade(fast_profile(), faults, Transport::Wrapper, good_image()).await;
    assert_upgraded(&report);
    assert_eq!(report.passes, 2);
    assert_eq!(report.blocks_sent, report.blocks_needed + 3);
}

#[tokio::test]
async fn a_reboot_in_the_middle_of_the_transfer_resumes_from_the_stored_blocks() {
    let faults = Faults {
        reboot_at_block: Some(20),
        ..Faults::default()
    };
    let report = upgrade(fast_profile(), faults, Transport::Wrapper, good_image()).await;
    assert_upgraded(&report);
    assert_eq!(
        report.reconnects, 2,
        "after the power cut and after the activation"
    );
    assert_eq!(
        report.blocks_sent,
        report.blocks_needed + 1,
        "only the block lost with the power is resent"
    );
    assert!(report.events.iter().any(|e| e.message.contains("resuming")));
}

#[tokio::test]
async fn a_cut_connection_is_reconnected_and_the_transfer_resumed() {
    let faults = Faults {
        cut_connection_at_request: Some(25),
        ..Faults::default()
    };
    let report = upgrade(fast_profile(), faults, Transport::Hdlc, good_image()).await;
    assert_upgraded(&report);
    assert_eq!(report.reconnects, 2);
}

#[tokio::test]
async fn verify_answering_temporary_failure_is_polled_not_repeated() {
    let profile = MeterProfile {
        verify_ms: 500,
        ..fast_profile()
    };
    let report = upgrade(profile, Faults::default(), Transport::Wrapper, good_image()).await;
    assert_upgraded(&report);
    let verify: Vec<&str> = report
        .events
        .iter()
        .filter(|e| e.step == Step::Verify)
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        verify
            .iter()
            .any(|m| m.contains("temporary-failure") && m.contains("polling")),
        "{verify:?}"
    );
}

#[tokio::test]
async fn an_activation_that_reboots_without_a_reply_is_confirmed_after_reconnecting() {
    let faults = Faults {
        silent_activation: true,
        ..Faults::default()
    };
    let report = upgrade(fast_profile(), faults, Transport::Wrapper, good_image()).await;
    assert_upgraded(&report);
    assert!(report
        .events
        .iter()
        .any(|e| e.message.contains("no reply to activate")));
}

#[tokio::test]
async fn a_bad_signature_ends_in_a_clear_failure_without_retries() {
    let bad = image::corrupt(&good_image(), image::Corruption::BadSignature, None).unwrap();
    let report = upgrade(fast_profile(), Faults::default(), Transport::Wrapper, bad).await;
    let Outcome::Failed { step, reason } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*step, Step::Verify);
    assert!(
        reason.contains("verification failed (status 4)"),
        "{reason}"
    );
    assert_eq!(report.retries, 0);
    assert_eq!(report.reconnects, 0);
}

#[tokio::test]
async fn blocks_that_do_not_fit_one_apdu_go_in_action_pblocks() {
    let profile = MeterProfile {
        image_block_size: 1010,
        max_pdu_size: 1024,
        ..fast_profile()
    };
    let report = upgrade(profile, Faults::default(), Transport::Wrapper, good_image()).await;
    assert_upgraded(&report);
    assert!(
        report
            .events
            .iter()
            .any(|e| e.message.contains("ACTION pblocks")),
        "{:#?}",
        report.events
    );
}

#[tokio::test]
async fn a_block_size_over_the_harness_s_limit_ends_the_transfer_without_allocating_it() {
    // No valid profile gives this (a block must fit the PDU size or a few pblocks); the meter
    // is built from the profile as it is, as a faulty meter would answer.
    let profile = MeterProfile {
        image_block_size: u32::MAX,
        ..fast_profile()
    };
    let report = upgrade(profile, Faults::default(), Transport::Wrapper, good_image()).await;
    let Outcome::Failed { step, reason } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*step, Step::BlockSize);
    assert!(reason.contains("over the harness's limit"), "{reason}");
}

/// A clean meter with `profile`, reached as the HLS-GMAC client 48 with the emulator's default
/// keys.
async fn hls_gmac_meter_with(profile: MeterProfile, transport: Transport) -> Target {
    let mut target = meter(profile, Faults::default(), transport).await;
    target.client_sap = 48;
    target.auth = harness::target::Auth::HlsGmac {
        keys: emulator::meter::MeterKeys::default().keys,
        system_title: *b"HEADEND1",
    };
    target
}

/// A clean meter, reached as the HLS-GMAC client 48 with the emulator's default keys.
async fn hls_gmac_meter(transport: Transport) -> Target {
    hls_gmac_meter_with(fast_profile(), transport).await
}

#[tokio::test]
async fn a_ciphered_block_that_fits_the_pdu_only_in_plain_goes_in_pblocks() {
    // A 1,024-byte block: its ACTION is 1,044 bytes plain, within the meter's 1,050, but 21
    // more once ciphered.
    let profile = MeterProfile {
        image_block_size: 1024,
        max_pdu_size: 1050,
        ..fast_profile()
    };
    let target = hls_gmac_meter_with(profile, Transport::Wrapper).await;
    let report = Driver::new(&target, &plan(good_image())).run().await;
    assert_upgraded(&report);
    assert_eq!(report.retries, 0, "no block refused for its length");
}

#[tokio::test]
async fn a_ciphered_block_too_long_for_a_meter_without_action_blocks_is_refused_with_the_reason() {
    // The same 1,024-byte block, but the meter does not offer block-transfer-with-action: the
    // harness must not overrun its PDU, and says why it stops.
    let profile = MeterProfile {
        image_block_size: 1024,
        max_pdu_size: 1050,
        action_block_transfer: false,
        ..fast_profile()
    };
    let target = hls_gmac_meter_with(profile, Transport::Wrapper).await;
    let report = Driver::new(&target, &plan(good_image())).run().await;
    let Outcome::Failed { step, reason } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*step, Step::BlockSize);
    assert_eq!(
        reason,
        "image_block_size 1024 with its 24-byte ACTION header does not fit the 1029 bytes the meter takes (its PDU size 1050, less 21 for ciphering), and it refuses ACTION block transfer"
    );
}

#[tokio::test]
async fn an_hls_gmac_client_upgrades_over_a_ciphered_association() {
    let target = hls_gmac_meter(Transport::Hdlc).await;
    let plan = plan(good_image());
    let report = Driver::new(&target, &plan).run().await;
    assert_upgraded(&report);
}

#[tokio::test]
async fn a_traced_transfer_keeps_every_apdu_across_the_reboot() {
    let target = meter(fast_profile(), Faults::default(), Transport::Wrapper).await;
    let plan = Plan {
        trace: true,
        ..plan(good_image())
    };
    let report = Driver::new(&target, &plan).run().await;
    assert_upgraded(&report);
    let aarqs = report
        .trace
        .iter()
        .filter(|t| t.hex.starts_with("60"))
        .count();
    assert_eq!(
        aarqs, 2,
        "one association before the activation reboot, one after"
    );
    assert!(report
        .trace
        .iter()
        .any(|t| t.decoded.starts_with("action-request normal")
            && t.decoded.contains("method 2 image_block_transfer")));
    assert!(report.trace.len() > 2 * report.blocks_needed as usize);
}

fn unconfirmed_plan(image: Vec<u8>, burst: u32) -> Plan {
    Plan {
        block_service: BlockService::Unconfirmed { burst },
        ..plan(image)
    }
}

fn said(report: &Report, text: &str) -> bool {
    report.events.iter().any(|e| e.message.contains(text))
}

#[tokio::test]
async fn unconfirmed_blocks_go_in_bursts_and_the_bitmap_finds_the_lost_ones() {
    // Over TCP a burst is one write; over UDP a datagram per block.
    for transport in [Transport::Wrapper, Transport::Udp] {
        let faults = Faults {
            lose_blocks: [3, 7, 20].into(),
            ..Faults::default()
        };
        let target = meter(fast_profile(), faults, transport).await;
        let plan = unconfirmed_plan(good_image(), 8);
        let report = Driver::new(&target, &plan).run().await;
        assert_upgraded(&report);
        assert!(
            said(&report, "as unconfirmed ACTIONs, 8 per write"),
            "{transport}: {:#?}",
            report.events
        );
        assert_eq!(
            report.passes, 2,
            "{transport}: the bit-string showed the three lost"
        );
        assert_eq!(report.blocks_sent, report.blocks_needed + 3);
    }
}

#[tokio::test]
async fn a_udp_meter_drops_a_datagram_that_is_not_a_frame_and_answers_the_next() {
    let target = meter(fast_profile(), Faults::default(), Transport::Udp).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(target.address.ip().unwrap()).await.unwrap();
    // Half a wrapper header, then a header announcing more than the datagram holds.
    socket.send(&[0, 1, 0, 16]).await.unwrap();
    socket
        .send(&[0, 1, 0, 16, 0, 1, 0, 40, 0x60])
        .await
        .unwrap();
    let aarq = dlms::Codec::to_bytes(&dlms::association::ClientSettings::default().aarq());
    socket
        .send(&dlms::wrapper::wrap(16, 1, &aarq).unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
        .await
        .expect("the AARQ is answered")
        .unwrap();
    assert_eq!(buf[8], dlms::apdu::tag::AARE, "{:02X?}", &buf[..n]);
}

#[tokio::test]
async fn unconfirmed_blocks_a_busy_meter_dropped_are_sent_again() {
    let faults = Faults {
        busy: Some(emulator::faults::BusySpell {
            from_request: 12,
            requests: 5,
            result: 2,
        }),
        ..Faults::default()
    };
    let target = meter(fast_profile(), faults, Transport::Wrapper).await;
    let plan = unconfirmed_plan(good_image(), 4);
    let report = Driver::new(&target, &plan).run().await;
    assert_upgraded(&report);
    assert_eq!(report.passes, 2, "{:#?}", report.events);
    assert_eq!(report.blocks_sent, report.blocks_needed + 5);
}

#[tokio::test]
async fn unconfirmed_blocks_go_ciphered_in_an_hls_gmac_association() {
    let target = hls_gmac_meter(Transport::Wrapper).await;
    let plan = unconfirmed_plan(good_image(), 4);
    let report = Driver::new(&target, &plan).run().await;
    assert_upgraded(&report);
    assert_eq!(report.passes, 1);
    assert_eq!(report.blocks_sent, report.blocks_needed);
}

#[tokio::test]
async fn unconfirmed_blocks_are_sent_confirmed_over_hdlc() {
    let target = meter(fast_profile(), Faults::default(), Transport::Hdlc).await;
    let plan = unconfirmed_plan(good_image(), 8);
    let report = Driver::new(&target, &plan).run().await;
    assert_upgraded(&report);
    assert!(
        said(&report, "confirmed: unconfirmed bursts need the wrapper"),
        "{:#?}",
        report.events
    );
    assert_eq!(report.blocks_sent, report.blocks_needed);
}

/// A peer that answers every connection with an HTTP error, as a web server on the wrong port
/// would.
async fn http_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn a_peer_that_does_not_speak_dlms_fails_at_once_and_says_so() {
    let target = Target::new(http_server().await, Transport::Wrapper);
    let report = Driver::new(&target, &plan(good_image())).run().await;
    let Outcome::Failed { step, reason } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*step, Step::Connect);
    assert!(
        reason.contains("does not speak DLMS/COSEM over the wrapper"),
        "{reason}"
    );
    assert!(
        !report.events.iter().any(|e| e.message.contains("retrying")),
        "a protocol mismatch is not retried: {:?}",
        report.events
    );
}

#[tokio::test]
async fn an_activation_lost_on_the_way_is_found_not_taken_and_invoked_again() {
    let config = MeterConfig {
        profile: fast_profile(),
        trusted_key: Some(*vendor().verifying_key()),
        ..MeterConfig::default()
    };
    let host = MeterHost::new(Meter::new(config), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, host.clone(), MeterTransport::Wrapper));
    let mut target =
        common::as_management(Target::parse(&address.to_string(), Transport::Wrapper).unwrap());
    target.request_timeout = Duration::from_millis(1500);
    let plan = plan(good_image());
    // The connection is cut at the first image_activate: it never reaches the meter.
    let cut_once = std::sync::atomic::AtomicBool::new(false);
    let report = Driver::new(&target, &plan)
        .watched(|e| {
            if e.message == "activating"
                && !cut_once.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                host.with_meter(|m| {
                    m.inject_faults(Faults {
                        cut_connection_at_request: Some(1),
                        ..Faults::default()
                    })
                });
            }
        })
        .run()
        .await;
    assert_upgraded(&report);
    assert!(
        report.events.iter().any(|e| e
            .message
            .contains("the activation did not take; activating again")),
        "{:#?}",
        report.events
    );
    assert_eq!(host.with_meter(|m| m.stats().activations_succeeded), 1);
}
