//! The image transfer helpers of case steps: initiate, send blocks, fill gaps, verify and
//! activate with polling, scheduled activation, waiting for a status (docs/protocol.md#the-transfer-process).

use super::case_transfer::Transfer;
use super::check::Observed;
use super::engine::{Run, Stop};
use super::object_ref::ObjectRef;
use super::step::{range_end, BlockSelection, Expect, ImageKind, Initiate, Poll, WaitStatus};
use super::value::Var;
use crate::target::TestImage;
use dlms::cosem::image_transfer::{
    self as it, attribute as a, method as m, ImageTransferStatus as S,
};
use dlms::cosem::schedule;
use dlms::Data;
use rand::{RngCore, SeedableRng};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attribute or method `index` of the image transfer object.
fn image_transfer(index: i8) -> ObjectRef {
    ObjectRef {
        class_id: it::CLASS_ID,
        obis: it::LOGICAL_NAME,
        index,
        part_in_b: false,
    }
}

/// The most blocks one `send` step sends, so a bad range cannot run for ever.
const MAX_BLOCKS_PER_STEP: usize = 100_000;
/// The largest opaque test image the harness builds, whatever block size a meter reports.
const MAX_OPAQUE_IMAGE: u64 = 64 * 1024 * 1024;
/// How long a step polls or waits when neither it nor the target says.
pub(crate) const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
/// Gap-filling passes before fill_gaps gives up.
const GAP_PASSES: usize = 5;

/// Opaque test bytes of `len` from the case seed, with an identifier naming the seed.
fn opaque_image(seed: u64, len: usize) -> TestImage {
    let mut bytes = vec![0; len];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    let identifier = format!("MFTEST-{:08X}", seed as u32).into_bytes();
    TestImage {
        bytes: Arc::new(bytes),
        version: identifier.clone(),
        identifier,
    }
}

impl Run<'_> {
    pub(crate) async fn initiate(&mut self, spec: &Initiate) -> Result<Observed, Stop> {
        let size_read = self.get(&image_transfer(a::IMAGE_BLOCK_SIZE)).await?;
        let block_size = match size_read.value.as_ref() {
            Some(Data::DoubleLongUnsigned(n))
                if u64::from(*n) > crate::transfer::MAX_BLOCK_SIZE =>
            {
                // Not a deviation: the harness cannot build such blocks.
                return Err(Stop::Error(format!(
                    "image_block_size {n} is over the harness's limit of {}",
                    crate::transfer::MAX_BLOCK_SIZE
                )));
            }
            Some(Data::DoubleLongUnsigned(n)) if *n > 0 => *n,
            _ => {
                return Ok(Observed {
                    result: Some("unusable-block-size".into()),
                    detail: Some(format!("image_block_size read as {}", size_read.summary())),
                    ..Observed::default()
                })
            }
        };
        let images = &self.target.images;
        let image = match spec.image {
            ImageKind::Opaque => {
                let blocks = spec.blocks.unwrap_or(5) as u64;
                let bs = block_size as u64;
                let len = bs * (blocks - 1) + (bs / 2).max(1);
                if len > MAX_OPAQUE_IMAGE {
                    return Ok(Observed {
                        result: Some("unusable-block-size".into()),
                        detail: Some(format!(
                            "{blocks} blocks of image_block_size {bs} make {len} bytes; the harness builds test images of at most {MAX_OPAQUE_IMAGE}"
                        )),
                        ..Observed::default()
                    });
                }
                opaque_image(self.seed, len as usize)
            }
            ImageKind::Valid => need(&images.valid, "valid-image")?,
            ImageKind::BadSignature => need(&images.bad_signature, "bad-signature-image")?,
            ImageKind::WrongPart => need(&images.wrong_part, "wrong-part-image")?,
            ImageKind::Metrology => need(&images.metrology, "metrology-image")?,
        };
        // The case's own identifier, else the one the vendor declares, else the image's.
        let mut identifier = match (&spec.identifier, &self.target.statement.image_identifier) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(declared)) => declared.clone(),
            (None, None) => image.identifier.clone(),
        };
        if let Some(suffix) = &spec.identifier_suffix {
            identifier.extend_from_slice(suffix.as_bytes());
        }
        let size = image.bytes.len() as u32;
        let block_count = size.div_ceil(block_size);
        self.set_var("block_size", Var::Num(block_size as u64));
        self.set_var("block_count", Var::Num(block_count as u64));
        self.set_var("image_size", Var::Num(size as u64));
        self.set_var("identifier", Var::Bytes(identifier.clone()));
        self.set_var("version", Var::Bytes(image.version.clone()));
        self.transfer = Some(Transfer {
            image: image.bytes.clone(),
            block_size,
            block_count,
            sent: BTreeSet::new(),
        });
        if spec.enable {
            self.enable_transfer().await?;
        }
        let params = it::initiate_parameters(&identifier, size);
        self.invoke(&image_transfer(m::IMAGE_TRANSFER_INITIATE), Some(params))
            .await
    }

    /// Writes image_transfer_enabled TRUE when it reads FALSE, as a head-end does before it
    /// initiates (a meter may ship with transfers disabled), and notes it in the exchange.
    async fn enable_transfer(&mut self) -> Result<(), Stop> {
        let enabled = image_transfer(a::IMAGE_TRANSFER_ENABLED);
        let read = self.get(&enabled).await?;
        if read.value != Some(Data::Boolean(false)) {
            return Ok(());
        }
        let written = self.set(&enabled, &Data::Boolean(true)).await?;
        self.note(format!(
            "image_transfer_enabled read FALSE: written TRUE before initiate ({})",
            written.summary()
        ));
        Ok(())
    }

    pub(crate) fn block_numbers(&self, selection: &BlockSelection) -> Result<Vec<u32>, Stop> {
        let count = self
            .transfer
            .as_ref()
            .ok_or_else(|| Stop::Error("send needs an initiate step first".into()))?
            .block_count;
        let eval = |n: &super::value::NumSpec| -> Result<u32, Stop> {
            let v = n.eval(&self.vars).map_err(Stop::Error)?;
            u32::try_from(v).map_err(|_| Stop::Error(format!("block number {v} is out of range")))
        };
        let numbers: Vec<u32> = match selection {
            BlockSelection::Text(t) if t == "all" => (0..count).collect(),
            BlockSelection::Text(t) => {
                let (a, b) = t.split_once("..").expect("validated range");
                let from = eval(&range_end(a).map_err(Stop::Error)?)?;
                let to = eval(&range_end(b).map_err(Stop::Error)?)?;
                (from..to).collect()
            }
            BlockSelection::List(items) => items.iter().map(eval).collect::<Result<_, _>>()?,
        };
        if numbers.len() > MAX_BLOCKS_PER_STEP {
            return Err(Stop::Error(format!(
                "{} blocks in one step; at most {MAX_BLOCKS_PER_STEP}",
                numbers.len()
            )));
        }
        Ok(numbers)
    }

    /// Sends the blocks; stops at the first result `expect` does not accept.
    pub(crate) async fn send(
        &mut self,
        numbers: &[u32],
        pad_last: Option<bool>,
        expect: &Expect,
    ) -> Result<Observed, Stop> {
        let mut last = Observed::result("success");
        let pad_last = pad_last.unwrap_or(self.target.statement.pad_last_block);
        for &n in numbers {
            let transfer = self.transfer.as_ref().expect("checked in block_numbers");
            let bs = transfer.block_size as usize;
            let start = n as usize * bs;
            let mut block = match transfer.image.get(start..) {
                Some(rest) if n < transfer.block_count => rest[..rest.len().min(bs)].to_vec(),
                // Past the end: a full block of zeros, to probe the range check.
                _ => vec![0; bs],
            };
            if pad_last && n.checked_add(1) == Some(transfer.block_count) {
                block.resize(bs, 0);
            }
            let params = it::block_parameters(n, &block);
            let mut observed = self
                .invoke(&image_transfer(m::IMAGE_BLOCK_TRANSFER), Some(params))
                .await?;
            let accepted = observed.result.as_deref() == Some("success");
            if let Some(t) = self
                .transfer
                .as_mut()
                .filter(|t| accepted && n < t.block_count)
            {
                t.sent.insert(n);
            }
            observed.detail = Some(format!("block {n}"));
            let result = observed.result.as_deref().unwrap_or("none");
            if observed.link_failure.is_some() || !expect.accepts(result, true) {
                return Ok(observed);
            }
            last = observed;
        }
        Ok(last)
    }

    pub(crate) async fn fill_gaps(&mut self) -> Result<Observed, Stop> {
        let count = self
            .transfer
            .as_ref()
            .ok_or_else(|| Stop::Error("fill_gaps needs an initiate step first".into()))?
            .block_count;
        for _ in 0..GAP_PASSES {
            let read = self
                .get(&image_transfer(a::TRANSFERRED_BLOCKS_STATUS))
                .await?;
            let missing: Vec<u32> = match &read.value {
                Some(Data::BitString(bits)) => (0..count)
                    .filter(|&i| bits.get(i as usize) != Some(true))
                    .collect(),
                _ => {
                    return Ok(Observed {
                        result: Some("no-bitmap".into()),
                        detail: Some(read.summary()),
                        ..Observed::default()
                    })
                }
            };
            if missing.is_empty() {
                return Ok(Observed::result("success"));
            }
            let sent = self.send(&missing, None, &Expect::default()).await?;
            if sent.result.as_deref() != Some("success") {
                return Ok(sent);
            }
        }
        Ok(Observed {
            result: Some("incomplete".into()),
            detail: Some(format!("blocks still missing after {GAP_PASSES} passes")),
            ..Observed::default()
        })
    }

    /// Reads image_transfer_status once; a connection failure drops the session.
    async fn read_status(&mut self) -> Option<u8> {
        if self.session.is_none() {
            let target = self.target.main.clone();
            let opened = crate::session::Session::open_with(
                &target,
                &Default::default(),
                true,
                &mut Vec::new(),
            )
            .await;
            self.session = Some(opened.ok()?);
        }
        let session = self.session.as_mut().expect("open");
        match session
            .get(it::CLASS_ID, it::LOGICAL_NAME, a::IMAGE_TRANSFER_STATUS)
            .await
        {
            Ok(Ok(value)) => value.as_u64().map(|s| s as u8),
            Ok(Err(_)) => None,
            Err(_) => {
                self.drop_session();
                None
            }
        }
    }

    /// Polls image_transfer_status while it is in `busy` (or unreadable), until `within`.
    async fn poll_status(&mut self, busy: &[u8], within: Duration, every: Duration) -> Option<u8> {
        let deadline = Instant::now() + within;
        let mut last = None;
        loop {
            if let Some(s) = self.read_status().await {
                last = Some(s);
                if !busy.contains(&s) {
                    return last;
                }
            }
            if Instant::now() >= deadline {
                return last;
            }
            tokio::time::sleep(every).await;
        }
    }

    pub(crate) async fn verify(&mut self, p: &Poll) -> Result<Observed, Stop> {
        let mut observed = self
            .invoke(
                &image_transfer(m::IMAGE_VERIFY),
                Some(it::trigger_parameter()),
            )
            .await?;
        if observed.link_failure.is_some() {
            return Ok(observed);
        }
        // CONNEXO: poll the status on temporary-failure instead of verifying again.
        let busy: &[u8] = if observed.result.as_deref() == Some("temporary-failure") {
            &[S::VerificationInitiated.value()]
        } else {
            &[]
        };
        let within = p
            .within_s
            .map(Duration::from_secs)
            .or(self.target.main.deadlines.verify)
            .unwrap_or(DEFAULT_WITHIN);
        observed.status = self
            .poll_status(busy, within, Duration::from_millis(p.poll_ms))
            .await;
        Ok(observed)
    }

    pub(crate) async fn activate(&mut self, p: &Poll) -> Result<Observed, Stop> {
        let lost_before = self.connections_lost;
        let reply_wait = Duration::from_secs(p.reply_s);
        let invoked = tokio::time::timeout(
            reply_wait,
            self.invoke(
                &image_transfer(m::IMAGE_ACTIVATE),
                Some(it::trigger_parameter()),
            ),
        )
        .await;
        let mut observed = match invoked {
            Ok(result) => result?,
            Err(_) => Observed::result("no-reply"),
        };
        if observed.result.as_deref() == Some("no-reply") {
            // A reboot without a reply is behaviour, not a broken run (GX-WEB).
            observed.link_failure = None;
            observed.detail = Some(format!("no reply within {} s", p.reply_s));
            self.drop_session();
        }
        // An accepted activation may not have left status 3 yet when the first read comes:
        // only a final state ends the wait.
        let accepted = matches!(
            observed.result.as_deref(),
            Some("success" | "temporary-failure" | "no-reply")
        );
        let mut busy = vec![
            S::VerificationInitiated.value(),
            S::ActivationInitiated.value(),
        ];
        if accepted {
            busy.push(S::VerificationSuccessful.value());
        }
        let within = self.reconnect_within(p);
        observed.status = self
            .poll_status(&busy, within, Duration::from_millis(p.poll_ms))
            .await;
        observed.rebooted = Some(self.connections_lost > lost_before);
        Ok(observed)
    }

    /// Sets the activation scheduler to run `in_s` seconds after the time the meter's own clock
    /// reads (the schedule compares with that clock, not the harness's).
    pub(crate) async fn schedule_activation(&mut self, in_s: u64) -> Result<Observed, Stop> {
        let clock = ObjectRef::parse("clock_time").expect("a known name");
        let read = self.get(&clock).await?;
        let now = match &read.value {
            Some(Data::DateTime(d)) => Some(*d),
            Some(v) => v
                .as_bytes()
                .and_then(|b| dlms::axdr::DateTime::from_bytes(b).ok()),
            None => None,
        };
        let Some(at) = now.and_then(|n| n.plus_seconds(in_s)) else {
            return Err(Stop::Skip(format!(
                "the meter's clock gives no time to schedule from ({})",
                read.summary()
            )));
        };
        let value = schedule::execution_time_at(&at);
        let scheduler =
            ObjectRef::parse("activation_scheduler_execution_time").expect("a known name");
        self.set(&scheduler, &value).await
    }

    pub(crate) async fn wait_status(&mut self, w: &WaitStatus) -> Result<Observed, Stop> {
        let want = w.status.to_vec();
        let busy: Vec<u8> = (0..=u8::MAX).filter(|s| !want.contains(s)).collect();
        let status = self
            .poll_status(
                &busy,
                Duration::from_secs(w.within_s),
                Duration::from_millis(250),
            )
            .await;
        Ok(Observed {
            status,
            ..Observed::default()
        })
    }
}

fn need(image: &Option<TestImage>, capability: &str) -> Result<TestImage, Stop> {
    image.clone().ok_or_else(|| {
        Stop::Error(format!(
            "the case uses this image: add needs = [\"{capability}\"]"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_images_replay_from_the_seed() {
        let a = opaque_image(7, 900);
        assert_eq!(a, opaque_image(7, 900));
        assert_ne!(a.bytes, opaque_image(8, 900).bytes);
        assert_eq!(a.identifier, b"MFTEST-00000007");
    }
}
