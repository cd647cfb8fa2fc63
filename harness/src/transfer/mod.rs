//! The image transfer driver: a head-end's careful upgrade of one meter (docs/protocol.md#the-transfer-process,
//! OSGP-ADP and CONNEXO flows), with every branch a real meter forces:
//!
//! 1. read image_block_size and check it fits the negotiated PDU;
//! 2. read image_transfer_enabled and enable it when allowed;
//! 3. initiate, or resume what this run already started (after a cut or a reboot), or skip to
//!    activation if the meter already holds this image verified;
//! 4. send the blocks, the last one short unless padding is asked for;
//! 5. read the bit-string (attribute 4 when 3 cannot be read) and resend the gaps, in passes;
//! 6. verify, polling image_transfer_status on temporary-failure instead of verifying again;
//! 7. read image_to_activate_info and compare it;
//! 8. activate now, or through the activation scheduler 0-0:15.0.2.255;
//! 9. survive the reboot: reconnect with backoff and confirm the active firmware identifier.
//!
//! Connection failures are retried (reconnecting with backoff, bounded by a deadline); a
//! verification failure or a refused image ends the transfer with a clear verdict.

mod report;

pub use report::{unix_seconds, Event, Evidence, Outcome, Phase, Report, Step};

use crate::session::{Session, SessionError};
use crate::target::Target;
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::EncodedData;
use dlms::cosem::image_transfer::{
    self as it, attribute as attr, method as m, ImageToActivateInfo, ImageTransferStatus as S,
};
use dlms::cosem::{active_firmware_identifier, class, schedule, ACTIVATION_SCHEDULER};
use dlms::Data;
use std::time::{Duration, Instant};

/// When to activate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Right after verification.
    Now,
    /// Through the activation scheduler, at this time (Unix seconds, UTC).
    At(u64),
    /// Not at all: stop once the image is verified.
    No,
}

/// How the blocks go to the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockService {
    /// One confirmed ACTION per block, each answered before the next: what every meter takes.
    Confirmed,
    /// Unconfirmed ACTIONs (service-class bit clear), `burst` blocks per write and no replies;
    /// the bit-string read after each pass shows what landed, as a multicast transfer checks
    /// (docs/protocol.md#idis-upgrade-objects). Over the wrapper only; a meter that takes none of a pass gets
    /// the rest confirmed.
    Unconfirmed {
        /// Blocks per write.
        burst: u32,
    },
    /// Each block once to a whole group (multicast, or all stations behind a gateway), with
    /// unicast repair rounds ([`crate::campaign::group`]); a campaign runs it before its
    /// drivers, which send what is still missing confirmed.
    Group(crate::campaign::group::GroupDelivery),
}

/// What to transfer and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The image.
    pub image: std::sync::Arc<Vec<u8>>,
    /// The image identifier for initiate.
    pub identifier: Vec<u8>,
    /// The version the target part must report afterwards (1-b:0.2.0.255).
    pub expected_version: Vec<u8>,
    /// The firmware part b.
    pub part: u8,
    /// When to activate.
    pub activation: Activation,
    /// Zero-pad the last block to the block size (some meters require it).
    pub pad_last_block: bool,
    /// How the blocks go.
    pub block_service: BlockService,
    /// Gap-filling passes after the first.
    pub max_gap_passes: u32,
    /// How often to poll image_transfer_status while the meter is busy.
    pub poll_interval: Duration,
    /// How long verification may take.
    pub verify_deadline: Duration,
    /// How long the meter may stay unreachable (reboots, cuts) before the transfer fails.
    pub reconnect_deadline: Duration,
    /// How long the first connection may take: a wrong address or port fails in seconds,
    /// not after the reconnect deadline.
    pub connect_deadline: Duration,
    /// Whether a mismatch in image_to_activate_info ends the transfer.
    pub info_mismatch_fatal: bool,
    /// Keep every APDU exchanged (hex and decoded) in the report.
    pub trace: bool,
}

/// The most an image_block_transfer request adds to its block: the ACTION header with the
/// method descriptor, the parameter structure, the block number and the octet-string length.
pub const BLOCK_REQUEST_HEADER: u64 = 24;

/// The largest image_block_size the harness sends blocks of. Meters give a few hundred bytes
/// (a block fits one PDU of at most 65,535 bytes, or a few ACTION pblocks); the bound keeps a
/// meter's answer from making the harness allocate gigabytes for one block.
pub const MAX_BLOCK_SIZE: u64 = 1 << 20;

/// How long a meter may stay unreachable (a reboot, a cut) unless its target says otherwise.
pub const DEFAULT_RECONNECT_DEADLINE: Duration = Duration::from_secs(120);

impl Plan {
    /// A plan with the usual settings: activate now, 5 gap-filling passes, 1 s polling,
    /// 2 min for verification and for reconnecting, 15 s for the first connection.
    pub fn new(image: Vec<u8>, identifier: &[u8]) -> Self {
        Plan {
            image: std::sync::Arc::new(image),
            identifier: identifier.to_vec(),
            expected_version: identifier.to_vec(),
            part: 1,
            activation: Activation::Now,
            pad_last_block: false,
            block_service: BlockService::Confirmed,
            max_gap_passes: 5,
            poll_interval: Duration::from_secs(1),
            verify_deadline: Duration::from_secs(120),
            reconnect_deadline: DEFAULT_RECONNECT_DEADLINE,
            connect_deadline: Duration::from_secs(15),
            info_mismatch_fatal: false,
            trace: false,
        }
    }
}

/// What names an image for a transfer, each where known: the identifier sent at initiate, the
/// version the firmware part reports once active, the part. What is not given comes from the
/// image's own header (meterfleet's MFIM container), else from `fallback` and part 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageNaming {
    /// The identifier for image_transfer_initiate.
    pub identifier: Option<Vec<u8>>,
    /// The active firmware identifier expected afterwards (default: the identifier).
    pub version: Option<Vec<u8>>,
    /// The firmware part b.
    pub part: Option<u8>,
    /// The identifier when nothing else names one (a file name, say).
    pub fallback: Vec<u8>,
}

impl ImageNaming {
    /// Fills in what `self` leaves out with `other`'s values.
    pub fn or(self, other: ImageNaming) -> ImageNaming {
        ImageNaming {
            identifier: self.identifier.or(other.identifier),
            version: self.version.or(other.version),
            part: self.part.or(other.part),
            fallback: if self.fallback.is_empty() {
                other.fallback
            } else {
                self.fallback
            },
        }
    }
}

impl Plan {
    /// The usual plan for `image`, named as `naming` says or as its header does.
    pub fn for_image(image: Vec<u8>, naming: ImageNaming) -> Plan {
        let header = dlms::image::parse(&image).ok();
        let from_header = header.as_ref().map(|h| h.identifier.to_vec());
        let identifier = naming
            .identifier
            .or(from_header.clone())
            .unwrap_or(naming.fallback);
        let expected_version = naming
            .version
            .or(from_header)
            .unwrap_or_else(|| identifier.clone());
        let part = naming.part.or(header.map(|h| h.part)).unwrap_or(1);
        Plan {
            expected_version,
            part,
            ..Plan::new(image, &identifier)
        }
    }
}

/// Why the driver stopped a step: the meter's verdict, or a connection that did not recover.
enum Stop {
    Failed(Step, String),
    Link(SessionError),
    /// After the activation the meter still holds the image verified (status 3) on its old
    /// firmware: the activation did not take (its request or the reboot was lost).
    NotActivated,
}

/// How often the driver activates again a meter where the activation did not take.
const MAX_REACTIVATIONS: u32 = 2;

impl From<SessionError> for Stop {
    fn from(e: SessionError) -> Self {
        Stop::Link(e)
    }
}

/// Runs one transfer.
pub struct Driver<'a> {
    target: &'a Target,
    plan: &'a Plan,
    started: Instant,
    report: Report,
    session: Option<Session>,
    /// The meter was initiated with this image, by this run or (per the campaign) an earlier
    /// one: a transfer under way (status 1) is resumed, never initiated again.
    initiated: bool,
    /// Activation was invoked: what is left is confirming it.
    activated: bool,
    /// It was invoked by an earlier run (a pass or a process): one that failed is not this
    /// run's verdict, and the transfer starts again.
    activated_earlier: bool,
    /// Only confirming a scheduled activation: a meter still on status 3 is waited for.
    confirm_only: bool,
    /// Activations invoked again after one did not take.
    reactivations: u32,
    connected_once: bool,
    recoveries: u32,
    protocol_errors: u32,
    /// Set once the meter took none of a pass of unconfirmed blocks.
    unconfirmed_refused: bool,
    /// The campaign's place for meters receiving blocks, given up once every block is in.
    transfer_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Told of every event as it happens.
    watcher: Option<Watcher<'a>>,
    /// Told of every phase reached, as it is.
    phase_hook: Option<PhaseHook<'a>>,
}

/// What a campaign passes to learn of each phase a meter reaches (to journal it).
type PhaseHook<'a> = Box<dyn Fn(Phase) + Send + Sync + 'a>;

/// What a command passes to follow a transfer's events as they happen.
type Watcher<'a> = Box<dyn Fn(&Event) + Send + Sync + 'a>;

/// How often a GET that a busy meter refused is asked again.
const BUSY_RETRIES: u32 = 25;

/// Connection losses a transfer survives (reboots, cuts); each outage is also bounded in time.
const MAX_RECOVERIES: u32 = 50;
/// Undecodable replies or exception-responses after which a transfer stops.
const MAX_PROTOCOL_ERRORS: u32 = 3;

impl<'a> Driver<'a> {
    /// A driver for `plan` on `target`.
    pub fn new(target: &'a Target, plan: &'a Plan) -> Self {
        Driver {
            target,
            plan,
            started: Instant::now(),
            report: Report::starting(&target.name, &plan.expected_version),
            session: None,
            initiated: false,
            activated: false,
            activated_earlier: false,
            confirm_only: false,
            reactivations: 0,
            connected_once: false,
            recoveries: 0,
            protocol_errors: 0,
            unconfirmed_refused: false,
            transfer_slot: None,
            watcher: None,
            phase_hook: None,
        }
    }

    /// Calls `watcher` with every event as the driver decides it (the report keeps them too),
    /// so a command can show a transfer as it goes.
    pub fn watched(mut self, watcher: impl Fn(&Event) + Send + Sync + 'a) -> Self {
        self.watcher = Some(Box::new(watcher));
        self
    }

    /// Calls `hook` with every phase as the meter reaches it (the report keeps their times).
    pub fn on_phase(mut self, hook: impl Fn(Phase) + Send + Sync + 'a) -> Self {
        self.phase_hook = Some(Box::new(hook));
        self
    }

    fn reached(&mut self, phase: Phase) {
        self.report.reached(phase);
        if let Some(hook) = &self.phase_hook {
            hook(phase);
        }
    }

    /// Takes the transfer up where an earlier run left it, `reached` being the last phase it
    /// reached on this meter: a transfer under way is resumed from the meter's bit-string
    /// instead of initiated again (which may throw the stored blocks away), and an activation
    /// invoked is only confirmed.
    pub fn resuming(mut self, reached: Phase) -> Self {
        self.initiated = reached >= Phase::Initiate;
        self.activated = reached >= Phase::Activate && self.plan.activation == Activation::Now;
        self.activated_earlier = self.activated;
        self
    }

    /// Only confirms an activation invoked or scheduled earlier: reads the part's identifier
    /// until it shows the new version (or the reconnect deadline passes), sends nothing else;
    /// a meter that rolled back (status 7) fails.
    pub fn confirming(mut self) -> Self {
        self.activated = true;
        self.activated_earlier = false;
        self.confirm_only = true;
        self
    }

    /// Holds `slot` until every block is in, so that the wait for verification and the
    /// reboot does not keep another meter from receiving blocks.
    pub fn holding(mut self, slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        self.transfer_slot = Some(slot);
        self
    }

    fn event(&mut self, step: Step, message: impl AsRef<str>) {
        let message = message.as_ref().to_string();
        tracing::debug!(meter = %self.target.name, %step, "{message}");
        let event = Event {
            at_ms: self.started.elapsed().as_millis() as u64,
            step,
            message,
        };
        if let Some(watcher) = &self.watcher {
            watcher(&event);
        }
        self.report.events.push(event);
    }

    /// Runs the transfer to its end and returns the report.
    pub async fn run(mut self) -> Report {
        let outcome = loop {
            match self.attempt().await {
                Ok(outcome) => break outcome,
                Err(Stop::Failed(step, reason)) => {
                    self.event(step, format!("failed: {reason}"));
                    break Outcome::Failed { step, reason };
                }
                Err(Stop::NotActivated) if self.reactivations < MAX_REACTIVATIONS => {
                    self.reactivations += 1;
                    self.activated = false;
                    self.event(
                        Step::Confirm,
                        "the meter still holds the image verified on its old firmware (status 3): the activation did not take; activating again",
                    );
                }
                Err(Stop::NotActivated) => {
                    let reason = format!(
                        "the activation did not take after {} attempts: the meter stays on its old firmware with the image verified (status 3)",
                        MAX_REACTIVATIONS + 1
                    );
                    self.event(Step::Confirm, &reason);
                    break Outcome::Failed {
                        step: Step::Confirm,
                        reason,
                    };
                }
                Err(Stop::Link(e)) => {
                    let link_failure = matches!(e, SessionError::Link(_));
                    if link_failure {
                        self.recoveries += 1;
                    } else {
                        self.protocol_errors += 1;
                    }
                    if self.protocol_errors > MAX_PROTOCOL_ERRORS
                        || self.recoveries > MAX_RECOVERIES
                    {
                        let reason = format!("giving up after {} connection losses and {} unusable replies; last: {e}", self.recoveries, self.protocol_errors);
                        self.event(Step::Connect, &reason);
                        break Outcome::Failed {
                            step: Step::Connect,
                            reason,
                        };
                    }
                    self.keep_trace();
                    self.event(
                        Step::Connect,
                        if link_failure {
                            format!("connection lost: {e}")
                        } else {
                            format!("unusable reply ({e}): starting the step again")
                        },
                    );
                    self.session = None;
                    if let Err(reason) = self.reconnect().await {
                        break Outcome::Failed {
                            step: Step::Connect,
                            reason,
                        };
                    }
                    self.report.retries += 1;
                }
            }
        };
        self.keep_trace();
        if let Some(s) = self.session.take() {
            s.close().await;
        }
        self.report.outcome = outcome;
        self.report.duration = self.started.elapsed();
        self.report
    }

    /// Connects, retrying with backoff until the reconnect deadline.
    async fn reconnect(&mut self) -> Result<(), String> {
        let own = self.target.deadlines;
        let limit = if self.connected_once {
            own.reconnect.unwrap_or(self.plan.reconnect_deadline)
        } else {
            own.connect.unwrap_or(self.plan.connect_deadline)
        };
        let deadline = Instant::now() + limit;
        let mut backoff = Duration::from_millis(100);
        loop {
            match Session::open(self.target, self.plan.trace).await {
                Ok(s) => {
                    let n = s.negotiated();
                    self.event(
                        Step::Connect,
                        format!(
                            "associated: meter accepts {} bytes, conformance {:06X}",
                            n.server_max_receive_pdu_size,
                            n.conformance.bits()
                        ),
                    );
                    if self.connected_once {
                        self.report.reconnects += 1;
                    }
                    self.connected_once = true;
                    self.reached(Phase::Connect);
                    self.session = Some(s);
                    return Ok(());
                }
                Err(e) if !self.connected_once && e.is_protocol_mismatch() => {
                    return Err(format!(
                        "the peer does not speak DLMS/COSEM over the {}: {e}",
                        self.target.transport
                    ))
                }
                Err(SessionError::Association(e)) => {
                    return Err(format!("the meter refused the association: {e}"))
                }
                Err(e) if Instant::now() + backoff > deadline => {
                    return Err(format!(
                        "meter not reachable within {:.1} s: {e}",
                        limit.as_secs_f64()
                    ))
                }
                Err(e) => {
                    self.event(
                        Step::Connect,
                        format!(
                            "not reachable ({e}); retrying in {} ms",
                            backoff.as_millis()
                        ),
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Moves the current session's APDU trace into the report.
    fn keep_trace(&mut self) {
        if let Some(s) = self.session.as_mut() {
            let trace = s.take_trace();
            self.report.trace.extend(trace);
        }
    }

    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("connected")
    }

    /// GET of an IC 18 attribute. A busy meter (temporary-failure, or hardware-fault as some
    /// answer while busy, CONNEXO) is asked again a few times, a poll interval apart.
    async fn get(&mut self, attribute: i8) -> Result<Result<Data<'static>, R>, Stop> {
        let mut tries = 0;
        loop {
            let result = self
                .session()
                .get(it::CLASS_ID, it::LOGICAL_NAME, attribute)
                .await?;
            match result {
                Err(R::TEMPORARY_FAILURE | R::HARDWARE_FAULT) if tries < BUSY_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(self.plan.poll_interval).await;
                }
                other => return Ok(other),
            }
        }
    }

    /// image_transfer_status, None when unreadable or not a known value.
    async fn status(&mut self) -> Result<Option<S>, Stop> {
        Ok(match self.get(attr::IMAGE_TRANSFER_STATUS).await? {
            Ok(value) => S::from_data(&value),
            Err(_) => None,
        })
    }

    /// One attempt from wherever the meter is; a lost connection returns `Stop::Link`, after
    /// which the driver reconnects and calls this again.
    async fn attempt(&mut self) -> Result<Outcome, Stop> {
        if self.session.is_none() {
            self.reconnect()
                .await
                .map_err(|reason| Stop::Failed(Step::Connect, reason))?;
        }
        if self.activated_earlier {
            self.activated_earlier = false;
            if self.status().await? == Some(S::ActivationFailed) {
                self.event(
                    Step::Activate,
                    "the activation invoked earlier failed and the meter rolled back (status 7): starting the transfer again",
                );
                self.activated = false;
                self.initiated = false;
            }
        }
        if self.activated {
            return self.confirm().await;
        }
        let block_size = self.block_size().await?;
        let count = self.plan.image.len().div_ceil(block_size) as u32;
        self.report.blocks_needed = count;
        self.enable().await?;
        let mut status = self.status().await?;
        if status == Some(S::VerificationInitiated) {
            self.event(Step::Verify, "a verification is under way: waiting for it");
            let done = self
                .await_status(
                    Step::Verify,
                    |s| s != S::VerificationInitiated,
                    "the verification under way to finish",
                )
                .await?;
            status = Some(done);
        }
        let verified = status == Some(S::VerificationSuccessful) && self.info_matches().await?;
        match (verified, status, self.initiated) {
            (true, _, _) => {
                self.reached(Phase::Verify);
                self.event(
                    Step::Initiate,
                    "the meter already holds this image, verified",
                )
            }
            (false, Some(S::Initiated), true) => {
                self.reached(Phase::Initiate);
                self.event(Step::Initiate, "resuming the transfer under way")
            }
            (false, Some(S::Initiated), false) if self.info_matches().await? => {
                self.initiated = true;
                self.reached(Phase::Initiate);
                self.event(
                    Step::Initiate,
                    "image_to_activate_info names this image: resuming the transfer under way",
                )
            }
            (false, Some(S::NotInitiated), true) => {
                self.event(
                    Step::Initiate,
                    "the meter forgot the transfer (status 0): initiating again",
                );
                self.initiate().await?;
            }
            _ => self.initiate().await?,
        }
        if !verified {
            self.send_blocks(block_size, count).await?;
            self.verify().await?;
        }
        self.check_info().await?;
        self.activate().await
    }

    async fn block_size(&mut self) -> Result<usize, Stop> {
        let size = match self.get(attr::IMAGE_BLOCK_SIZE).await? {
            Ok(d) => d.as_u64().filter(|s| *s > 0),
            Err(e) => {
                return Err(Stop::Failed(
                    Step::BlockSize,
                    format!("image_block_size unreadable: {e}"),
                ))
            }
        };
        let Some(size) = size else {
            return Err(Stop::Failed(
                Step::BlockSize,
                "image_block_size is not a positive integer".into(),
            ));
        };
        if size > MAX_BLOCK_SIZE {
            return Err(Stop::Failed(
                Step::BlockSize,
                format!("image_block_size {size} is over the harness's limit of {MAX_BLOCK_SIZE}"),
            ));
        }
        let negotiated = self.session().negotiated();
        let limit = self.session().request_limit() as u64;
        let fits = size + BLOCK_REQUEST_HEADER <= limit;
        let pblocks = negotiated
            .conformance
            .contains(dlms::conformance::Conformance::BLOCK_TRANSFER_WITH_ACTION);
        if !fits && !pblocks {
            let pdu = negotiated.server_max_receive_pdu_size;
            let ciphering = match u64::from(pdu) - limit {
                0 => String::new(),
                overhead => format!(", less {overhead} for ciphering"),
            };
            return Err(Stop::Failed(
                Step::BlockSize,
                format!(
                    "image_block_size {size} with its {BLOCK_REQUEST_HEADER}-byte ACTION header does not fit the {limit} bytes the meter takes (its PDU size {pdu}{ciphering}), and it refuses ACTION block transfer"
                ),
            ));
        }
        self.event(
            Step::BlockSize,
            format!(
                "image_block_size {size}{}",
                if fits { "" } else { ", sent in ACTION pblocks" }
            ),
        );
        Ok(size as usize)
    }

    async fn enable(&mut self) -> Result<(), Stop> {
        match self.get(attr::IMAGE_TRANSFER_ENABLED).await? {
            Ok(Data::Boolean(true)) => Ok(()),
            Ok(_) => {
                self.event(
                    Step::Enable,
                    "image_transfer_enabled is FALSE: writing TRUE",
                );
                match self
                    .session()
                    .set(
                        it::CLASS_ID,
                        it::LOGICAL_NAME,
                        attr::IMAGE_TRANSFER_ENABLED,
                        &Data::Boolean(true),
                    )
                    .await?
                {
                    R::SUCCESS => Ok(()),
                    r => Err(Stop::Failed(
                        Step::Enable,
                        format!("enabling the transfer was refused: {r}"),
                    )),
                }
            }
            Err(e) => {
                self.event(
                    Step::Enable,
                    format!("image_transfer_enabled unreadable ({e}); going on"),
                );
                Ok(())
            }
        }
    }

    async fn initiate(&mut self) -> Result<(), Stop> {
        let params = it::initiate_parameters(&self.plan.identifier, self.plan.image.len() as u32)
            .into_owned();
        for attempt in 0..5 {
            let outcome = self
                .session()
                .action(it::method(m::IMAGE_TRANSFER_INITIATE), Some(params.clone()))
                .await?;
            match outcome.result {
                R::SUCCESS => {
                    self.initiated = true;
                    self.reached(Phase::Initiate);
                    self.event(
                        Step::Initiate,
                        format!(
                            "initiated {} ({} bytes)",
                            String::from_utf8_lossy(&self.plan.identifier),
                            self.plan.image.len()
                        ),
                    );
                    return self
                        .await_status(
                            Step::Initiate,
                            |s| s != S::NotInitiated,
                            "the status to leave 0",
                        )
                        .await
                        .map(drop);
                }
                R::TEMPORARY_FAILURE if attempt < 4 => {
                    self.report.retries += 1;
                    self.event(Step::Initiate, "initiate: temporary-failure, retrying");
                    tokio::time::sleep(self.plan.poll_interval).await;
                }
                r => {
                    return Err(Stop::Failed(
                        Step::Initiate,
                        format!("initiate refused: {r}"),
                    ))
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Polls image_transfer_status until `done` holds, a deadline passes, or the meter says
    /// something final; hardware-fault while polling counts as busy (CONNEXO).
    async fn await_status(
        &mut self,
        step: Step,
        done: impl Fn(S) -> bool,
        what: &str,
    ) -> Result<S, Stop> {
        let deadline = Instant::now()
            + self
                .target
                .deadlines
                .verify
                .unwrap_or(self.plan.verify_deadline);
        loop {
            if let Some(s) = self.status().await? {
                if done(s) {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                return Err(Stop::Failed(step, format!("timed out waiting for {what}")));
            }
            tokio::time::sleep(self.plan.poll_interval).await;
        }
    }

    /// Block `n`'s bytes: borrowed from the image, or a padded copy of a short last block.
    fn block(&self, n: u32, block_size: usize) -> std::borrow::Cow<'a, [u8]> {
        let plan: &'a Plan = self.plan;
        let start = n as usize * block_size;
        let end = (start + block_size).min(plan.image.len());
        let bytes = &plan.image[start..end];
        if plan.pad_last_block && bytes.len() < block_size {
            let mut padded = bytes.to_vec();
            padded.resize(block_size, 0);
            return std::borrow::Cow::Owned(padded);
        }
        std::borrow::Cow::Borrowed(bytes)
    }

    /// Blocks per write when this pass may go unconfirmed.
    fn burst(&mut self, block_size: usize) -> Option<usize> {
        let BlockService::Unconfirmed { burst } = self.plan.block_service else {
            return None;
        };
        let session = self.session();
        let fits = block_size + 32 <= session.negotiated().server_max_receive_pdu_size as usize;
        (session.can_burst() && fits && !self.unconfirmed_refused).then_some(burst.max(1) as usize)
    }

    async fn send_blocks(&mut self, block_size: usize, count: u32) -> Result<(), Stop> {
        let mut missing = self.missing(count).await?;
        if self.report.passes == 0 && missing.len() as u32 == count {
            let how = match (self.plan.block_service, self.burst(block_size)) {
                (BlockService::Confirmed | BlockService::Group(_), _) => String::new(),
                (_, Some(burst)) => format!(" as unconfirmed ACTIONs, {burst} per write"),
                (_, None) => {
                    " confirmed: unconfirmed bursts need the wrapper and blocks that fit one APDU"
                        .into()
                }
            };
            self.event(
                Step::Blocks,
                format!("sending {count} blocks of {block_size} bytes{how}"),
            );
        }
        while !missing.is_empty() {
            if self.report.passes > self.plan.max_gap_passes {
                let shown: Vec<String> = missing.iter().take(10).map(u32::to_string).collect();
                return Err(Stop::Failed(
                    Step::Completeness,
                    format!(
                        "{} blocks still missing after {} passes: {}{}",
                        missing.len(),
                        self.report.passes,
                        shown.join(", "),
                        if missing.len() > 10 { ", ..." } else { "" }
                    ),
                ));
            }
            self.report.passes += 1;
            if self.report.passes > 1 {
                self.event(
                    Step::Blocks,
                    format!(
                        "pass {}: resending {} missing blocks",
                        self.report.passes,
                        missing.len()
                    ),
                );
            }
            match self.burst(block_size) {
                Some(burst) => {
                    self.push_blocks(&missing, block_size, burst).await?;
                    let still = self.missing(count).await?;
                    if still.len() == missing.len() {
                        self.unconfirmed_refused = true;
                        self.event(
                            Step::Blocks,
                            format!(
                                "the meter took none of {} unconfirmed blocks: sending confirmed",
                                missing.len()
                            ),
                        );
                    }
                    missing = still;
                }
                None => {
                    self.send_confirmed(&missing, block_size).await?;
                    missing = self.missing(count).await?;
                }
            }
        }
        self.event(Step::Completeness, "every block is in");
        self.transfer_slot = None;
        Ok(())
    }

    /// Sends `blocks` as unconfirmed image_block_transfer ACTIONs, `burst` per write.
    async fn push_blocks(
        &mut self,
        blocks: &[u32],
        block_size: usize,
        burst: usize,
    ) -> Result<(), Stop> {
        for chunk in blocks.chunks(burst) {
            let params: Vec<Data<'_>> = chunk
                .iter()
                .map(|&n| it::block_parameters(n, &self.block(n, block_size)).into_owned())
                .collect();
            self.reached(Phase::FirstBlock);
            self.reached(Phase::LastBlock);
            self.report.blocks_sent += chunk.len() as u32;
            self.session()
                .actions_unconfirmed(it::method(m::IMAGE_BLOCK_TRANSFER), &params)
                .await?;
        }
        Ok(())
    }

    /// Sends `blocks` as confirmed image_block_transfer ACTIONs, one at a time. The first and
    /// last block phases are marked around the pass, not for each block.
    async fn send_confirmed(&mut self, blocks: &[u32], block_size: usize) -> Result<(), Stop> {
        if blocks.is_empty() {
            return Ok(());
        }
        self.reached(Phase::FirstBlock);
        let mut sent = Ok(());
        for &n in blocks {
            sent = self.send_block(n, block_size).await;
            if sent.is_err() {
                break;
            }
        }
        self.reached(Phase::LastBlock);
        sent
    }

    async fn send_block(&mut self, n: u32, block_size: usize) -> Result<(), Stop> {
        let block = self.block(n, block_size);
        let params = EncodedData::new(&it::block_parameters(n, &block));
        for attempt in 0..3 {
            self.report.blocks_sent += 1;
            let outcome = self
                .session()
                .action_encoded(it::method(m::IMAGE_BLOCK_TRANSFER), Some(params.borrowed()))
                .await?;
            match outcome.result {
                R::SUCCESS => return Ok(()),
                R::TEMPORARY_FAILURE if attempt < 2 => {
                    self.report.retries += 1;
                    tokio::time::sleep(self.plan.poll_interval / 4).await;
                }
                r => {
                    // The gap-filling pass will show whether it is missing; a meter that keeps
                    // refusing a block ends the transfer there.
                    self.event(Step::Blocks, format!("block {n} refused: {r}"));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The blocks the meter lacks: from attribute 3, or attribute 4 when 3 is not readable.
    async fn missing(&mut self, count: u32) -> Result<Vec<u32>, Stop> {
        match self.get(attr::TRANSFERRED_BLOCKS_STATUS).await? {
            Ok(Data::BitString(bits)) if bits.len() as u32 >= count => {
                let held = |n: u32| bits.get(n as usize) == Some(true);
                self.report.bitmap = Some(
                    (0..count)
                        .map(|n| if held(n) { '1' } else { '0' })
                        .collect(),
                );
                Ok((0..count).filter(|&n| !held(n)).collect())
            }
            other => {
                let shown = match &other {
                    Ok(d) => format!("a {} of the wrong length", d.type_name()),
                    Err(e) => e.to_string(),
                };
                self.event(
                    Step::Completeness,
                    format!("attribute 3 unusable ({shown}); using attribute 4"),
                );
                match self.get(attr::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER).await? {
                    Ok(d) => {
                        let first = d.as_u64().unwrap_or(0) as u32;
                        Ok((first.min(count)..count).collect())
                    }
                    Err(e) => Err(Stop::Failed(
                        Step::Completeness,
                        format!("neither attribute 3 nor 4 readable: {e}"),
                    )),
                }
            }
        }
    }

    async fn verify(&mut self) -> Result<(), Stop> {
        let outcome = self
            .session()
            .action(it::method(m::IMAGE_VERIFY), Some(it::trigger_parameter()))
            .await?;
        let status = match outcome.result {
            R::SUCCESS => self.status().await?,
            R::TEMPORARY_FAILURE | R::HARDWARE_FAULT => {
                self.event(
                    Step::Verify,
                    format!(
                        "verify answered {}: polling image_transfer_status",
                        outcome.result
                    ),
                );
                Some(
                    self.await_status(
                        Step::Verify,
                        |s| s != S::VerificationInitiated,
                        "verification to finish",
                    )
                    .await?,
                )
            }
            r => {
                let s = self.status().await?;
                self.event(Step::Verify, format!("verify answered {r}"));
                s
            }
        };
        match status {
            Some(S::VerificationSuccessful) => {
                self.reached(Phase::Verify);
                self.event(Step::Verify, "verification successful (status 3)");
                Ok(())
            }
            Some(S::VerificationFailed) => Err(Stop::Failed(
                Step::Verify,
                "the meter rejected the image: verification failed (status 4)".into(),
            )),
            s => Err(Stop::Failed(
                Step::Verify,
                format!("verification did not succeed (status {})", shown(s)),
            )),
        }
    }

    async fn info_matches(&mut self) -> Result<bool, Stop> {
        Ok(match self.get(attr::IMAGE_TO_ACTIVATE_INFO).await? {
            Ok(value) => self.describes_the_image(&value),
            Err(_) => false,
        })
    }

    /// True when an image_to_activate_info value lists the image sent (its size, and its
    /// identifier or expected version).
    fn describes_the_image(&self, info: &Data<'_>) -> bool {
        ImageToActivateInfo::list_from_data(info)
            .unwrap_or_default()
            .iter()
            .any(|e| {
                e.size as usize == self.plan.image.len()
                    && (e.identification == self.plan.expected_version
                        || e.identification == self.plan.identifier)
            })
    }

    async fn check_info(&mut self) -> Result<(), Stop> {
        match self.get(attr::IMAGE_TO_ACTIVATE_INFO).await? {
            Ok(info) if matches!(&info, Data::Array(entries) if !entries.is_empty()) => {
                let entries = info.as_elements().unwrap_or_default();
                let described: Vec<String> = entries
                    .iter()
                    .map(|e| match e.as_elements() {
                        Some([size, id, ..]) => format!(
                            "{} bytes, {}",
                            size.as_u64().unwrap_or(0),
                            String::from_utf8_lossy(id.as_bytes().unwrap_or_default())
                        ),
                        _ => format!("{e:?}"),
                    })
                    .collect();
                if self.describes_the_image(&info) {
                    self.event(
                        Step::CheckInfo,
                        format!("image_to_activate_info matches: {}", described.join("; ")),
                    );
                } else {
                    let message = format!(
                        "image_to_activate_info differs from what was sent ({} bytes, {}): {}",
                        self.plan.image.len(),
                        String::from_utf8_lossy(&self.plan.expected_version),
                        described.join("; ")
                    );
                    if self.plan.info_mismatch_fatal {
                        return Err(Stop::Failed(Step::CheckInfo, message));
                    }
                    self.event(Step::CheckInfo, message);
                }
            }
            Ok(_) => self.event(Step::CheckInfo, "image_to_activate_info is empty"),
            Err(e) => self.event(
                Step::CheckInfo,
                format!("image_to_activate_info not readable ({e}); going on"),
            ),
        }
        Ok(())
    }

    async fn activate(&mut self) -> Result<Outcome, Stop> {
        match self.plan.activation {
            Activation::No => {
                self.event(Step::Activate, "verified; activation not requested");
                Ok(Outcome::ReadyForActivation)
            }
            Activation::At(secs) => {
                let value = schedule::execution_time(secs);
                match self
                    .session()
                    .set(
                        class::SINGLE_ACTION_SCHEDULE,
                        ACTIVATION_SCHEDULER,
                        schedule::EXECUTION_TIME,
                        &value,
                    )
                    .await?
                {
                    R::SUCCESS => {
                        self.reached(Phase::Activate);
                        self.event(
                            Step::Activate,
                            format!("activation scheduled at {secs} (Unix seconds)"),
                        );
                        Ok(Outcome::ReadyForActivation)
                    }
                    r => Err(Stop::Failed(
                        Step::Activate,
                        format!("scheduling the activation was refused: {r}"),
                    )),
                }
            }
            Activation::Now => {
                self.event(Step::Activate, "activating");
                self.activated = true;
                self.reached(Phase::Activate);
                match self
                    .session()
                    .action(it::method(m::IMAGE_ACTIVATE), Some(it::trigger_parameter()))
                    .await
                {
                    Ok(o) if o.result == R::SUCCESS || o.result == R::TEMPORARY_FAILURE => {
                        self.event(Step::Activate, format!("activate answered {}", o.result));
                    }
                    Ok(o) => {
                        return Err(Stop::Failed(
                            Step::Activate,
                            format!("activate refused: {}", o.result),
                        ))
                    }
                    Err(e) => self.event(
                        Step::Activate,
                        format!("no reply to activate ({e}): the meter is rebooting"),
                    ),
                }
                // The meter reboots: drop the connection and find it again.
                self.keep_trace();
                self.session = None;
                tokio::time::sleep(self.plan.poll_interval).await;
                self.reconnect()
                    .await
                    .map_err(|r| Stop::Failed(Step::Confirm, r))?;
                self.confirm().await
            }
        }
    }

    /// After the reboot: the active firmware identifier of the part, else status 6.
    async fn confirm(&mut self) -> Result<Outcome, Stop> {
        let deadline = Instant::now()
            + self
                .target
                .deadlines
                .reconnect
                .unwrap_or(self.plan.reconnect_deadline);
        let ln = active_firmware_identifier(self.plan.part);
        loop {
            let id = self.session().get(class::DATA, ln, 2).await?;
            let status = self.status().await?;
            match (id, status) {
                (Ok(d), _) if d.as_bytes() == Some(&self.plan.expected_version) => {
                    let version = String::from_utf8_lossy(&self.plan.expected_version).into_owned();
                    self.reached(Phase::Confirm);
                    self.event(Step::Confirm, format!("{ln} reports {version}"));
                    return Ok(Outcome::Upgraded {
                        evidence: Evidence::ActiveFirmwareIdentifier(version),
                    });
                }
                (Err(R::OBJECT_UNDEFINED), Some(S::ActivationSuccessful)) => {
                    self.reached(Phase::Confirm);
                    self.event(
                        Step::Confirm,
                        "no active firmware identifier object; image_transfer_status is 6",
                    );
                    return Ok(Outcome::Upgraded {
                        evidence: Evidence::TransferStatusSix,
                    });
                }
                (_, Some(S::VerificationSuccessful)) if !self.confirm_only => {
                    return Err(Stop::NotActivated)
                }
                (_, Some(S::ActivationFailed)) => {
                    return Err(Stop::Failed(
                        Step::Confirm,
                        "activation failed: the meter rolled back to the old firmware (status 7)"
                            .into(),
                    ))
                }
                (id, s) if Instant::now() > deadline => {
                    return Err(Stop::Failed(
                        Step::Confirm,
                        format!(
                            "new firmware not confirmed: {ln} = {id:?}, status {}",
                            shown(s)
                        ),
                    ))
                }
                _ => tokio::time::sleep(self.plan.poll_interval).await,
            }
        }
    }
}

/// A status as reports show it: its number and name, or that it could not be read.
fn shown(status: Option<S>) -> String {
    status.map_or_else(|| "unreadable".into(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_named_by_the_flags_then_its_header_then_the_fallback() {
        let opaque = Plan::for_image(
            vec![1, 2, 3],
            ImageNaming {
                fallback: b"fw".to_vec(),
                ..ImageNaming::default()
            },
        );
        assert_eq!(
            (
                opaque.identifier.as_slice(),
                opaque.expected_version.as_slice(),
                opaque.part
            ),
            (&b"fw"[..], &b"fw"[..], 1)
        );
        let named = Plan::for_image(
            vec![1, 2, 3],
            ImageNaming {
                identifier: Some(b"VENDOR-7".to_vec()),
                part: Some(2),
                ..ImageNaming::default()
            }
            .or(ImageNaming {
                version: Some(b"APP-7".to_vec()),
                part: Some(1),
                ..ImageNaming::default()
            }),
        );
        assert_eq!(
            (
                named.identifier.as_slice(),
                named.expected_version.as_slice(),
                named.part
            ),
            (&b"VENDOR-7"[..], &b"APP-7"[..], 2)
        );
    }
}
