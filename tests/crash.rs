//! A meter killed for real (SIGKILL) in the middle of its activation reboot, then restarted on
//! the same state directory: it comes up on its old firmware with status 7, never stuck at 5.

mod common;

use common::{signed_image, spawn_listening};
use dlms::cosem::image_transfer::{self as it, attribute, method, ImageTransferStatus};
use dlms::cosem::{active_firmware_identifier, class};
use harness::session::Session;
use harness::target::{Target, Transport};
use harness::transfer::{Activation, Driver, Outcome, Plan};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `meterfleet emulate` on a free port, keeping its state in `dir`.
fn emulate(dir: &Path, trust: &Path, profile: &Path) -> (Child, u16) {
    spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_meterfleet"))
            .args(["emulate", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(dir)
            .arg("--trust-key")
            .arg(trust)
            .arg("--profile")
            .arg(profile)
            .stderr(Stdio::null()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_killed_during_its_activation_reboot_comes_up_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let (trust, image) = signed_image(dir.path(), "APP-2.0.0", 4_000);
    let profile = dir.path().join("slow-reboot.toml");
    // A reboot long enough to kill the process inside it.
    std::fs::write(&profile, "activation_reboot_ms = 30000\n").unwrap();
    let state = dir.path().join("state");
    let (mut meter, port) = emulate(&state, &trust, &profile);
    let target = Target::new(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Transport::Wrapper,
    );

    // Transfer and verify, then activate by hand: the meter answers and starts rebooting.
    let plan = Plan {
        activation: Activation::No,
        poll_interval: Duration::from_millis(50),
        ..Plan::new(std::fs::read(&image).unwrap(), b"APP-2.0.0")
    };
    let report = Driver::new(&target, &plan).run().await;
    assert_eq!(
        report.outcome,
        Outcome::ReadyForActivation,
        "{:?}",
        report.events
    );
    let mut session = Session::open(&target, false).await.unwrap();
    let outcome = session
        .action(
            it::method(method::IMAGE_ACTIVATE),
            Some(it::trigger_parameter()),
        )
        .await
        .unwrap();
    assert_eq!(outcome.result, dlms::apdu::DataAccessResult::SUCCESS);
    drop(session);

    // SIGKILL inside the 30 s reboot, with status 5 on disk.
    meter.kill().unwrap();
    meter.wait().unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    assert_eq!(on_disk["transfer"]["status"], "ActivationInitiated");

    let (mut meter, port) = emulate(&state, &trust, &profile);
    let target = Target::new(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Transport::Wrapper,
    );
    let mut session = Session::open(&target, false).await.unwrap();
    let status = session
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            attribute::IMAGE_TRANSFER_STATUS,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ImageTransferStatus::from_data(&status),
        Some(ImageTransferStatus::ActivationFailed)
    );
    let running = session
        .get(class::DATA, active_firmware_identifier(1), 2)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        running.as_bytes(),
        Some(&b"APP-2.0.0"[..]),
        "the old firmware runs"
    );
    let _ = meter.kill();
    let _ = meter.wait();
}
