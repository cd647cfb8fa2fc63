//! The emulated meter: request APDU bytes and the time in, reply APDU bytes and events out.
//!
//! Sans-IO: the transport (wrapper or HDLC over TCP) lives at the edge, which feeds each
//! request with [`Meter::handle_apdu`], calls [`Meter::handle_timeout`] when
//! [`Meter::poll_timeout`] says, drains [`Meter::poll_event`] (a reboot drops every
//! connection), and persists [`Meter::state`] when [`Meter::take_dirty`] says it changed.

use crate::cosem::{self, association_ln::AssociationView, Env, Kind, MethodOutcome, Object};
use crate::events::EventCode;
use crate::faults::{FaultState, Injection};
use crate::journal::BlockJournal;
use crate::profile::{ClientAuth, ExcessAssociation, MeterProfile, Quirk, Rights, Variant};
use crate::session::{IncomingBlocks, IncomingTarget, OutgoingBlocks, Session, MAX_INCOMING};
use crate::state::MeterState;
use dlms::acse::{Aare, Aarq, AssociationResult, SourceDiagnostic};
use dlms::apdu::{
    ActionOutcome, ActionRequest, ActionResponse, Apdu, AttributeWithSelection,
    DataAccessResult as R, DataBlockG, DataBlockSa, ExceptionResponse, GetDataResult, GetRequest,
    GetResponse, InvokeIdAndPriority, MethodDescriptor, ServiceError, SetRequest, SetResponse,
    StateError,
};
use dlms::association::{Account, Ciphering, ServerAuthentication, ServerPolicy};
use dlms::axdr::EncodedData;
use dlms::codec::put_length;
use dlms::conformance::Conformance;
use dlms::cosem::image_transfer::{
    method as it_method, read_block_parameters, ImageTransferStatus,
};
use dlms::security::{Keys, ReplayGuard, SecurityControl, SecurityError};
use dlms::{Codec, Data};
use p256::ecdsa::VerifyingKey;
use std::borrow::Cow;
use std::collections::VecDeque;

/// The security material of a meter.
#[derive(Debug, Clone)]
pub struct MeterKeys {
    /// The meter's system title.
    pub system_title: [u8; 8],
    /// The global unicast encryption key and the authentication key.
    pub keys: Keys,
    /// The global broadcast encryption key: group requests are ciphered with it (and the
    /// authentication key).
    pub broadcast_key: [u8; 16],
}

impl Default for MeterKeys {
    /// The keys Gurux's examples use: title "MTR00001", EK 000102..0F, AK D0D1..DF; and
    /// meterfleet's own broadcast key B0B1..BF.
    fn default() -> Self {
        MeterKeys {
            system_title: *b"MTR00001",
            keys: Keys {
                encryption: core::array::from_fn(|i| i as u8),
                authentication: core::array::from_fn(|i| 0xD0 + i as u8),
            },
            broadcast_key: DEFAULT_BROADCAST_KEY,
        }
    }
}

/// The broadcast key emulated meters hold unless told otherwise: B0B1..BF, meterfleet's own.
pub const DEFAULT_BROADCAST_KEY: [u8; 16] = [
    0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF,
];

/// How a meter is built.
#[derive(Debug, Clone, Default)]
pub struct MeterConfig {
    /// Behaviour.
    pub profile: MeterProfile,
    /// Faults to inject.
    pub faults: crate::faults::Faults,
    /// The key images must be signed with.
    pub trusted_key: Option<VerifyingKey>,
    /// Security material for HLS and ciphering.
    pub keys: MeterKeys,
    /// The fleet's shared block store; `None` keeps the image in the meter.
    pub block_store: Option<std::sync::Arc<crate::blocks::BlockStore>>,
    /// Judge the head-end by the rules of `judge/rules.toml` ([`crate::judge`]).
    pub judge: bool,
    /// Where the meters of a fleet share the deciphering of group APDUs; `None` deciphers
    /// alone.
    pub group_cipher: Option<std::sync::Arc<crate::group_cipher::GroupDecipherCache>>,
    /// How much faster than real time the meter's world runs (a scenario's `time_scale`; none
    /// is real time): the judge's time windows shrink by it, as the meter's delays do.
    pub time_scale: Option<f64>,
}

/// What the edge must know of a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterEvent {
    /// The meter rebooted: drop every connection and refuse new ones until `until_ms`.
    Offline {
        /// When the meter answers again.
        until_ms: u64,
    },
    /// The meter is up again.
    Online,
    /// Drop every connection now (an injected cut; the meter stays up).
    CutConnections,
}

/// What the edge does with a request before the meter handles it ([`Meter::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Hand it to [`Meter::handle_apdu`].
    Serve,
    /// Reset the connection (an AARQ over a limit, on a meter that resets).
    Reset,
    /// Hold it until [`Meter::association_free`], or the inactivity time-out, then hand it
    /// over (an AARQ over a limit, on a meter that makes it wait).
    Wait,
}

/// What a meter counts for metrics (since it was created, across reboots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MeterStats {
    /// Requests (APDUs) handed to the meter over its own address, answered or not.
    pub requests: u64,
    /// Image blocks stored.
    pub blocks_received: u64,
    /// Blocks stored again that the meter already held (a head-end resending what it had
    /// acknowledged).
    pub blocks_repeated: u64,
    /// Transfers initiated (image_transfer_initiate answered success).
    pub initiates: u64,
    /// Reboots (activations included).
    pub reboots: u64,
    /// Activations that brought up the new image.
    pub activations_succeeded: u64,
    /// Activations that failed and rolled back.
    pub activations_failed: u64,
    /// Blocks acknowledged without being stored (injected).
    pub lost_blocks: u64,
    /// Power cuts injected.
    pub power_cuts: u64,
    /// Connection cuts injected.
    pub connection_cuts: u64,
    /// Requests refused busy without being carried out: answered temporary-failure or
    /// hardware-fault, or dropped silently when unconfirmed.
    pub busy_replies: u64,
    /// Replies lost after the request was carried out.
    pub dropped_replies: u64,
    /// Initiates refused for lack of storage.
    pub storage_full: u64,
    /// Group-addressed requests received.
    pub group_requests: u64,
    /// Group requests discarded unserved (addressing, client, protection, service).
    pub group_discarded: u64,
    /// Group requests refused as replays of an earlier broadcast invocation counter.
    pub group_replays: u64,
}

/// The conformance an emulated meter offers.
pub const SUPPORTED_CONFORMANCE: Conformance = Conformance::GET
    .union(Conformance::SET)
    .union(Conformance::ACTION)
    .union(Conformance::SELECTIVE_ACCESS)
    .union(Conformance::BLOCK_TRANSFER_WITH_GET)
    .union(Conformance::BLOCK_TRANSFER_WITH_SET)
    .union(Conformance::BLOCK_TRANSFER_WITH_ACTION)
    .union(Conformance::MULTIPLE_REFERENCES)
    .union(Conformance::PRIORITY_MGMT_SUPPORTED)
    .union(Conformance::ATTRIBUTE0_SUPPORTED_WITH_GET);

/// Which connection a request came on: each has its own association.
pub type ConnectionId = u64;

/// An emulated meter.
#[derive(Debug)]
pub struct Meter {
    config: MeterConfig,
    state: MeterState,
    /// The association of the connection whose request is being handled (taken out of
    /// `sessions` for the request, put back after it).
    session: Option<Box<Session>>,
    /// Each connection's own association: client, authentication, ciphering, negotiated
    /// context. The transfer state and firmware are the meter's, shared by all. A meter has a
    /// handful at most: a vector searched in order, boxed so that taking one out for a request
    /// and putting it back moves a pointer and allocates nothing.
    sessions: Vec<(ConnectionId, Box<Session>)>,
    /// The connection whose request is being handled.
    connection: ConnectionId,
    /// What the meter saw the head-end do, judged (when the config asks).
    judge: Option<crate::judge::Judge>,
    offline_until_ms: Option<u64>,
    activating: bool,
    activation_due: bool,
    /// When an answered activation takes the meter down to reboot, if it waits a while.
    reboot_due_ms: Option<u64>,
    power_cut: bool,
    /// A busy spell refuses the request being handled with this result.
    busy_now: Option<R>,
    events: VecDeque<MeterEvent>,
    dirty: bool,
    /// Where accepted blocks are made durable, if anywhere.
    journal: Option<Box<dyn BlockJournal>>,
    faults: FaultState,
    stats: MeterStats,
}

/// Whether a normal GET, SET or ACTION response refuses its request (a data-access-result or
/// action-result other than success).
fn refused(reply: &[u8]) -> bool {
    use dlms::apdu::tag;
    match reply {
        [tag::GET_RESPONSE, 1, _, 1, ..] => true,
        [tag::SET_RESPONSE | tag::ACTION_RESPONSE, 1, _, result, ..] => *result != 0,
        _ => false,
    }
}

fn exception(state_error: StateError, service_error: ServiceError) -> Vec<u8> {
    ExceptionResponse {
        state_error,
        service_error,
    }
    .to_bytes()
}

impl Meter {
    /// A meter with factory state (its clock off by the faults' drift).
    pub fn new(config: MeterConfig) -> Self {
        let mut state = MeterState::default();
        state.transfer.enabled = !config.profile.varies(Variant::TransferDisabledAtStart);
        state.clock_offset_ms = config.faults.clock_drift_ms;
        Self::with_state(config, state)
    }

    /// A meter resuming from persisted state (as after a power cycle). A meter that lost power
    /// in the middle of an activation (status 5) comes up on its old firmware: the activation
    /// ends as failed and rolled back (status 7) at its first timer, the image kept, as the
    /// MCS301 manual describes a power loss during activation.
    pub fn with_state(config: MeterConfig, mut state: MeterState) -> Self {
        state.transfer.after_reboot(&config.profile);
        let interrupted = state.transfer.status == ImageTransferStatus::ActivationInitiated;
        if interrupted {
            state.fail_next_activation = Some("power lost during activation".into());
        }
        if state.transfer.data.len() != state.transfer.size as usize {
            // The image bytes are stored apart; without them nothing is acknowledged.
            let t = &mut state.transfer;
            t.data = crate::blocks::ImageData::new(
                config.block_store.as_deref(),
                &t.identifier,
                t.size,
                t.block_size.max(1),
            );
            t.received.fill(false);
        }
        let judge = config
            .judge
            .then(|| crate::judge::Judge::scaled(config.time_scale.unwrap_or(1.0)));
        Meter {
            faults: FaultState::new(config.faults.clone()),
            stats: MeterStats::default(),
            config,
            state,
            session: None,
            sessions: Vec::new(),
            connection: 0,
            judge,
            offline_until_ms: interrupted.then_some(0),
            activating: interrupted,
            activation_due: false,
            reboot_due_ms: None,
            power_cut: false,
            busy_now: None,
            events: VecDeque::new(),
            dirty: false,
            journal: None,
        }
    }

    /// The persistent state.
    pub fn state(&self) -> &MeterState {
        &self.state
    }

    /// The persistent state, for fault injection and tests.
    pub fn state_mut(&mut self) -> &mut MeterState {
        self.dirty = true;
        &mut self.state
    }

    /// Adds faults to fire from now on (see [`FaultState::inject`]).
    pub fn inject_faults(&mut self, faults: crate::faults::Faults) {
        self.faults.inject(faults);
    }

    /// The faults still to fire.
    pub fn pending_faults(&self) -> &crate::faults::Faults {
        self.faults.pending()
    }

    /// Replaces the profile; the stored state (firmware, transfer) stays, as after a vendor
    /// reconfiguration.
    pub fn set_profile(&mut self, profile: MeterProfile) {
        self.config.profile = profile;
    }

    /// The profile.
    pub fn profile(&self) -> &MeterProfile {
        &self.config.profile
    }

    /// True (once) if the persistent state changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The meter's counters.
    pub fn stats(&self) -> MeterStats {
        self.stats
    }

    /// The answer to a request longer than max_pdu_size that the edge skipped rather than
    /// kept: pdu-too-long, or nothing while the meter reboots.
    pub fn refuse_too_long(&self) -> Option<Vec<u8>> {
        (!self.is_offline()).then(|| ExceptionResponse::PDU_TOO_LONG.to_bytes())
    }

    /// True while the meter is rebooting.
    pub fn is_offline(&self) -> bool {
        self.offline_until_ms.is_some()
    }

    /// The next event for the edge.
    pub fn poll_event(&mut self) -> Option<MeterEvent> {
        self.events.pop_front()
    }

    /// A connection dropped: its association ends, and only its.
    pub fn disconnect(&mut self, connection: ConnectionId, now_ms: u64) {
        if let (Some(session), Some(j)) = (self.take_session(connection), &mut self.judge) {
            j.not_released(now_ms, session.client_sap);
        }
    }

    /// The edge has sent `connection` the replies to every request so far: none of them is
    /// unanswered any more (requests read together, before their replies went out, are the
    /// ones a client sent without waiting).
    pub fn replies_delivered(&mut self, connection: ConnectionId) {
        if let Some((_, session)) = self.sessions.iter_mut().find(|(c, _)| *c == connection) {
            session.unanswered = 0;
        }
    }

    /// A connection or a request the meter refused (it reboots, its connections are all
    /// taken, or its link refused the connection; the edge closes such a connection at once):
    /// the judge counts it.
    pub fn attempt_refused(&mut self, now_ms: u64) {
        if let Some(j) = &mut self.judge {
            j.attempt_refused(now_ms);
        }
    }

    /// What the edge does with `request` from `client_sap` on `connection` before handing it
    /// to [`Meter::handle_apdu`]: an AARQ over an association limit is reset or held when the
    /// profile says so (and the judge hears of it); anything else is served.
    pub fn admit(
        &mut self,
        now_ms: u64,
        connection: ConnectionId,
        client_sap: u16,
        request: &[u8],
    ) -> Admission {
        if request.first() != Some(&dlms::apdu::tag::AARQ) {
            return Admission::Serve;
        }
        let Some(limit) = self.limit_reached(client_sap, connection) else {
            return Admission::Serve;
        };
        let admission = match self.config.profile.excess_association {
            ExcessAssociation::Reject => return Admission::Serve,
            ExcessAssociation::Reset => Admission::Reset,
            ExcessAssociation::Wait => Admission::Wait,
        };
        if let Some(j) = &mut self.judge {
            j.over_the_limit(now_ms, client_sap, limit);
        }
        admission
    }

    /// True when an AARQ from `client_sap` on `connection` is within the association limits.
    pub fn association_free(&self, connection: ConnectionId, client_sap: u16) -> bool {
        self.limit_reached(client_sap, connection).is_none()
    }

    /// The association limit an AARQ from `client_sap` on `connection` would exceed, if any
    /// (the connection's own association, which the AARQ replaces, does not count).
    fn limit_reached(&self, client_sap: u16, connection: ConnectionId) -> Option<u16> {
        let profile = &self.config.profile;
        let others = || self.sessions.iter().filter(move |(c, _)| *c != connection);
        let all = profile.max_associations;
        if all > 0 && others().count() >= usize::from(all) {
            return Some(all);
        }
        let per_client = profile.max_associations_per_client;
        let held = others().filter(|(_, s)| s.client_sap == client_sap).count();
        (per_client > 0 && held >= usize::from(per_client)).then_some(per_client)
    }

    /// How many associations are open (one per associated connection).
    pub fn associations(&self) -> usize {
        self.sessions.len()
    }

    /// Ends every association (a reboot, or every connection cut).
    fn end_associations(&mut self) {
        self.session = None;
        self.sessions.clear();
    }

    /// Reboots now, unreachable for `offline_ms`; the association is lost, stored state kept.
    pub fn reboot(&mut self, now_ms: u64, offline_ms: u64) {
        if self.activating && self.offline_until_ms.is_some() {
            // Power lost while the new image was being activated: it comes back on the old one
            // (MCS301: "reboots again with old FW").
            self.state
                .fail_next_activation
                .get_or_insert_with(|| "power lost during activation".into());
        }
        self.stats.reboots += 1;
        self.reboot_due_ms = None;
        self.end_associations();
        self.state.transfer.after_reboot(&self.config.profile);
        self.offline_until_ms = Some(now_ms + offline_ms);
        self.events.push_back(MeterEvent::Offline {
            until_ms: now_ms + offline_ms,
        });
        self.dirty = true;
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        // The transfer and the schedule keep meter time; the caller's clock is real time.
        let real = |t: u64| t.saturating_add_signed(-self.state.clock_offset_ms);
        [
            self.offline_until_ms,
            self.reboot_due_ms,
            self.state.transfer.poll_timeout().map(real),
            self.state.scheduled_activation_ms.map(real),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn env(&mut self, now_ms: u64) -> Env<'_> {
        Env {
            state: &mut self.state,
            profile: &self.config.profile,
            trusted_key: self.config.trusted_key.as_ref(),
            store: self.config.block_store.as_deref(),
            journal: self.journal.as_deref_mut(),
            now_ms,
        }
    }

    /// Makes every accepted block durable in `journal` before it is acknowledged; the state
    /// saved on other changes no longer needs to be written for each block.
    pub fn set_journal(&mut self, journal: Box<dyn BlockJournal>) {
        self.journal = Some(journal);
    }

    /// Runs whatever is due: the end of a reboot (completing an activation), the end of an
    /// asynchronous verification, a scheduled activation.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.reboot_due_ms.is_some_and(|t| now_ms >= t) {
            self.reboot_due_ms = None;
            let offline = self.config.profile.activation_reboot_ms;
            self.reboot(now_ms, offline);
        }
        if self.offline_until_ms.is_some_and(|t| now_ms >= t) {
            self.offline_until_ms = None;
            if std::mem::take(&mut self.activating) {
                self.complete_activation(now_ms);
            }
            if let Some(j) = &mut self.judge {
                j.back_online();
            }
            let time = self.env(now_ms).meter_time_ms();
            self.state.log.record(time, EventCode::Reboot, "power up");
            self.events.push_back(MeterEvent::Online);
            self.dirty = true;
        }
        if self.offline_until_ms.is_some() {
            return;
        }
        let meter_now = self.env(now_ms).meter_time_ms();
        if self
            .state
            .transfer
            .poll_timeout()
            .is_some_and(|t| meter_now >= t)
        {
            self.env(now_ms).with_transfer(|t, c| t.handle_timeout(c));
            self.dirty = true;
        }
        let due = self.state.scheduled_activation_ms;
        if due.is_some_and(|t| self.env(now_ms).meter_time_ms() >= t) {
            self.state.scheduled_activation_ms = None;
            self.state.scheduled_activation_raw = None;
            let (_, activation) = self.env(now_ms).with_transfer(|t, c| t.activate(c));
            if activation.is_some() {
                self.begin_activation(now_ms);
            }
            self.dirty = true;
        }
    }

    /// Installs the image to activate (or rolls back, when the activation is to fail).
    fn complete_activation(&mut self, now_ms: u64) {
        let fail = self.state.fail_next_activation.take();
        let mut parts = std::mem::take(&mut self.state.parts);
        self.env(now_ms)
            .with_transfer(|t, c| t.complete_activation(c, &mut parts, fail.as_deref()));
        self.state.parts = parts;
        if fail.is_some() {
            self.stats.activations_failed += 1;
        } else {
            self.stats.activations_succeeded += 1;
        }
    }

    /// Starts an accepted activation: in place for a part that switches without a reboot,
    /// else a reboot into the new image, now or after the profile's delay.
    fn begin_activation(&mut self, now_ms: u64) {
        let part = self.state.transfer.to_activate.as_ref().map(|i| i.part);
        let profile = &self.config.profile;
        if part.is_some_and(|p| profile.activation_without_reboot.contains(&p)) {
            self.complete_activation(now_ms);
            self.dirty = true;
            return;
        }
        self.activating = true;
        match profile.activation_drop_delay_ms {
            0 => {
                let offline = profile.activation_reboot_ms;
                self.reboot(now_ms, offline);
            }
            delay => self.reboot_due_ms = Some(now_ms + delay),
        }
    }

    /// Answers one request APDU from `client_sap` on `connection`, in that connection's own
    /// association; `None` when the meter does not answer (rebooting, or an unconfirmed
    /// service). An activation's reply is built before the meter reboots into the new image.
    pub fn handle_apdu(
        &mut self,
        now_ms: u64,
        connection: ConnectionId,
        client_sap: u16,
        request: &[u8],
    ) -> Option<Vec<u8>> {
        self.stats.requests += 1;
        self.session = self.take_session(connection);
        self.connection = connection;
        let reply = self.handle_request(now_ms, client_sap, request);
        if let Some(session) = self.session.take() {
            self.sessions.push((connection, session));
        }
        reply
    }

    /// Takes `connection`'s association out of `sessions`.
    fn take_session(&mut self, connection: ConnectionId) -> Option<Box<Session>> {
        let at = self.sessions.iter().position(|(c, _)| *c == connection)?;
        Some(self.sessions.swap_remove(at).1)
    }

    fn handle_request(&mut self, now_ms: u64, client_sap: u16, request: &[u8]) -> Option<Vec<u8>> {
        if self.offline_until_ms.is_some() {
            self.attempt_refused(now_ms);
            return None;
        }
        let injection = self.faults.on_request();
        match injection {
            Some(Injection::CutConnection) => {
                self.stats.connection_cuts += 1;
                self.end_associations();
                self.events.push_back(MeterEvent::CutConnections);
                return None;
            }
            Some(Injection::PowerCut) => {
                self.stats.power_cuts += 1;
                let offline = self.config.profile.reboot_ms;
                self.reboot(now_ms, offline);
                return None;
            }
            // Refused where the service is known, plain or deciphered (see `service`).
            Some(Injection::Busy(result)) => self.busy_now = Some(R(result)),
            _ => {}
        }
        let reply = self.answer(now_ms, client_sap, request);
        self.busy_now = None;
        if injection == Some(Injection::DropReply) {
            self.stats.dropped_replies += 1;
            return None;
        }
        if std::mem::take(&mut self.power_cut) {
            let offline = self.config.profile.reboot_ms;
            self.reboot(now_ms, offline);
            return None;
        }
        if std::mem::take(&mut self.activation_due) {
            self.begin_activation(now_ms);
            if self.faults.silent_activation()
                || self.config.profile.has(Quirk::ActivationWithoutReply)
            {
                return None;
            }
        }
        reply
    }

    fn answer(&mut self, now_ms: u64, client_sap: u16, request: &[u8]) -> Option<Vec<u8>> {
        if request.len() > self.config.profile.max_pdu_size as usize {
            return Some(ExceptionResponse::PDU_TOO_LONG.to_bytes());
        }
        let apdu = match Apdu::decode(request) {
            Ok(a) => a,
            // An APDU of an unknown service, or a known one whose body does not decode.
            Err(e) => {
                return Some(match e.kind {
                    dlms::ErrorKind::UnknownTag(_) if e.offset == 0 => exception(
                        StateError::ServiceUnknown,
                        ServiceError::ServiceNotSupported,
                    ),
                    _ => exception(StateError::ServiceNotAllowed, ServiceError::OtherReason),
                });
            }
        };
        match apdu {
            Apdu::Aarq(aarq) => Some(self.associate(now_ms, client_sap, &aarq).to_bytes()),
            Apdu::Rlrq(_) => {
                self.session = None;
                Some(dlms::association::release_response().to_bytes())
            }
            Apdu::Ciphered(c) => self.ciphered(now_ms, |cipher| cipher.unprotect_apdu(&c), false),
            Apdu::GeneralCiphering(g) => {
                self.ciphered(now_ms, |cipher| cipher.unprotect_general(&g), true)
            }
            other => {
                if self
                    .session
                    .as_ref()
                    .is_some_and(|s| s.association.cipher.is_some())
                {
                    // A ciphered context takes only ciphered service APDUs.
                    if let Some(j) = &mut self.judge {
                        j.unciphered(now_ms, client_sap);
                    }
                    return Some(exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::OperationNotPossible,
                    ));
                }
                self.service(now_ms, other)
            }
        }
    }

    fn ciphered(
        &mut self,
        now_ms: u64,
        unprotect: impl FnOnce(&mut dlms::security::CipherContext) -> Result<Vec<u8>, SecurityError>,
        general: bool,
    ) -> Option<Vec<u8>> {
        let Some(session) = self.session.as_mut() else {
            return Some(exception(
                StateError::ServiceNotAllowed,
                ServiceError::OperationNotPossible,
            ));
        };
        let sap = session.client_sap;
        let Some(cipher) = session.association.cipher.as_mut() else {
            return Some(exception(
                StateError::ServiceNotAllowed,
                ServiceError::OperationNotPossible,
            ));
        };
        let plain = match unprotect(cipher) {
            Ok(p) => p,
            Err(SecurityError::Replay { last, .. }) => {
                return Some(exception(
                    StateError::ServiceNotAllowed,
                    ServiceError::InvocationCounterError(last),
                ))
            }
            Err(_) => {
                return Some(exception(
                    StateError::ServiceNotAllowed,
                    ServiceError::DecipheringError,
                ))
            }
        };
        if let Some(last) = cipher.replay_guard.last() {
            self.state.client_invocation_counters.insert(sap, last);
            self.dirty = true;
        }
        let inner = match Apdu::decode(&plain) {
            Ok(a @ (Apdu::GetRequest(_) | Apdu::SetRequest(_) | Apdu::ActionRequest(_))) => a,
            _ => {
                return Some(exception(
                    StateError::ServiceNotAllowed,
                    ServiceError::ServiceNotSupported,
                ))
            }
        };
        let reply = self.service(now_ms, inner)?;
        let cipher = self.session.as_mut()?.association.cipher.as_mut()?;
        let protected = if general {
            cipher.protect_general(&reply)
        } else {
            cipher.protect_apdu(&reply)
        };
        self.state.invocation_counter = cipher.next_invocation_counter;
        self.dirty = true;
        protected.ok()
    }

    fn associate(&mut self, now_ms: u64, client_sap: u16, aarq: &Aarq) -> Aare {
        let rejected = |result| Aare {
            application_context: aarq.application_context,
            result,
            diagnostic: SourceDiagnostic::User(dlms::acse::user_diagnostic::NO_REASON_GIVEN),
            responding_ap_title: None,
            responder_acse_requirements: false,
            mechanism: None,
            responding_authentication_value: None,
            user_information: None,
        };
        let Some(client) = self.config.profile.client(client_sap).cloned() else {
            return rejected(AssociationResult::RejectedPermanent);
        };
        // This connection's own association (being replaced) is not in `sessions`.
        if let Some(limit) = self.limit_reached(client_sap, self.connection) {
            self.session = None;
            // Held or reset AARQs were judged when the edge asked (see `admit`).
            if self.config.profile.excess_association == ExcessAssociation::Reject {
                if let Some(j) = &mut self.judge {
                    j.over_the_limit(now_ms, client_sap, limit);
                }
            }
            return rejected(AssociationResult::RejectedTransient);
        }
        let authentication = match client.authentication {
            ClientAuth::None => ServerAuthentication::None,
            ClientAuth::Lls => ServerAuthentication::Lls {
                password: client.password.clone().unwrap_or_default().into_bytes(),
            },
            ClientAuth::HlsGmac => ServerAuthentication::HlsGmac,
        };
        let account = Account {
            client_sap,
            authentication,
            ciphered: client.authentication == ClientAuth::HlsGmac,
        };
        let mut supported_conformance = SUPPORTED_CONFORMANCE;
        if !self.config.profile.action_block_transfer {
            supported_conformance.remove(Conformance::BLOCK_TRANSFER_WITH_ACTION);
        }
        let policy = ServerPolicy {
            supported_conformance,
            max_receive_pdu_size: self.config.profile.max_pdu_size,
            min_client_pdu_size: 64,
            ciphering: Some(Ciphering {
                keys: self.config.keys.keys.clone(),
                system_title: self.config.keys.system_title,
                security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
                invocation_counter: self.state.invocation_counter,
            }),
        };
        let replay = ReplayGuard::after(
            self.state
                .client_invocation_counters
                .get(&client_sap)
                .copied(),
        );
        let stoc = self.challenge(now_ms, client_sap);
        let accepted = policy.accept(&account, aarq, &stoc, replay);
        self.session = accepted.association.map(|association| {
            if let Some(c) = &association.cipher {
                self.state.invocation_counter = c.next_invocation_counter;
                if let Some(last) = c.replay_guard.last() {
                    self.state
                        .client_invocation_counters
                        .insert(client_sap, last);
                }
                self.dirty = true;
            }
            Box::new(Session {
                client_sap,
                rights: client.rights,
                association,
                context: aarq.application_context,
                mechanism: aarq.mechanism.unwrap_or(0),
                outgoing: None,
                incoming: None,
                unanswered: 0,
            })
        });
        accepted.aare
    }

    /// The StoC challenge: 16 bytes that differ per association (not secret in an emulator,
    /// but never repeated for one meter, as the invocation counter moves on).
    fn challenge(&self, now_ms: u64, client_sap: u16) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.config.keys.system_title);
        h.update(now_ms.to_be_bytes());
        h.update(client_sap.to_be_bytes());
        h.update(self.state.invocation_counter.to_be_bytes());
        h.update((self.state.log.entries.len() as u64).to_be_bytes());
        h.finalize()[..16].to_vec()
    }

    fn service(&mut self, now_ms: u64, apdu: Apdu<'_>) -> Option<Vec<u8>> {
        let unconfirmed = unconfirmed(&apdu);
        if !unconfirmed {
            self.note_pending(now_ms, &apdu);
        }
        let refusal = self.busy_now.take().and_then(|r| busy_refusal(&apdu, r));
        let reply = match refusal {
            Some(refusal) => {
                self.stats.busy_replies += 1;
                refusal
            }
            None => self.carry_out(now_ms, apdu),
        };
        let mut reply = reply;
        if self.config.profile.has(Quirk::InvokeIdNotEchoed) && refused(&reply) {
            reply[2] = (reply[2] & 0xF0) | 0x01;
        }
        (!unconfirmed).then_some(reply)
    }

    /// Notes a confirmed request's invoke-id as unanswered until the edge delivers the
    /// replies; the judge hears of an id sent again meanwhile.
    fn note_pending(&mut self, now_ms: u64, apdu: &Apdu<'_>) {
        let iip = match apdu {
            Apdu::GetRequest(r) => r.iip(),
            Apdu::SetRequest(r) => r.iip(),
            Apdu::ActionRequest(r) => r.iip(),
            _ => return,
        };
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let bit = 1u16 << iip.id();
        if session.unanswered & bit != 0 {
            if let Some(j) = &mut self.judge {
                j.invoke_id_reused(now_ms, session.client_sap, iip.id());
            }
        }
        session.unanswered |= bit;
    }

    /// Carries out a GET, SET or ACTION and builds its reply.
    fn carry_out(&mut self, now_ms: u64, apdu: Apdu<'_>) -> Vec<u8> {
        let Some(session) = &self.session else {
            return exception(
                StateError::ServiceNotAllowed,
                ServiceError::OperationNotPossible,
            );
        };
        let authenticated = session.association.authenticated
            || self.config.profile.has(Quirk::ServesBeforeAuthentication);
        match apdu {
            Apdu::GetRequest(req) => {
                if !authenticated {
                    return get_error(req.iip(), R::READ_WRITE_DENIED);
                }
                self.get(now_ms, req)
            }
            Apdu::SetRequest(req) => {
                if !authenticated {
                    return set_error(&req, R::READ_WRITE_DENIED);
                }
                self.set(now_ms, req)
            }
            Apdu::ActionRequest(req) => self.action(now_ms, req),
            _ => exception(
                StateError::ServiceNotAllowed,
                ServiceError::ServiceNotSupported,
            ),
        }
    }

    fn find(&self, class_id: u16, ln: &dlms::apdu::ObisCode) -> Result<Object, R> {
        match cosem::catalogue().iter().find(|o| o.ln == *ln) {
            None => Err(R::OBJECT_UNDEFINED),
            Some(o) if o.class_id != class_id => Err(R::OBJECT_CLASS_INCONSISTENT),
            Some(o) => Ok(*o),
        }
    }

    fn view(&self) -> Option<AssociationView> {
        let s = self.session.as_ref()?;
        Some(AssociationView {
            client_sap: s.client_sap,
            server_sap: 1,
            rights: s.rights,
            conformance: s.association.negotiated.conformance,
            client_max_pdu: s.association.negotiated.client_max_receive_pdu_size,
            server_max_pdu: s.association.negotiated.server_max_receive_pdu_size,
            context: s.context,
            mechanism: s.mechanism,
            authenticated: s.association.authenticated,
        })
    }

    fn get_value(
        &mut self,
        now_ms: u64,
        a: &AttributeWithSelection<'_>,
    ) -> Result<Data<'static>, R> {
        let d = &a.attribute;
        let object = self.find(d.class_id, &d.instance)?;
        if d.attribute_id < 1 || d.attribute_id > object.attributes {
            return Err(cosem::NO_SUCH_INDEX);
        }
        if a.access.is_some() && object.kind != Kind::EventLog {
            return Err(R::OTHER_REASON);
        }
        if self.judge.is_some() && object.kind == Kind::ImageTransfer {
            self.judge_transfer(now_ms, crate::judge::Seen::Get(d.attribute_id));
        }
        let view = self.view().expect("a session exists");
        let objects = cosem::catalogue();
        // A GET reads; nothing it does is stored, so it needs no journal.
        let env = Env {
            state: &mut self.state,
            profile: &self.config.profile,
            trusted_key: self.config.trusted_key.as_ref(),
            store: self.config.block_store.as_deref(),
            journal: None,
            now_ms,
        };
        match object.kind {
            Kind::AssociationLn => {
                cosem::association_ln::get(&view, objects, &object, d.attribute_id)
            }
            Kind::Clock => cosem::clock::get(&env, &object, d.attribute_id),
            Kind::ImageTransfer => cosem::image_transfer::get(&env, &object, d.attribute_id),
            Kind::ActivationScheduler => cosem::schedule::get(&env, &object, d.attribute_id),
            Kind::ActivationScript => cosem::script_table::get(&object, d.attribute_id),
            Kind::EventLog => cosem::profile_generic::get(&env, &object, d.attribute_id),
            Kind::FirmwareIdentifier(_)
            | Kind::FirmwareSignature(_)
            | Kind::LastEventCode
            | Kind::LastEventDetail
            | Kind::ErrorRegister
            | Kind::BroadcastInvocationCounter => cosem::data::get(&env, &object, d.attribute_id),
        }
    }

    /// The largest APDU the client accepts, and whether it takes GET datablocks.
    fn reply_limit(&self) -> (usize, bool) {
        let s = self.session.as_ref().expect("a session exists");
        let n = &s.association.negotiated;
        (
            n.client_max_receive_pdu_size as usize,
            n.conformance.contains(Conformance::BLOCK_TRANSFER_WITH_GET),
        )
    }

    /// A GET reply: whole if it fits the client's PDU size, else the first datablock.
    fn get_reply(&mut self, iip: InvokeIdAndPriority, whole: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        let (limit, blocks_allowed) = self.reply_limit();
        if whole.len() <= limit {
            return whole;
        }
        if !blocks_allowed {
            return get_error(iip, R::OTHER_REASON);
        }
        // C4 02 iip, last, block number (4), choice, length (up to 3): 13 bytes of header.
        let block_len = limit.saturating_sub(13).max(1);
        let outgoing = OutgoingBlocks {
            data,
            block_len,
            last_sent: 0,
            iip,
        };
        self.next_block(outgoing, 1)
    }

    fn next_block(&mut self, mut outgoing: OutgoingBlocks, number: u32) -> Vec<u8> {
        let iip = outgoing.iip;
        let Some((bytes, last)) = outgoing.block(number) else {
            return datablock_error(iip, R::DATA_BLOCK_NUMBER_INVALID);
        };
        let reply = GetResponse::WithDatablock {
            iip,
            block: DataBlockG {
                last_block: last,
                block_number: number,
                result: Ok(Cow::Borrowed(bytes)),
            },
        }
        .to_bytes();
        outgoing.last_sent = number;
        if let Some(s) = self.session.as_mut() {
            s.outgoing = (!last).then_some(outgoing);
        }
        reply
    }

    fn get(&mut self, now_ms: u64, req: GetRequest<'_>) -> Vec<u8> {
        match req {
            GetRequest::Normal { iip, attribute } => {
                if let Some(s) = self.session.as_mut() {
                    s.outgoing = None;
                }
                let result = match self.get_value(now_ms, &attribute) {
                    Ok(value) => GetDataResult::Data(EncodedData::new(&value)),
                    Err(e) => GetDataResult::Error(e),
                };
                let data = match &result {
                    GetDataResult::Data(v) => v.as_bytes().to_vec(),
                    GetDataResult::Error(_) => Vec::new(),
                };
                let whole = GetResponse::Normal { iip, result }.to_bytes();
                self.get_reply(iip, whole, data)
            }
            GetRequest::WithList { iip, attributes } => {
                let results: Vec<GetDataResult<'static>> = attributes
                    .iter()
                    .map(|a| match self.get_value(now_ms, a) {
                        Ok(v) => GetDataResult::Data(EncodedData::new(&v)),
                        Err(e) => GetDataResult::Error(e),
                    })
                    .collect();
                let mut data = Vec::new();
                put_length(&mut data, results.len());
                for r in &results {
                    r.encode(&mut data);
                }
                let whole = GetResponse::WithList { iip, results }.to_bytes();
                self.get_reply(iip, whole, data)
            }
            GetRequest::Next { iip, block_number } => {
                match self.session.as_mut().and_then(|s| s.outgoing.take()) {
                    Some(out) if out.last_sent == block_number => {
                        self.next_block(out, block_number + 1)
                    }
                    Some(_) => datablock_error(iip, R::DATA_BLOCK_NUMBER_INVALID),
                    None => datablock_error(iip, R::NO_LONG_GET_IN_PROGRESS),
                }
            }
        }
    }

    fn set_value(&mut self, now_ms: u64, a: &AttributeWithSelection<'_>, value: &Data<'_>) -> R {
        let d = &a.attribute;
        let object = match self.find(d.class_id, &d.instance) {
            Ok(o) => o,
            Err(e) => return e,
        };
        if d.attribute_id < 1 || d.attribute_id > object.attributes {
            return cosem::NO_SUCH_INDEX;
        }
        let rights = self.session.as_ref().map_or(Rights::ReadOnly, |s| s.rights);
        if crate::access::attribute_mode(rights, &object, d.attribute_id)
            & crate::access::mode::WRITE
            == 0
        {
            return R::READ_WRITE_DENIED;
        }
        self.dirty = true;
        let mut env = self.env(now_ms);
        match object.kind {
            Kind::Clock => cosem::clock::set(&mut env, d.attribute_id, value),
            Kind::ImageTransfer => cosem::image_transfer::set(&mut env, d.attribute_id, value),
            Kind::ActivationScheduler => cosem::schedule::set(&mut env, d.attribute_id, value),
            _ => R::READ_WRITE_DENIED,
        }
    }

    fn set(&mut self, now_ms: u64, req: SetRequest<'_>) -> Vec<u8> {
        match req {
            SetRequest::Normal {
                iip,
                attribute,
                value,
            } => {
                if self.config.profile.has(Quirk::TrueOnlyAsFf) && value.as_bytes() == [0x03, 0x01]
                {
                    // This meter takes only 0xFF as TRUE (CONNEXO `setBooleanValue`).
                    return SetResponse::Normal {
                        iip,
                        result: R::TYPE_UNMATCHED,
                    }
                    .to_bytes();
                }
                let result = self.set_value(now_ms, &attribute, &value.decode());
                SetResponse::Normal { iip, result }.to_bytes()
            }
            SetRequest::WithList {
                iip,
                attributes,
                values,
            } => {
                let results = if attributes.len() == values.len() {
                    attributes
                        .iter()
                        .zip(&values)
                        .map(|(a, v)| self.set_value(now_ms, a, &v.decode()))
                        .collect()
                } else {
                    vec![R::TYPE_UNMATCHED; attributes.len()]
                };
                SetResponse::WithList { iip, results }.to_bytes()
            }
            SetRequest::WithFirstDatablock {
                iip,
                attribute,
                block,
            } => {
                let target = IncomingTarget::Set(AttributeWithSelection {
                    attribute: attribute.attribute,
                    access: None,
                });
                self.incoming_block(now_ms, iip, target, &block, true)
            }
            SetRequest::WithDatablock { iip, block } => {
                let target = match self.session.as_ref().and_then(|s| s.incoming.as_ref()) {
                    Some(i) => i.target.clone(),
                    None => {
                        return set_error_last(iip, R::NO_LONG_SET_IN_PROGRESS, block.block_number)
                    }
                };
                self.incoming_block(now_ms, iip, target, &block, false)
            }
            SetRequest::WithListAndFirstDatablock { iip, .. } => SetResponse::Normal {
                iip,
                result: R::OTHER_REASON,
            }
            .to_bytes(),
        }
    }

    /// Collects one block of a long SET or ACTION; runs the request on the last block.
    fn incoming_block(
        &mut self,
        now_ms: u64,
        iip: InvokeIdAndPriority,
        target: IncomingTarget,
        block: &DataBlockSa<'_>,
        first: bool,
    ) -> Vec<u8> {
        let is_action = matches!(target, IncomingTarget::Action(_));
        let fail = |r: R, n: u32| {
            if is_action {
                action_result(iip, r)
            } else {
                set_error_last(iip, r, n)
            }
        };
        let session = self.session.as_mut().expect("a session exists");
        let mut incoming = match (first, session.incoming.take()) {
            (true, _) => IncomingBlocks {
                target,
                data: Vec::new(),
                last_received: 0,
            },
            (false, Some(i)) => i,
            (false, None) => return fail(R::NO_LONG_SET_IN_PROGRESS, block.block_number),
        };
        if block.block_number != incoming.last_received + 1 {
            return fail(R::DATA_BLOCK_NUMBER_INVALID, block.block_number);
        }
        if incoming.data.len() + block.raw_data.len() > MAX_INCOMING {
            return fail(R::OTHER_REASON, block.block_number);
        }
        incoming.data.extend_from_slice(&block.raw_data);
        incoming.last_received = block.block_number;
        if !block.last_block {
            let n = block.block_number;
            session.incoming = Some(incoming);
            return if is_action {
                ActionResponse::NextPblock {
                    iip,
                    block_number: n,
                }
                .to_bytes()
            } else {
                SetResponse::Datablock {
                    iip,
                    block_number: n,
                }
                .to_bytes()
            };
        }
        let value = match EncodedData::parse(&incoming.data) {
            Ok(v) => v,
            Err(_) => return fail(R::TYPE_UNMATCHED, block.block_number),
        };
        match incoming.target {
            IncomingTarget::Set(attribute) => {
                let result = self.set_value(now_ms, &attribute, &value.decode());
                SetResponse::LastDatablock {
                    iip,
                    result,
                    block_number: block.block_number,
                }
                .to_bytes()
            }
            IncomingTarget::Action(method) => {
                let outcome = self.invoke(now_ms, &method, Some(&value));
                action_reply(iip, outcome)
            }
        }
    }

    /// Tells the judge of a request to the image transfer object, before it is handled.
    fn judge_transfer(&mut self, now_ms: u64, seen: crate::judge::Seen<'_>) {
        let Some(judge) = self.judge.as_mut() else {
            return;
        };
        let t = &self.state.transfer;
        let view = crate::judge::TransferView {
            status: t.status,
            block_size: self.config.profile.image_block_size,
            identifier: &t.identifier,
            size: t.size,
            block_count: t.block_count(),
            received: &t.received,
            verifies_implicitly: !self.config.profile.has(Quirk::NoImplicitVerify),
        };
        judge.observe(now_ms, self.connection, seen, &view);
    }

    /// Tells the judge of an image transfer method with its parameters.
    fn judge_method(&mut self, now_ms: u64, method: i8, params: Option<&EncodedData<'_>>) {
        use crate::judge::Seen;
        use dlms::cosem::image_transfer::{read_block_parameters, read_initiate_parameters};
        // Decoded for initiate only: a block's parameters are read where they lie.
        let decoded;
        let seen = match method {
            it_method::IMAGE_TRANSFER_INITIATE => {
                decoded = params.map(EncodedData::decode);
                decoded
                    .as_ref()
                    .and_then(read_initiate_parameters)
                    .map(|(identifier, size)| Seen::Initiate { identifier, size })
            }
            it_method::IMAGE_BLOCK_TRANSFER => {
                params
                    .and_then(read_block_parameters)
                    .map(|(number, block)| Seen::Block {
                        number,
                        len: block.len(),
                    })
            }
            it_method::IMAGE_VERIFY => Some(Seen::Verify),
            it_method::IMAGE_ACTIVATE => Some(Seen::Activate),
            _ => None,
        };
        if let Some(seen) = seen {
            self.judge_transfer(now_ms, seen);
        }
    }

    /// What the meter's judge saw, if it judges.
    pub fn judge(&self) -> Option<&crate::judge::Judge> {
        self.judge.as_ref()
    }

    fn invoke(
        &mut self,
        now_ms: u64,
        m: &MethodDescriptor,
        params: Option<&EncodedData<'_>>,
    ) -> MethodOutcome {
        let object = match self.find(m.class_id, &m.instance) {
            Ok(o) => o,
            Err(e) => return MethodOutcome::result(e),
        };
        if m.method_id < 1 || m.method_id > object.methods {
            return MethodOutcome::result(cosem::NO_SUCH_INDEX);
        }
        let session = self.session.as_ref().expect("a session exists");
        let authenticated = session.association.authenticated
            || self.config.profile.has(Quirk::ServesBeforeAuthentication);
        if !authenticated && object.kind != Kind::AssociationLn {
            return MethodOutcome::result(R::READ_WRITE_DENIED);
        }
        if !crate::access::method_allowed(session.rights, &object, m.method_id) {
            return MethodOutcome::result(R::READ_WRITE_DENIED);
        }
        if self.judge.is_some() && object.kind == Kind::ImageTransfer {
            self.judge_method(now_ms, m.method_id, params);
        }
        let journalled_block = self.journal.is_some()
            && object.kind == Kind::ImageTransfer
            && m.method_id == it_method::IMAGE_BLOCK_TRANSFER;
        // A block the journal made durable needs no save of the whole state.
        self.dirty |= !journalled_block;
        if object.kind == Kind::ImageTransfer
            && m.method_id == it_method::IMAGE_TRANSFER_INITIATE
            && self.faults.on_initiate()
        {
            self.stats.storage_full += 1;
            return MethodOutcome::result(R::OTHER_REASON);
        }
        let mut held_before = false;
        if object.kind == Kind::ImageTransfer && m.method_id == it_method::IMAGE_BLOCK_TRANSFER {
            let block = params.and_then(read_block_parameters);
            held_before = block.is_some_and(|(n, _)| {
                self.state.transfer.status == ImageTransferStatus::Initiated
                    && self
                        .state
                        .transfer
                        .received
                        .get(n as usize)
                        .is_some_and(|b| *b)
            });
            match block.and_then(|(n, _)| self.faults.on_block(n)) {
                Some(Injection::LoseBlock) => {
                    self.stats.lost_blocks += 1;
                    return MethodOutcome::result(R::SUCCESS);
                }
                Some(Injection::PowerCut) => {
                    self.stats.power_cuts += 1;
                    self.power_cut = true;
                    return MethodOutcome::result(R::HARDWARE_FAULT);
                }
                _ => {}
            }
        }
        let outcome = match object.kind {
            Kind::AssociationLn => self.reply_to_hls(params),
            Kind::ImageTransfer => {
                cosem::image_transfer::action(&mut self.env(now_ms), m.method_id, params)
            }
            Kind::ActivationScript => {
                cosem::script_table::action(&mut self.env(now_ms), m.method_id, params)
            }
            _ => MethodOutcome::result(cosem::NO_SUCH_INDEX),
        };
        if object.kind == Kind::ImageTransfer && outcome.result == R::SUCCESS {
            match m.method_id {
                it_method::IMAGE_BLOCK_TRANSFER => {
                    self.stats.blocks_received += 1;
                    self.stats.blocks_repeated += u64::from(held_before);
                }
                it_method::IMAGE_TRANSFER_INITIATE => self.stats.initiates += 1,
                _ => {}
            }
        }
        if outcome.activation.is_some() {
            // The reply goes out first; the reboot drops the connection after it.
            self.activation_due = true;
        }
        outcome
    }

    fn reply_to_hls(&mut self, params: Option<&EncodedData<'_>>) -> MethodOutcome {
        let session = self.session.as_mut().expect("a session exists");
        let f_stoc = params.map(|p| p.decode().into_owned());
        let Some(Data::OctetString(f_stoc)) = f_stoc else {
            return MethodOutcome::result(R::TYPE_UNMATCHED);
        };
        match session.association.reply_to_hls(&f_stoc) {
            Ok(f_ctos) => {
                if let Some(c) = &session.association.cipher {
                    self.state.invocation_counter = c.next_invocation_counter;
                }
                MethodOutcome {
                    result: R::SUCCESS,
                    data: Some(Data::OctetString(f_ctos.into())),
                    activation: None,
                }
            }
            Err(_) => MethodOutcome::result(R::OTHER_REASON),
        }
    }

    fn action(&mut self, now_ms: u64, req: ActionRequest<'_>) -> Vec<u8> {
        match req {
            ActionRequest::Normal {
                iip,
                method,
                parameters,
            } => {
                let outcome = self.invoke(now_ms, &method, parameters.as_ref());
                action_reply(iip, outcome)
            }
            ActionRequest::WithList {
                iip,
                methods,
                parameters,
            } => {
                let outcomes = methods
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let o = self.invoke(now_ms, m, parameters.get(i));
                        outcome_of(o)
                    })
                    .collect();
                ActionResponse::WithList { iip, outcomes }.to_bytes()
            }
            // A service the association did not agree is refused as the Green Book's
            // ExceptionResponse says.
            ActionRequest::WithFirstPblock { .. } | ActionRequest::WithPblock { .. }
                if !self.config.profile.action_block_transfer =>
            {
                exception(
                    StateError::ServiceNotAllowed,
                    ServiceError::ServiceNotSupported,
                )
            }
            ActionRequest::WithFirstPblock { iip, method, block } => {
                self.incoming_block(now_ms, iip, IncomingTarget::Action(method), &block, true)
            }
            ActionRequest::WithPblock { iip, block } => {
                let target = match self.session.as_ref().and_then(|s| s.incoming.as_ref()) {
                    Some(i) => i.target.clone(),
                    None => return action_result(iip, R::NO_LONG_GET_IN_PROGRESS),
                };
                self.incoming_block(now_ms, iip, target, &block, false)
            }
            ActionRequest::NextPblock { iip, .. }
            | ActionRequest::WithListAndFirstPblock { iip, .. } => {
                action_result(iip, R::OTHER_REASON)
            }
        }
    }
}

fn outcome_of(o: MethodOutcome) -> ActionOutcome<'static> {
    ActionOutcome {
        result: o.result,
        return_parameters: o.data.map(|d| GetDataResult::Data(EncodedData::new(&d))),
    }
}

fn action_reply(iip: InvokeIdAndPriority, o: MethodOutcome) -> Vec<u8> {
    ActionResponse::Normal {
        iip,
        outcome: outcome_of(o),
    }
    .to_bytes()
}

/// The reply of a busy meter to a plain GET, SET or ACTION: `r`, nothing carried out. Other
/// APDUs (associations, ciphered services) are served as usual.
/// SET and ACTION may be invoked unconfirmed (service-class bit 6 of the invoke-id-and-priority
/// clear, docs/protocol.md#xdlms-apdus): the meter carries them out and answers nothing, as the
/// broadcast and multicast image transfers rely on (docs/protocol.md#idis-upgrade-objects). GET is confirmed only.
fn unconfirmed(apdu: &Apdu<'_>) -> bool {
    match apdu {
        Apdu::SetRequest(r) => !r.iip().confirmed(),
        Apdu::ActionRequest(r) => !r.iip().confirmed(),
        _ => false,
    }
}

/// How a busy meter refuses a GET, SET or ACTION without carrying it out; `None` for the
/// requests a busy spell does not refuse.
fn busy_refusal(apdu: &Apdu<'_>, r: R) -> Option<Vec<u8>> {
    match apdu {
        Apdu::GetRequest(GetRequest::Normal { iip, .. }) => Some(get_error(*iip, r)),
        Apdu::SetRequest(req @ SetRequest::Normal { .. }) => Some(set_error(req, r)),
        Apdu::ActionRequest(ActionRequest::Normal { iip, .. }) => Some(action_result(*iip, r)),
        _ => None,
    }
}

fn action_result(iip: InvokeIdAndPriority, r: R) -> Vec<u8> {
    action_reply(iip, MethodOutcome::result(r))
}

fn get_error(iip: InvokeIdAndPriority, r: R) -> Vec<u8> {
    GetResponse::Normal {
        iip,
        result: GetDataResult::Error(r),
    }
    .to_bytes()
}

fn datablock_error(iip: InvokeIdAndPriority, r: R) -> Vec<u8> {
    GetResponse::WithDatablock {
        iip,
        block: DataBlockG {
            last_block: true,
            block_number: 0,
            result: Err(r),
        },
    }
    .to_bytes()
}

fn set_error(req: &SetRequest<'_>, r: R) -> Vec<u8> {
    let iip = match req {
        SetRequest::Normal { iip, .. }
        | SetRequest::WithFirstDatablock { iip, .. }
        | SetRequest::WithDatablock { iip, .. }
        | SetRequest::WithList { iip, .. }
        | SetRequest::WithListAndFirstDatablock { iip, .. } => *iip,
    };
    SetResponse::Normal { iip, result: r }.to_bytes()
}

fn set_error_last(iip: InvokeIdAndPriority, r: R, block_number: u32) -> Vec<u8> {
    SetResponse::LastDatablock {
        iip,
        result: r,
        block_number,
    }
    .to_bytes()
}

mod group;
#[cfg(test)]
mod tests;

pub use group::{GroupAddress, GroupDiscard, GroupOutcome};
