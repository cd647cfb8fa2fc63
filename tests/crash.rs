//! `meterfleet emulate --state-dir` killed for real (SIGKILL) and starved of disk: no block it
//! acknowledged is lost, a change it could not store is not acknowledged, and a kill inside
//! its activation reboot brings it up on its old firmware with status 7, never stuck at 5; a
//! kill during an asynchronous verification leaves a transfer that verifies, never stuck at 2.

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

/// `meterfleet emulate` keeping its state in `dir`, where no file may pass `blocks` × 512
/// bytes (`ulimit -f`); SIGXFSZ is ignored, so a write past the limit fails instead.
fn emulate_with_file_limit(dir: &Path, trust: &Path, blocks: u32) -> (Child, u16) {
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec '{}' emulate --listen 127.0.0.1:0 --state-dir '{}' --trust-key '{}'",
        env!("CARGO_BIN_EXE_meterfleet"),
        dir.display(),
        trust.display()
    );
    spawn_listening(
        Command::new("sh")
            .args(["-c", &script])
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
    let target = common::as_management(Target::new(
        format!("127.0.0.1:{port}")
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        Transport::Wrapper,
    ));

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
    let target = common::as_management(Target::new(
        format!("127.0.0.1:{port}")
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        Transport::Wrapper,
    ));
    let mut session = Session::open(&target, false).await.unwrap();
    assert_eq!(
        transfer_status(&mut session).await,
        ImageTransferStatus::ActivationFailed
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_killed_during_verification_verifies_after_the_restart() {
    let bench = Bench::new();
    // Verification takes 3 s: long enough to kill the meter in the middle of it.
    std::fs::write(&bench.profile, "verify_ms = 3000\n").unwrap();
    let t = &bench.transfer;
    let (mut meter, port) = bench.emulate();
    let mut session = Transfer::connect(port).await;
    t.initiate(&mut session).await;
    for n in 0..t.blocks() {
        assert!(t.send(&mut session, n).await, "block {n}");
    }
    let verify = session
        .action(
            it::method(method::IMAGE_VERIFY),
            Some(it::trigger_parameter()),
        )
        .await
        .unwrap();
    assert_eq!(
        verify.result,
        dlms::apdu::DataAccessResult::TEMPORARY_FAILURE
    );
    assert_eq!(
        transfer_status(&mut session).await,
        ImageTransferStatus::VerificationInitiated
    );
    meter.kill().unwrap();
    meter.wait().unwrap();

    let (mut meter, port) = bench.emulate();
    let mut session = Transfer::connect(port).await;
    assert_eq!(
        t.held(&mut session).await.len() as u32,
        t.blocks(),
        "every block kept"
    );
    // Whatever the meter did with the interrupted verification, asking again ends in success.
    let mut status = transfer_status(&mut session).await;
    for _ in 0..100 {
        if status == ImageTransferStatus::VerificationSuccessful {
            break;
        }
        if status == ImageTransferStatus::Initiated {
            session
                .action(
                    it::method(method::IMAGE_VERIFY),
                    Some(it::trigger_parameter()),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = transfer_status(&mut session).await;
    }
    assert_eq!(status, ImageTransferStatus::VerificationSuccessful);
    let _ = meter.kill();
    let _ = meter.wait();
}

/// image_transfer_status (attribute 6).
async fn transfer_status(session: &mut Session) -> ImageTransferStatus {
    let status = session
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            attribute::IMAGE_TRANSFER_STATUS,
        )
        .await
        .unwrap()
        .unwrap();
    ImageTransferStatus::from_data(&status).unwrap()
}

/// A meter's transfer driven block by block, as a head-end does.
struct Transfer {
    image: Vec<u8>,
    block_size: usize,
}

/// A signed image of 11,800 bytes (60 blocks of 200), a default profile and a state directory.
struct Bench {
    _dir: tempfile::TempDir,
    trust: std::path::PathBuf,
    profile: std::path::PathBuf,
    state: std::path::PathBuf,
    transfer: Transfer,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (trust, image) = signed_image(dir.path(), "APP-2.0.0", 11_800);
        let profile = dir.path().join("profile.toml");
        std::fs::write(&profile, "").unwrap();
        Bench {
            state: dir.path().join("state"),
            transfer: Transfer {
                image: std::fs::read(&image).unwrap(),
                block_size: 200,
            },
            trust,
            profile,
            _dir: dir,
        }
    }

    fn emulate(&self) -> (Child, u16) {
        emulate(&self.state, &self.trust, &self.profile)
    }
}

impl Transfer {
    fn blocks(&self) -> u32 {
        self.image.len().div_ceil(self.block_size) as u32
    }

    async fn connect(port: u16) -> Session {
        let target = common::as_management(Target::new(
            format!("127.0.0.1:{port}")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
            Transport::Wrapper,
        ));
        Session::open(&target, false).await.unwrap()
    }

    async fn initiate(&self, session: &mut Session) {
        let params = it::initiate_parameters(b"APP-2.0.0", self.image.len() as u32);
        let outcome = session
            .action(it::method(method::IMAGE_TRANSFER_INITIATE), Some(params))
            .await
            .unwrap();
        assert_eq!(outcome.result, dlms::apdu::DataAccessResult::SUCCESS);
    }

    /// Sends block `n`; true when the meter acknowledged it.
    async fn send(&self, session: &mut Session, n: u32) -> bool {
        let start = n as usize * self.block_size;
        let end = (start + self.block_size).min(self.image.len());
        let params = it::block_parameters(n, &self.image[start..end]);
        let outcome = session
            .action(it::method(method::IMAGE_BLOCK_TRANSFER), Some(params))
            .await
            .unwrap();
        outcome.result == dlms::apdu::DataAccessResult::SUCCESS
    }

    /// The blocks the meter says it holds (attribute 3).
    async fn held(&self, session: &mut Session) -> Vec<u32> {
        let bits = session
            .get(
                it::CLASS_ID,
                it::LOGICAL_NAME,
                attribute::TRANSFERRED_BLOCKS_STATUS,
            )
            .await
            .unwrap()
            .unwrap();
        let dlms::Data::BitString(bits) = bits else {
            panic!("attribute 3 is {bits:?}")
        };
        (0..self.blocks())
            .filter(|&n| bits.get(n as usize) == Some(true))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_block_is_lost_to_sigkill_at_seeded_points() {
    use rand::{Rng, SeedableRng};
    let bench = Bench::new();
    let transfer = &bench.transfer;
    let (mut meter, port) = bench.emulate();
    let mut session = Transfer::connect(port).await;
    transfer.initiate(&mut session).await;
    let mut acknowledged = std::collections::BTreeSet::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261128);
    let mut next = 0;
    const KILLS: usize = 6;
    for _ in 0..KILLS {
        // Some blocks, then SIGKILL right after the last acknowledgement.
        let burst = rng.gen_range(1..=12);
        for _ in 0..burst {
            if next < transfer.blocks() && transfer.send(&mut session, next).await {
                acknowledged.insert(next);
            }
            next += 1;
        }
        drop(session);
        meter.kill().unwrap();
        meter.wait().unwrap();
        let restarted = bench.emulate();
        meter = restarted.0;
        session = Transfer::connect(restarted.1).await;
        let held: std::collections::BTreeSet<u32> =
            transfer.held(&mut session).await.into_iter().collect();
        assert!(
            held.is_superset(&acknowledged),
            "acknowledged {acknowledged:?}, the restarted meter holds {held:?}"
        );
    }
    assert!(acknowledged.len() >= KILLS, "{acknowledged:?}");
    let _ = meter.kill();
    let _ = meter.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_the_disk_cannot_take_is_refused_and_the_rest_survive() {
    let bench = Bench::new();
    let transfer = &bench.transfer;
    // 12 KiB a file: image.bin (11,800 bytes) fits, the journal of 220-byte records does not.
    let (mut meter, port) = emulate_with_file_limit(&bench.state, &bench.trust, 24);
    let mut session = Transfer::connect(port).await;
    transfer.initiate(&mut session).await;
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for n in 0..transfer.blocks() {
        if transfer.send(&mut session, n).await {
            acknowledged.push(n);
        } else {
            refused.push(n);
        }
    }
    assert!(!refused.is_empty(), "the disk filled up");
    assert_eq!(
        transfer.held(&mut session).await,
        acknowledged,
        "refused blocks stay missing"
    );
    drop(session);
    meter.kill().unwrap();
    meter.wait().unwrap();
    let (mut meter, port) = bench.emulate();
    let mut session = Transfer::connect(port).await;
    assert_eq!(
        transfer.held(&mut session).await,
        acknowledged,
        "and survive a restart"
    );
    let _ = meter.kill();
    let _ = meter.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_meter_cannot_store_is_not_acknowledged() {
    let bench = Bench::new();
    // No file may pass 512 bytes: state.json cannot be saved.
    let (mut meter, port) = emulate_with_file_limit(&bench.state, &bench.trust, 1);
    let mut target = common::as_management(Target::new(
        format!("127.0.0.1:{port}")
            .parse::<std::net::SocketAddr>()
            .unwrap(),
        Transport::Wrapper,
    ));
    target.request_timeout = Duration::from_secs(1);
    let mut session = Session::open(&target, false).await.unwrap();
    let size = bench.transfer.image.len() as u32;
    let initiated = session
        .action(
            it::method(method::IMAGE_TRANSFER_INITIATE),
            Some(it::initiate_parameters(b"APP-2.0.0", size)),
        )
        .await;
    assert!(
        matches!(
            initiated,
            Err(harness::session::SessionError::Link(
                harness::connection::LinkFailure::Timeout(_)
            ))
        ),
        "no reply to an initiate the meter could not store: {initiated:?}"
    );
    let _ = meter.kill();
    let _ = meter.wait();
}
