//! A fleet's control endpoint and metrics, over plain HTTP on loopback.

use emulator::scenario::Scenario;
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(address: std::net::SocketAddr, method: &str, path: &str) -> String {
    let kind = "application/json";
    send_with(
        address,
        method,
        path,
        "",
        &format!("Content-Type: {kind}\r\n"),
    )
    .await
}

/// A change with the content type its body needs (TOML for a profile, else JSON).
async fn send(address: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    let kind = if path.ends_with("/profile") {
        "application/toml"
    } else {
        "application/json"
    };
    send_with(
        address,
        method,
        path,
        body,
        &format!("Content-Type: {kind}\r\n"),
    )
    .await
}

/// A request to the endpoint, with a Host naming it and these extra header lines.
async fn send_with(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\n{headers}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        address.port(),
        body.len()
    );
    raw(address, &request).await
}

/// A fleet of `scenario` (TOML) with its control endpoint on a free loopback port, guarded
/// by `token` if given.
async fn started(
    scenario: &str,
    token: Option<&str>,
) -> (Arc<emulator::fleet::Fleet>, std::net::SocketAddr) {
    let scenario = Scenario::from_toml(scenario, "test").unwrap();
    let key = *SigningKey::from_slice(&[9; 32]).unwrap().verifying_key();
    let fleet = Arc::new(emulator::fleet::start(&scenario, key, key).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let guard = emulator::control::Guard::new(address, token.map(str::to_string)).unwrap();
    tokio::spawn(emulator::control::serve(listener, fleet.clone(), guard));
    (fleet, address)
}

/// Sends `request` as it is and returns the whole answer.
async fn raw(address: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn the_control_endpoint_lists_shows_reboots_and_counts() {
    let (fleet, address) = started(
        "name = \"ctl\"\nseed = 5\nfirst_address = \"127.3.0.1\"\n[image]\npart = 1\nversion = \"V\"\nsize = 1000\n[[population]]\nname = \"c\"\ncount = 3\nfaults = { lose_block = 1.0 }\n",
        None,
    )
    .await;

    // A head-end that drops its connection with the association open.
    let meter = harness::target::Target::new(
        "127.3.0.1:4059".parse::<std::net::SocketAddr>().unwrap(),
        harness::target::Transport::Wrapper,
    );
    drop(
        harness::session::Session::open(&meter, false)
            .await
            .unwrap(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let metrics = http(address, "GET", "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("meterfleet_judge_findings_total{rule=\"association-not-released\"} 1")
            && metrics.contains("meterfleet_judge_findings_total{rule=\"block-size\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("meterfleet_meters{status=\"0\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("meterfleet_connections_total 1\n"),
        "one connection reached a meter: {metrics}"
    );
    assert!(
        metrics.contains("# TYPE meterfleet_faults_injected_total counter"),
        "{metrics}"
    );
    assert!(!metrics.contains("c-00001"), "no label per meter");

    let judge = http(address, "GET", "/judge").await;
    assert!(
        judge.starts_with("HTTP/1.1 200") && judge.contains("\"schema\":\"meterfleet-judge/1\""),
        "{judge}"
    );
    assert!(
        judge.contains("\"meters\":3"),
        "every meter judges: {judge}"
    );

    let list = http(address, "GET", "/meters").await;
    assert!(
        list.contains("\"name\":\"c-00002\"") && list.contains("127.3.0.2:4059"),
        "{list}"
    );
    let one = http(address, "GET", "/meters/c-00001").await;
    assert!(
        one.contains("\"lose_blocks\":[0,1,2,3,4,5]"),
        "every block drawn lost at probability 1: {one}"
    );
    assert!(http(address, "GET", "/meters/none")
        .await
        .starts_with("HTTP/1.1 404"));

    // DNS rebinding: a page that made evil.example resolve to the endpoint sends its own Host.
    let rebound = "POST /meters/c-00003/reboot HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let out = raw(address, rebound).await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(!fleet.meters[2].host.with_meter(|m| m.is_offline()));

    let reboot = http(address, "POST", "/meters/c-00003/reboot").await;
    assert!(reboot.starts_with("HTTP/1.1 202"), "{reboot}");
    assert!(fleet.meters[2].host.with_meter(|m| m.is_offline()));
    let metrics = http(address, "GET", "/metrics").await;
    assert!(metrics.contains("meterfleet_meters_offline 1"), "{metrics}");
    assert!(metrics.contains("meterfleet_reboots_total 1"), "{metrics}");

    // Faults injected now, counted from the next request.
    let injected = send(
        address,
        "POST",
        "/meters/c-00001/faults",
        r#"{"meter": {"busy": {"from_request": 1, "requests": 2, "result": 1}, "storage_full_initiates": 1}, "link": {"refuse_connections": 1}}"#,
    )
    .await;
    assert!(injected.starts_with("HTTP/1.1 202"), "{injected}");
    assert!(
        injected.contains("\"storage_full_initiates\":1"),
        "{injected}"
    );
    let pending = fleet.meters[0]
        .host
        .with_meter(|m| m.pending_faults().busy.map(|b| b.requests));
    assert_eq!(pending, Some(2));
    let bad = send(
        address,
        "POST",
        "/meters/c-00001/faults",
        r#"{"meter": {"bussy": 1}}"#,
    )
    .await;
    assert!(
        bad.starts_with("HTTP/1.1 400") && bad.contains("unknown field"),
        "{bad}"
    );

    // A profile replaced on a running meter; a bad one is refused with its line and field.
    let replaced = send(
        address,
        "PUT",
        "/meters/c-00002/profile",
        "image_block_size = 128\nquirks = [\"reversed-bit-order\"]\n",
    )
    .await;
    assert!(replaced.starts_with("HTTP/1.1 200"), "{replaced}");
    let profile = fleet.meters[1]
        .host
        .with_meter(|m| (m.profile().image_block_size, m.profile().quirks.len()));
    assert_eq!(profile, (128, 1));
    let refused = send(
        address,
        "PUT",
        "/meters/c-00002/profile",
        "image_block_size = 0\n",
    )
    .await;
    assert!(
        refused.starts_with("HTTP/1.1 400") && refused.contains("field image_block_size"),
        "{refused}"
    );
}

#[tokio::test]
async fn no_page_in_a_browser_and_no_one_without_the_token_changes_a_meter() {
    let token = "a-token-of-sixteen-chars";
    let (fleet, address) = started(
        "name = \"guard\"\nseed = 5\nfirst_address = \"127.3.1.1\"\n[image]\npart = 1\nversion = \"V\"\nsize = 1000\n[[population]]\nname = \"g\"\ncount = 1\n",
        Some(token),
    )
    .await;
    let reboot = |headers: String| async move {
        send_with(address, "POST", "/meters/g-00001/reboot", "", &headers).await
    };
    let json = "Content-Type: application/json\r\n";
    let bearer = format!("Authorization: Bearer {token}\r\n");
    // A form or text/plain POST, which a page may send across sites without asking.
    let plain = reboot(format!("Content-Type: text/plain\r\n{bearer}")).await;
    assert!(plain.starts_with("HTTP/1.1 415"), "{plain}");
    let foreign = reboot(format!("{json}{bearer}Origin: http://evil.example\r\n")).await;
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    let no_token = reboot(json.to_string()).await;
    assert!(no_token.starts_with("HTTP/1.1 401"), "{no_token}");
    assert!(!fleet.meters[0].host.with_meter(|m| m.is_offline()));
    // With the token, a head-end may name the endpoint as it reaches it.
    let named = format!("POST /meters/g-00001/faults HTTP/1.1\r\nHost: fleet.example:9059\r\n{json}{bearer}Connection: close\r\nContent-Length: 2\r\n\r\n{{}}");
    let out = raw(address, &named).await;
    assert!(out.starts_with("HTTP/1.1 202"), "{out}");
    // Reads need nothing; the right change goes through.
    assert!(http(address, "GET", "/meters")
        .await
        .starts_with("HTTP/1.1 200"));
    let done = reboot(format!("{json}{bearer}")).await;
    assert!(done.starts_with("HTTP/1.1 202"), "{done}");
    assert!(fleet.meters[0].host.with_meter(|m| m.is_offline()));
}

#[test]
fn an_endpoint_beyond_loopback_needs_a_token() {
    let outside: std::net::SocketAddr = "0.0.0.0:9059".parse().unwrap();
    let e = emulator::control::Guard::new(outside, None).unwrap_err();
    assert!(e.to_string().contains("give it a token"), "{e}");
    assert!(emulator::control::Guard::new(outside, Some("short".into())).is_err());
    assert!(emulator::control::Guard::new(outside, Some("x".repeat(16))).is_ok());
}
