//! The image transfer process of IC 18 as a pure state machine (docs/protocol.md#server-rules-at-the-edges, #status-transitions).
//!
//! It knows nothing of APDUs: the COSEM object decodes parameters and encodes results; this
//! module keeps the status, the received blocks and the image, and decides each result by the
//! meter's profile. Time is passed in as milliseconds.

use crate::blocks::{BlockStore, ImageData};
use crate::events::{EventCode, EventLog};
use crate::firmware::{Firmware, FirmwarePart};
use crate::journal::BlockJournal;
use crate::profile::{MeterProfile, Quirk, Reinitiate, Variant};
use bitvec::prelude::{BitVec, Msb0};
use dlms::apdu::DataAccessResult as R;
pub use dlms::cosem::image_transfer::ImageTransferStatus;
use dlms::image;
use p256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};

/// One entry of image_to_activate_info (attribute 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageToActivate {
    /// image_to_activate_size.
    pub size: u32,
    /// image_to_activate_identification.
    pub identification: Vec<u8>,
    /// image_to_activate_signature.
    pub signature: Vec<u8>,
    /// The firmware part the image replaces.
    pub part: u8,
}

/// The persistent state of the image transfer process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// image_transfer_enabled (attribute 5).
    pub enabled: bool,
    /// image_transfer_status (attribute 6).
    pub status: ImageTransferStatus,
    /// The identifier given at initiate.
    pub identifier: Vec<u8>,
    /// The image size given at initiate.
    pub size: u32,
    /// The block size in force since initiate.
    pub block_size: u32,
    /// One bit per block, block 0 first (attribute 3).
    pub received: BitVec<u8, Msb0>,
    /// The image bytes received so far (stored apart from the JSON state).
    #[serde(skip)]
    pub data: ImageData,
    /// The result of the last successful verification (attribute 7).
    pub to_activate: Option<ImageToActivate>,
    /// When an asynchronous verification ends.
    pub verify_due_ms: Option<u64>,
    /// The last block received (for the "last + 1" quirk).
    #[serde(default)]
    pub last_block: Option<u32>,
    /// Until when attribute 6 still reads 0 after initiate (a quirk).
    #[serde(default)]
    pub status_hidden_until_ms: Option<u64>,
    /// Which transfer this is: one more at each initiate that starts anew, so that blocks
    /// journalled for an earlier transfer are never taken for this one's.
    #[serde(default)]
    pub generation: u64,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            enabled: true,
            status: ImageTransferStatus::NotInitiated,
            identifier: Vec::new(),
            size: 0,
            block_size: 0,
            received: BitVec::new(),
            data: ImageData::default(),
            to_activate: None,
            verify_due_ms: None,
            last_block: None,
            status_hidden_until_ms: None,
            generation: 0,
        }
    }
}

/// What the meter must do after an activate that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRequest {
    /// The image that becomes active.
    pub image: ImageToActivate,
}

/// The context a transfer step needs: behaviour, trust, firmware and log.
pub struct Ctx<'a> {
    /// The meter's profile.
    pub profile: &'a MeterProfile,
    /// The key images must be signed with, if any.
    pub trusted_key: Option<&'a VerifyingKey>,
    /// The firmware parts.
    pub parts: &'a [FirmwarePart],
    /// The event log.
    pub log: &'a mut EventLog,
    /// The fleet's shared block store, if the meter is part of one.
    pub store: Option<&'a BlockStore>,
    /// Where accepted blocks are made durable before they are acknowledged, if anywhere.
    pub journal: Option<&'a mut (dyn BlockJournal + 'static)>,
    /// Meter time, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

impl Transfer {
    /// The number of blocks of the image being transferred.
    pub fn block_count(&self) -> u32 {
        if self.block_size == 0 {
            0
        } else {
            self.size.div_ceil(self.block_size)
        }
    }

    /// image_first_not_transferred_block_number (attribute 4): the first gap, or the block
    /// count when every block is there.
    pub fn first_not_transferred(&self) -> u32 {
        self.received
            .first_zero()
            .map_or(self.block_count(), |i| i as u32)
    }

    /// True when every block has arrived.
    pub fn complete(&self) -> bool {
        self.status != ImageTransferStatus::NotInitiated && self.received.all()
    }

    fn enabled_for_transfer(&self, ctx: &Ctx<'_>) -> Result<(), R> {
        if self.enabled || ctx.profile.has(Quirk::NoEnabledOrStatusChecks) {
            Ok(())
        } else {
            Err(R(ctx.profile.disabled_result))
        }
    }

    /// Method 1, image_transfer_initiate.
    pub fn initiate(&mut self, ctx: &mut Ctx<'_>, identifier: &[u8], size: u32) -> R {
        if let Err(r) = self.enabled_for_transfer(ctx) {
            return r;
        }
        if size == 0 || size > ctx.profile.max_image_size {
            return R::OTHER_REASON;
        }
        if let Some(required) = &ctx.profile.required_identifier {
            if identifier != required.as_bytes() {
                return R::OTHER_REASON;
            }
        }
        let same = identifier == self.identifier.as_slice() && size == self.size;
        let in_progress = matches!(
            self.status,
            ImageTransferStatus::Initiated
                | ImageTransferStatus::VerificationInitiated
                | ImageTransferStatus::VerificationSuccessful
        );
        if ctx.profile.reinitiate == Reinitiate::ResumeIfSame && same && in_progress {
            return R::SUCCESS;
        }
        let block_size = ctx.profile.image_block_size;
        *self = Transfer {
            enabled: self.enabled,
            status: ImageTransferStatus::Initiated,
            identifier: identifier.to_vec(),
            size,
            block_size,
            received: BitVec::repeat(false, size.div_ceil(block_size) as usize),
            data: ImageData::new(ctx.store, identifier, size, block_size),
            to_activate: None,
            verify_due_ms: None,
            last_block: None,
            status_hidden_until_ms: ctx
                .profile
                .has(Quirk::StatusStaysZeroAfterInitiate)
                .then_some(ctx.now_ms + 2000),
            generation: self.generation.wrapping_add(1),
        };
        ctx.log.record(
            ctx.now_ms,
            EventCode::TransferInitiated,
            format!(
                "{} bytes, identifier {}",
                size,
                String::from_utf8_lossy(identifier)
            ),
        );
        R::SUCCESS
    }

    /// Method 2, image_block_transfer.
    pub fn block(&mut self, ctx: &mut Ctx<'_>, number: u32, value: &[u8]) -> R {
        if let Err(r) = self.enabled_for_transfer(ctx) {
            return r;
        }
        if self.status != ImageTransferStatus::Initiated
            && !ctx.profile.has(Quirk::NoEnabledOrStatusChecks)
        {
            return R::OTHER_REASON;
        }
        let count = self.block_count();
        if number >= count {
            let dropped = ctx.profile.has(Quirk::NoRangeCheck) && count > 0;
            return if dropped { R::SUCCESS } else { R::OTHER_REASON };
        }
        let bs = self.block_size as usize;
        let start = number as usize * bs;
        let expected = (self.size as usize - start).min(bs);
        let is_last = number + 1 == count;
        let len = value.len();
        let accepted = if is_last && ctx.profile.varies(Variant::PaddedLastBlockRequired) {
            len == bs
        } else {
            len == expected || (is_last && ctx.profile.accept_padded_last_block && len == bs)
        };
        if !accepted {
            return R::OTHER_REASON;
        }
        if let Some(journal) = ctx.journal.as_deref_mut() {
            if let Err(e) = journal.append(self.generation, number, &value[..expected]) {
                ctx.log.record(
                    ctx.now_ms,
                    EventCode::StorageFailed,
                    format!("block {number} not stored: {e}"),
                );
                return R::HARDWARE_FAULT;
            }
        }
        self.last_block = Some(number);
        self.data.write_block(number, bs, &value[..expected]);
        self.received.set(number as usize, true);
        R::SUCCESS
    }

    /// Method 3, image_verify.
    pub fn verify(&mut self, ctx: &mut Ctx<'_>) -> R {
        if ctx.profile.verify_activate_need_enabled && !self.enabled {
            return R(ctx.profile.disabled_result);
        }
        match self.status {
            ImageTransferStatus::NotInitiated => R::OTHER_REASON,
            ImageTransferStatus::VerificationInitiated
                if ctx.profile.varies(Variant::HardwareFaultWhileVerifying) =>
            {
                R::HARDWARE_FAULT
            }
            ImageTransferStatus::VerificationInitiated => R::TEMPORARY_FAILURE,
            ImageTransferStatus::VerificationSuccessful => R::SUCCESS,
            ImageTransferStatus::Initiated | ImageTransferStatus::VerificationFailed => {
                if ctx.profile.verify_ms > 0 && self.complete() {
                    self.status = ImageTransferStatus::VerificationInitiated;
                    self.verify_due_ms = Some(ctx.now_ms + ctx.profile.verify_ms);
                    R::TEMPORARY_FAILURE
                } else if self.check(ctx) {
                    R::SUCCESS
                } else {
                    R::OTHER_REASON
                }
            }
            _ => R::OTHER_REASON,
        }
    }

    /// Ends an asynchronous verification whose time has come.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.status == ImageTransferStatus::VerificationInitiated
            && self.verify_due_ms.is_some_and(|due| ctx.now_ms >= due)
        {
            self.check(ctx);
        }
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        (self.status == ImageTransferStatus::VerificationInitiated)
            .then_some(self.verify_due_ms)
            .flatten()
    }

    /// Runs every check; sets status 3 with image_to_activate_info, or 4 and logs why.
    fn check(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.verify_due_ms = None;
        match self.inspect(ctx) {
            Ok(info) => {
                ctx.log.record(
                    ctx.now_ms,
                    EventCode::FirmwareReadyForActivation,
                    format!(
                        "part {}, version {}",
                        info.part,
                        String::from_utf8_lossy(&info.identification)
                    ),
                );
                self.to_activate = Some(info);
                self.status = ImageTransferStatus::VerificationSuccessful;
                true
            }
            Err(reason) => {
                ctx.log
                    .record(ctx.now_ms, EventCode::VerificationFailed, reason);
                self.to_activate = None;
                self.status = ImageTransferStatus::VerificationFailed;
                false
            }
        }
    }

    fn inspect(&self, ctx: &Ctx<'_>) -> Result<ImageToActivate, String> {
        if ctx
            .profile
            .varies(Variant::CorruptIdentifierFailsVerification)
            && self.identifier.ends_with(b".corrupt")
        {
            return Err("identifier marked .corrupt".into());
        }
        if !self.complete() && ctx.profile.has(Quirk::VerifyIgnoresMissingBlocks) {
            return Ok(ImageToActivate {
                size: self.size,
                identification: self.identifier.clone(),
                signature: Vec::new(),
                part: ctx.profile.default_part,
            });
        }
        if !self.complete() {
            let missing = self.received.count_zeros();
            return Err(format!(
                "incomplete: {missing} of {} blocks missing, first {}",
                self.block_count(),
                self.first_not_transferred()
            ));
        }
        let trusted_key = ctx
            .trusted_key
            .filter(|_| !ctx.profile.has(Quirk::NoSignatureCheck));
        let (part, identification, signature) = match self.data.check(trusted_key) {
            Ok(info) if ctx.trusted_key.is_some() => {
                unmet_prerequisite(ctx.parts, &info.prerequisites)?;
                (info.part, info.identifier, info.signature)
            }
            Ok(_) if !ctx.profile.accept_opaque_images => {
                return Err("signature: no trusted key configured".into())
            }
            Err(e) if !ctx.profile.accept_opaque_images => return Err(format!("image: {e}")),
            _ => (
                ctx.profile.default_part,
                self.identifier.clone(),
                Vec::new(),
            ),
        };
        if !ctx.parts.iter().any(|p| p.part == part) {
            return Err(format!("firmware part {part} does not exist on this meter"));
        }
        if part == 0 && !ctx.profile.metrology_upgradable {
            return Err("firmware part 0 (metrology) is protected".into());
        }
        Ok(ImageToActivate {
            size: self.size,
            identification,
            signature,
            part,
        })
    }

    /// Method 4, image_activate: verifies first if needed; on success the meter reboots into
    /// the new image (see [`Self::complete_activation`]).
    pub fn activate(&mut self, ctx: &mut Ctx<'_>) -> (R, Option<ActivationRequest>) {
        if ctx.profile.verify_activate_need_enabled && !self.enabled {
            return (R(ctx.profile.disabled_result), None);
        }
        let status = self.status;
        match status {
            ImageTransferStatus::VerificationInitiated => return (R::TEMPORARY_FAILURE, None),
            ImageTransferStatus::Initiated if ctx.profile.has(Quirk::NoImplicitVerify) => {
                return (R::OTHER_REASON, None)
            }
            ImageTransferStatus::Initiated if !self.check(ctx) => return (R::OTHER_REASON, None),
            ImageTransferStatus::Initiated | ImageTransferStatus::VerificationSuccessful => {}
            _ => return (R::OTHER_REASON, None),
        }
        let image = self.to_activate.clone().expect("verified");
        self.status = ImageTransferStatus::ActivationInitiated;
        (R::SUCCESS, Some(ActivationRequest { image }))
    }

    /// Called when the meter comes back from the activation reboot: installs the image in its
    /// part (keeping the old one) or, if `fail`, rolls back with status 7.
    pub fn complete_activation(
        &mut self,
        ctx: &mut Ctx<'_>,
        parts: &mut [FirmwarePart],
        fail: Option<&str>,
    ) {
        let Some(image) = self.to_activate.clone() else {
            return;
        };
        if let Some(why) = fail {
            self.status = ImageTransferStatus::ActivationFailed;
            ctx.log.record(
                ctx.now_ms,
                EventCode::ActivationFailedRolledBack,
                format!("part {}: {why}; running version kept", image.part),
            );
            return;
        }
        if let Some(p) = parts.iter_mut().find(|p| p.part == image.part) {
            let new = Firmware {
                identifier: image.identification.clone(),
                signature: image.signature.clone(),
            };
            p.previous = Some(std::mem::replace(&mut p.active, new));
        }
        ctx.log.record(
            ctx.now_ms,
            EventCode::ActivationSucceeded,
            format!(
                "part {} now runs {}",
                image.part,
                String::from_utf8_lossy(&image.identification)
            ),
        );
        if ctx.profile.status_after_activation == 0 {
            *self = Transfer {
                enabled: self.enabled,
                generation: self.generation,
                ..Transfer::default()
            };
        } else {
            self.status = ImageTransferStatus::ActivationSuccessful;
        }
    }

    /// A reboot that is not an activation: an interrupted verification starts over (and a meter
    /// with the "forgets blocks" quirk loses every block it had).
    pub fn after_reboot(&mut self, profile: &MeterProfile) {
        if self.status == ImageTransferStatus::VerificationInitiated {
            self.status = ImageTransferStatus::Initiated;
            self.verify_due_ms = None;
        }
        if profile.has(Quirk::ForgetsBlocksOnReboot)
            && matches!(
                self.status,
                ImageTransferStatus::Initiated | ImageTransferStatus::VerificationFailed
            )
        {
            self.received.fill(false);
            self.status = ImageTransferStatus::Initiated;
            self.last_block = None;
        }
    }
}

/// Refuses an image whose prerequisites the meter's parts do not meet: each names a part and
/// the least version it must run ([`image::version_cmp`]).
fn unmet_prerequisite(
    parts: &[FirmwarePart],
    prerequisites: &[(u8, Vec<u8>)],
) -> Result<(), String> {
    for (needed, least) in prerequisites {
        let running = parts.iter().find(|p| p.part == *needed);
        let met = running.is_some_and(|p| {
            image::version_cmp(&p.active.identifier, least) != std::cmp::Ordering::Less
        });
        if !met {
            return Err(format!(
                "prerequisite not met: part {needed} must run at least {}, runs {}",
                String::from_utf8_lossy(least),
                running.map_or("nothing".into(), |p| String::from_utf8_lossy(
                    &p.active.identifier
                )
                .into_owned())
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
