//! What a meter owes nobody: a connection that goes silent, even in the middle of a frame, is
//! closed after the profile's inactivity time-out (over the wrapper and over HDLC); a request
//! longer than the meter's PDU size is skipped, not held, and answered pdu-too-long; a fleet
//! serves no more connections than its open-file limit holds, and closes the excess at once.

mod common;

use common::{spawn_listening, Emulator};
use std::io::{Read, Write};
use std::time::Duration;

/// Whether the meter closes `stream` (rather than the generous bound running out).
fn closed_by_the_meter(mut stream: std::net::TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_silent_connection_is_closed_after_the_inactivity_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "inactivity_timeout_ms = 300\n").unwrap();
    let profile = profile.to_str().unwrap();
    for transport in ["wrapper", "hdlc"] {
        let meter = Emulator::start(&["--transport", transport, "--profile", profile]);
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", meter.port)).unwrap();
        if transport == "wrapper" {
            // A header announcing 65,535 bytes, then nothing.
            stream.write_all(&[0, 1, 0, 16, 0, 1, 0xFF, 0xFF]).unwrap();
        }
        assert!(closed_by_the_meter(stream), "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_meter_s_limit_are_closed_and_a_place_comes_back() {
    use harness::session::Session;
    use harness::target::{Target, Transport};
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "max_connections = 2\n").unwrap();
    let meter = Emulator::start(&["--profile", profile.to_str().unwrap()]);
    let target = Target::new(
        format!("127.0.0.1:{}", meter.port)
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        Transport::Wrapper,
    );
    let first = Session::open(&target, false).await.unwrap();
    let _second = Session::open(&target, false).await.unwrap();
    let third = std::net::TcpStream::connect(("127.0.0.1", meter.port)).unwrap();
    let closed = tokio::task::spawn_blocking(move || closed_by_the_meter(third))
        .await
        .unwrap();
    assert!(closed, "the third connection is closed");
    drop(first);
    // The meter gives the place back once it sees the first connection end.
    let mut again = None;
    for _ in 0..50 {
        if let Ok(s) = Session::open(&target, false).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a place came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_association_over_the_meters_limit_waits_or_is_reset_as_the_profile_says() {
    use harness::session::Session;
    use harness::target::{Target, Transport};
    let dir = tempfile::tempdir().unwrap();
    for (transport, name) in [(Transport::Wrapper, "wrapper"), (Transport::Hdlc, "hdlc")] {
        for excess in ["wait", "reset"] {
            let profile = dir.path().join(format!("{name}-{excess}.toml"));
            std::fs::write(
                &profile,
                format!("max_associations = 1\nexcess_association = \"{excess}\"\n"),
            )
            .unwrap();
            let meter =
                Emulator::start(&["--transport", name, "--profile", profile.to_str().unwrap()]);
            let mut target = Target::new(
                format!("127.0.0.1:{}", meter.port)
                    .parse::<std::net::SocketAddr>()
                    .unwrap(),
                transport,
            );
            target.request_timeout = Duration::from_secs(10);
            let first = Session::open(&target, false).await.unwrap();
            let second = tokio::spawn({
                let target = target.clone();
                async move { Session::open(&target, false).await }
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
            if excess == "reset" {
                assert!(second.is_finished(), "{name}: reset at once");
                assert!(second.await.unwrap().is_err(), "{name}: refused");
                continue;
            }
            assert!(!second.is_finished(), "{name}: the second AARQ waits");
            first.close().await;
            let second = tokio::time::timeout(Duration::from_secs(5), second)
                .await
                .expect("served once the first released")
                .unwrap();
            assert!(second.is_ok(), "{name}: {:?}", second.err());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_pdu_size_is_answered_pdu_too_long_and_the_connection_goes_on() {
    use dlms::apdu::ExceptionResponse;
    use dlms::codec::Codec;
    use harness::connection::Connection;
    use harness::target::{Target, Transport};
    // The Green Book AARQ (docs/protocol.md#test-vectors V1).
    let aarq =
        hex::decode("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF").unwrap();
    for transport in [Transport::Wrapper, Transport::Hdlc] {
        let name = transport.to_string();
        let meter = Emulator::start(&["--transport", &name]);
        let target = Target::new(
            format!("127.0.0.1:{}", meter.port)
                .parse::<std::net::SocketAddr>()
                .unwrap(),
            transport,
        );
        let timeout = Duration::from_secs(10);
        let mut conn = Connection::open(&target, timeout).await.unwrap();
        // 60,000 bytes to a meter whose PDU size is 1,024.
        let reply = conn.exchange(&vec![0xC1; 60_000], timeout).await.unwrap();
        assert_eq!(
            ExceptionResponse::decode(&reply).unwrap(),
            ExceptionResponse::PDU_TOO_LONG,
            "{name}"
        );
        let reply = conn.exchange(&aarq, timeout).await.unwrap();
        assert_eq!(
            reply[0],
            dlms::apdu::tag::AARE,
            "{name}: the next request is served"
        );
    }
}

/// Whether the meter behind `stream` answers an AARQ over the wrapper.
fn served(stream: &mut std::net::TcpStream) -> bool {
    let aarq =
        hex::decode("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if stream
        .write_all(&dlms::wrapper::wrap(16, 1, &aarq).unwrap())
        .is_err()
    {
        return false;
    }
    let mut reply = [0u8; 9];
    stream.read_exact(&mut reply).is_ok() && reply[8] == dlms::apdu::tag::AARE
}

#[test]
fn a_fleet_serves_what_its_open_file_limit_holds_and_closes_the_rest_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = common::signed_image(dir.path(), "APP-1", 16);
    let port = std::net::TcpListener::bind("127.77.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = dir.path().join("cap.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"cap\"\nseed = 1\nfirst_address = \"127.77.0.1\"\nport = {port}\n\
             [image]\npart = 1\nversion = \"APP-2\"\nsize = 1024\n\
             [[population]]\nname = \"p\"\ncount = 2\nprofile = {{ max_connections = 100 }}\n"
        ),
    )
    .unwrap();
    // 300 open files: 258 for 2 listeners and the margin, 42 for connections.
    let script = format!(
        "ulimit -n 300; exec '{}' emulate --scenario '{}' --trust-key '{}' --control 127.0.0.1:0 --targets-out '{}'",
        env!("CARGO_BIN_EXE_meterfleet"),
        scenario.display(),
        key.display(),
        dir.path().join("targets.toml").display()
    );
    let (mut fleet, _) = spawn_listening(
        std::process::Command::new("sh")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null()),
    );
    let meters = ["127.77.0.1", "127.77.0.2"];
    let mut open: Vec<_> = (0..42)
        .map(|i| std::net::TcpStream::connect((meters[i % 2], port)).unwrap())
        .collect();
    assert!(
        served(open.last_mut().unwrap()),
        "the 42nd connection is served"
    );
    let excess = std::net::TcpStream::connect((meters[0], port)).unwrap();
    assert!(closed_by_the_meter(excess), "the 43rd is closed");
    drop(open.pop());
    let mut again = false;
    for _ in 0..50 {
        if served(&mut std::net::TcpStream::connect((meters[1], port)).unwrap()) {
            again = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(again, "a place came back");
    let _ = fleet.kill();
    let _ = fleet.wait();
}
