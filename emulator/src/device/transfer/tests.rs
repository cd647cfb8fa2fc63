use super::*;
use crate::firmware::factory_parts;
use p256::ecdsa::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_slice(&[0x21; 32]).unwrap()
}

struct Bench {
    profile: MeterProfile,
    key: VerifyingKey,
    parts: Vec<FirmwarePart>,
    log: EventLog,
    now: u64,
    t: Transfer,
}

impl Bench {
    fn new(profile: MeterProfile) -> Self {
        Bench {
            profile,
            key: *key().verifying_key(),
            parts: factory_parts(),
            log: EventLog::default(),
            now: 1_700_000_000_000,
            t: Transfer::default(),
        }
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Transfer, &mut Ctx<'_>) -> T) -> T {
        let mut ctx = Ctx {
            profile: &self.profile,
            trusted_key: Some(&self.key),
            parts: &self.parts,
            log: &mut self.log,
            store: None,
            journal: None,
            now_ms: self.now,
        };
        f(&mut self.t, &mut ctx)
    }

    fn initiate(&mut self, id: &[u8], size: u32) -> R {
        self.run(|t, c| t.initiate(c, id, size))
    }

    fn block(&mut self, n: u32, bytes: &[u8]) -> R {
        self.run(|t, c| t.block(c, n, bytes))
    }

    fn send_all(&mut self, image: &[u8]) {
        let bs = self.profile.image_block_size as usize;
        for (n, chunk) in image.chunks(bs).enumerate() {
            assert_eq!(self.block(n as u32, chunk), R::SUCCESS, "block {n}");
        }
    }
}

fn signed(part: u8, payload_len: usize) -> Vec<u8> {
    image::build(&key(), part, b"APP-2.0.0", &vec![0x5A; payload_len]).unwrap()
}

#[test]
fn blocks_in_any_order_and_the_true_first_gap() {
    let mut b = Bench::new(MeterProfile::default());
    assert_eq!(b.initiate(b"img", 1024), R::SUCCESS);
    assert_eq!(b.t.status, ImageTransferStatus::Initiated);
    assert_eq!((b.t.block_count(), b.t.first_not_transferred()), (6, 0));
    assert_eq!(b.block(1, &[1; 200]), R::SUCCESS);
    assert_eq!(b.block(0, &[0; 200]), R::SUCCESS);
    assert_eq!(b.block(3, &[3; 200]), R::SUCCESS);
    assert_eq!(
        b.t.first_not_transferred(),
        2,
        "the first gap, not last + 1"
    );
    assert_eq!(
        b.block(3, &[3; 200]),
        R::SUCCESS,
        "a duplicate is idempotent"
    );
    assert_eq!(b.t.received.count_ones(), 3);
}

#[test]
fn out_of_range_and_wrong_lengths_are_refused_without_growing_the_bitmap() {
    let mut b = Bench::new(MeterProfile::default());
    b.initiate(b"img", 1024);
    assert_eq!(b.block(6, &[0; 24]), R::OTHER_REASON);
    assert_eq!(b.block(u32::MAX, &[0; 24]), R::OTHER_REASON);
    assert_eq!(b.block(0, &[0; 199]), R::OTHER_REASON);
    assert_eq!(b.t.received.len(), 6);
    assert_eq!(b.block(5, &[9; 24]), R::SUCCESS, "a short last block");
    assert_eq!(b.block(5, &[9; 200]), R::SUCCESS, "a padded last block");
    assert_eq!(b.block(5, &[9; 25]), R::OTHER_REASON);
}

#[test]
fn transfer_disabled_gives_the_profile_result() {
    let mut b = Bench::new(MeterProfile {
        disabled_result: 3,
        ..MeterProfile::default()
    });
    b.t.enabled = false;
    assert_eq!(b.initiate(b"img", 1024), R::READ_WRITE_DENIED);
    assert_eq!(b.t.status, ImageTransferStatus::NotInitiated);
}

#[test]
fn blocks_before_initiate_are_discarded() {
    let mut b = Bench::new(MeterProfile::default());
    assert_eq!(b.block(0, &[0; 200]), R::OTHER_REASON);
    assert!(b.t.received.is_empty());
}

#[test]
fn verify_with_missing_blocks_fails_and_leaves_info_empty() {
    let mut b = Bench::new(MeterProfile::default());
    b.initiate(b"img", 1024);
    b.block(0, &[0; 200]);
    assert_eq!(b.run(|t, c| t.verify(c)), R::OTHER_REASON);
    assert_eq!(b.t.status, ImageTransferStatus::VerificationFailed);
    assert!(b.t.to_activate.is_none());
    assert!(b
        .log
        .entries
        .last()
        .unwrap()
        .detail
        .contains("5 of 6 blocks missing"));
}

#[test]
fn signed_image_verifies_activates_and_keeps_the_old_slot() {
    let mut b = Bench::new(MeterProfile::default());
    let img = signed(1, 1000);
    b.initiate(b"APP-2.0.0", img.len() as u32);
    b.send_all(&img);
    assert_eq!(b.run(|t, c| t.verify(c)), R::SUCCESS);
    let info = b.t.to_activate.clone().unwrap();
    assert_eq!((info.size as usize, info.part), (img.len(), 1));
    assert_eq!(info.identification, b"APP-2.0.0");
    let (r, req) = b.run(|t, c| t.activate(c));
    assert_eq!(r, R::SUCCESS);
    assert_eq!(req.unwrap().image, info);
    assert_eq!(b.t.status, ImageTransferStatus::ActivationInitiated);
    let mut parts = b.parts.clone();
    b.run(|t, c| t.complete_activation(c, &mut parts, None));
    assert_eq!(b.t.status, ImageTransferStatus::ActivationSuccessful);
    assert_eq!(parts[1].active.identifier, b"APP-2.0.0");
    assert_eq!(parts[1].previous.as_ref().unwrap().identifier, b"APP-1.0.0");
    assert_eq!(
        b.log.codes(),
        [
            EventCode::TransferInitiated,
            EventCode::FirmwareReadyForActivation,
            EventCode::ActivationSucceeded
        ]
    );
}

#[test]
fn bad_signature_wrong_part_and_metrology_fail_verification_with_the_reason() {
    let cases: [(Vec<u8>, &str); 3] = [
        (
            image::corrupt(&signed(1, 500), image::Corruption::BadSignature, None).unwrap(),
            "bad signature",
        ),
        (signed(5, 500), "part 5 does not exist"),
        (signed(0, 500), "metrology) is protected"),
    ];
    for (img, reason) in cases {
        let mut b = Bench::new(MeterProfile::default());
        b.initiate(b"x", img.len() as u32);
        b.send_all(&img);
        assert_eq!(b.run(|t, c| t.verify(c)), R::OTHER_REASON, "{reason}");
        let detail = &b.log.entries.last().unwrap().detail;
        assert!(detail.contains(reason), "{detail} lacks {reason}");
    }
}

#[test]
fn an_image_verifies_only_once_its_prerequisites_run() {
    // The factory parts run MET-1.0.0, APP-1.0.0 and COM-1.0.0.
    for (needs, verifies) in [
        (&[(1, &b"APP-1.0.0"[..])][..], true),
        (&[(1, &b"APP-1.5.0"[..])][..], false),
        (&[(2, &b"COM-1.0.0"[..]), (1, &b"APP-1.0.0"[..])][..], true),
        (&[(2, &b"COM-1.10"[..])][..], false),
        (&[(7, &b"X-1"[..])][..], false),
    ] {
        let img =
            image::build_with_prerequisites(&key(), 1, b"APP-2.0.0", needs, &[1; 300]).unwrap();
        let mut b = Bench::new(MeterProfile::default());
        b.initiate(b"APP-2.0.0", img.len() as u32);
        b.send_all(&img);
        let result = b.run(|t, c| t.verify(c));
        assert_eq!(result == R::SUCCESS, verifies, "{needs:?}");
        if !verifies {
            let detail = &b.log.entries.last().unwrap().detail;
            assert!(detail.contains("prerequisite not met: part"), "{detail}");
        }
    }
}

#[test]
fn asynchronous_verify_answers_temporary_failure_then_completes() {
    let mut b = Bench::new(MeterProfile {
        verify_ms: 3000,
        ..MeterProfile::default()
    });
    let img = signed(1, 300);
    b.initiate(b"x", img.len() as u32);
    b.send_all(&img);
    assert_eq!(b.run(|t, c| t.verify(c)), R::TEMPORARY_FAILURE);
    assert_eq!(b.t.status, ImageTransferStatus::VerificationInitiated);
    assert_eq!(
        b.run(|t, c| t.verify(c)),
        R::TEMPORARY_FAILURE,
        "still running"
    );
    assert_eq!(b.run(|t, c| t.activate(c)).0, R::TEMPORARY_FAILURE);
    b.now += 3000;
    assert_eq!(b.t.poll_timeout(), Some(b.now));
    b.run(|t, c| t.handle_timeout(c));
    assert_eq!(b.t.status, ImageTransferStatus::VerificationSuccessful);
}

#[test]
fn activate_without_verify_verifies_implicitly() {
    let mut b = Bench::new(MeterProfile::default());
    let img = signed(2, 300);
    b.initiate(b"x", img.len() as u32);
    b.send_all(&img);
    let (r, req) = b.run(|t, c| t.activate(c));
    assert_eq!(r, R::SUCCESS);
    assert_eq!(req.unwrap().image.part, 2);
    let mut b = Bench::new(MeterProfile::default());
    b.initiate(b"x", 1000);
    assert_eq!(b.run(|t, c| t.activate(c)).0, R::OTHER_REASON);
    assert_eq!(b.t.status, ImageTransferStatus::VerificationFailed);
}

#[test]
fn failed_activation_rolls_back_with_status_7() {
    let mut b = Bench::new(MeterProfile::default());
    let img = signed(1, 300);
    b.initiate(b"x", img.len() as u32);
    b.send_all(&img);
    b.run(|t, c| t.activate(c));
    let mut parts = b.parts.clone();
    b.run(|t, c| t.complete_activation(c, &mut parts, Some("power loss during activation")));
    assert_eq!(b.t.status, ImageTransferStatus::ActivationFailed);
    assert_eq!(parts[1].active.identifier, b"APP-1.0.0");
    assert_eq!(
        b.log.codes().last(),
        Some(&EventCode::ActivationFailedRolledBack)
    );
}

#[test]
fn reinitiate_resets_or_resumes_by_profile() {
    let mut b = Bench::new(MeterProfile::default());
    b.initiate(b"img", 1024);
    b.block(0, &[0; 200]);
    b.initiate(b"img", 1024);
    assert_eq!(
        b.t.received.count_ones(),
        0,
        "strict reading: any initiate resets"
    );
    let mut b = Bench::new(MeterProfile {
        reinitiate: Reinitiate::ResumeIfSame,
        ..MeterProfile::default()
    });
    b.initiate(b"img", 1024);
    b.block(0, &[0; 200]);
    b.initiate(b"img", 1024);
    assert_eq!(
        b.t.received.count_ones(),
        1,
        "same identifier and size resumes"
    );
    b.initiate(b"other", 1024);
    assert_eq!(b.t.received.count_ones(), 0, "another identifier resets");
}

#[test]
fn opaque_images_are_accepted_only_by_profile() {
    let mut b = Bench::new(MeterProfile {
        accept_opaque_images: true,
        ..MeterProfile::default()
    });
    b.initiate(b"Gurux FW 1.2.3", 1024);
    b.send_all(&[0x11; 1024]);
    assert_eq!(b.run(|t, c| t.verify(c)), R::SUCCESS);
    let info = b.t.to_activate.clone().unwrap();
    assert_eq!(
        (info.part, info.identification.as_slice()),
        (1, &b"Gurux FW 1.2.3"[..])
    );
    let mut b = Bench::new(MeterProfile::default());
    b.initiate(b"Gurux FW 1.2.3", 1024);
    b.send_all(&[0x11; 1024]);
    assert_eq!(b.run(|t, c| t.verify(c)), R::OTHER_REASON);
}
