//! A fleet's control endpoint and metrics, over plain HTTP on loopback.

use emulator::scenario::Scenario;
use p256::ecdsa::SigningKey;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(address: std::net::SocketAddr, method: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn the_control_endpoint_lists_shows_reboots_and_counts() {
    let scenario = Scenario::from_toml(
        "name = \"ctl\"\nseed = 5\nfirst_address = \"127.3.0.1\"\n[image]\npart = 1\nversion = \"V\"\nsize = 1000\n[[population]]\nname = \"c\"\ncount = 3\nfaults = { lose_block = 1.0 }\n",
        "test",
    )
    .unwrap();
    let key = *SigningKey::from_slice(&[9; 32]).unwrap().verifying_key();
    let fleet = Arc::new(emulator::fleet::start(&scenario, key, key).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(emulator::control::serve(listener, fleet.clone()));

    let metrics = http(address, "GET", "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("meterfleet_meters{status=\"0\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE meterfleet_faults_injected_total counter"),
        "{metrics}"
    );
    assert!(!metrics.contains("c-00001"), "no label per meter");

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

    let reboot = http(address, "POST", "/meters/c-00003/reboot").await;
    assert!(reboot.starts_with("HTTP/1.1 202"), "{reboot}");
    assert!(fleet.meters[2].host.with_meter(|m| m.is_offline()));
    let metrics = http(address, "GET", "/metrics").await;
    assert!(metrics.contains("meterfleet_meters_offline 1"), "{metrics}");
    assert!(metrics.contains("meterfleet_reboots_total 1"), "{metrics}");
}
