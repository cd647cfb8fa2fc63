//! The steps of a case: what each does, what it expects, and their validation.

use super::case::Tier;
use super::object_ref::ObjectRef;
use super::value::{parse_hex, NumSpec, ValueSpec};
use dlms::conformance::Conformance;
use serde::Deserialize;

/// One value or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// Several, any of which will do.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The client a `connect` step associates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// The target's configured client.
    #[default]
    Main,
    /// The public client (SAP 16, no authentication).
    Public,
    /// The LLS client.
    Lls,
    /// The HLS-GMAC client.
    Hls,
}

/// A `connect` step: a fresh association, possibly broken on purpose.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// Which client.
    #[serde(default)]
    pub client: ClientKind,
    /// HLS: whether to complete the authentication (reply_to_HLS_authentication); `false`
    /// leaves the association waiting for it. Default true.
    #[serde(default = "yes")]
    pub authenticate: bool,
    /// An LLS password to use instead of the right one.
    pub password: Option<String>,
    /// The application context name id to propose instead (1 LN, 3 LN ciphered).
    pub context: Option<u8>,
    /// The mechanism name id to propose instead.
    pub mechanism: Option<u8>,
    /// The client-max-receive-pdu-size to propose.
    pub max_pdu: Option<u16>,
    /// HDLC: the transmit and receive window to propose.
    pub hdlc_window: Option<u8>,
    /// HDLC: the maximum information field length to propose.
    pub hdlc_max_info: Option<u16>,
}

fn yes() -> bool {
    true
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            client: ClientKind::default(),
            authenticate: true,
            password: None,
            context: None,
            mechanism: None,
            max_pdu: None,
            hdlc_window: None,
            hdlc_max_info: None,
        }
    }
}

/// Which image an `initiate` step starts a transfer of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// Opaque test bytes made from the case's seed: enough for transfer and bitmap checks,
    /// never verified successfully by a meter that checks signatures.
    #[default]
    Opaque,
    /// The target's valid image.
    Valid,
    /// The valid image with its signature broken.
    BadSignature,
    /// A valid image for another firmware part.
    WrongPart,
    /// A valid image for the metrology part.
    Metrology,
}

/// An `initiate` step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Initiate {
    /// The image.
    #[serde(default)]
    pub image: ImageKind,
    /// Opaque images: how many blocks (the last one half a block). Default 5.
    pub blocks: Option<u32>,
    /// The identifier to send instead of the image's (ASCII).
    pub identifier: Option<String>,
    /// Appended to the identifier.
    pub identifier_suffix: Option<String>,
    /// Whether to write image_transfer_enabled TRUE first when it reads FALSE, as a head-end
    /// does (default); `false` to test a disabled meter.
    #[serde(default = "yes")]
    pub enable: bool,
}

impl Default for Initiate {
    fn default() -> Self {
        Initiate {
            image: ImageKind::default(),
            blocks: None,
            identifier: None,
            identifier_suffix: None,
            enable: yes(),
        }
    }
}

/// The most blocks an opaque test image may have.
pub const MAX_OPAQUE_BLOCKS: u32 = 100_000;

/// Which blocks a `send` step sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BlockSelection {
    /// `"all"`, or a range `"A..B"` (B excluded; `$vars` allowed at either end).
    Text(String),
    /// A list of block numbers.
    List(Vec<NumSpec>),
}

/// Polling limits for verify, activate and wait steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Poll {
    /// How long to poll, or to wait for the meter to come back; unset, the target's deadline
    /// (verification, or coming back after a reboot), else 60 s.
    pub within_s: Option<u64>,
    /// How often to poll image_transfer_status.
    pub poll_ms: u64,
    /// How long to wait for the method's reply before counting it as no reply.
    pub reply_s: u64,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            within_s: None,
            poll_ms: 250,
            reply_s: 5,
        }
    }
}

/// A `schedule_activation` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Seconds after the time the meter's clock reads.
    pub in_s: u64,
}

/// A `group_block` step: image_block_transfer of one block as a group request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBlock {
    /// The block number.
    pub block: u32,
    /// How it is addressed: to all stations, or to the meter's multicast group.
    #[serde(default)]
    pub addressing: GroupAddressing,
    /// The broadcast invocation counter: the next, or the one the last group block used again.
    #[serde(default)]
    pub counter: GroupCounter,
}

/// How a `group_block` is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupAddressing {
    /// To all stations: wrapper wPort 127, or an HDLC UI frame to the all-station address.
    #[default]
    Broadcast,
    /// To the meter's IP multicast group (the targets file's `multicast`).
    Multicast,
}

/// Which broadcast invocation counter a `group_block` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupCounter {
    /// Above every counter used or read so far.
    #[default]
    Next,
    /// The counter of the case's last group block again: a replay.
    Same,
}

/// A `wait_status` step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStatus {
    /// The statuses waited for.
    pub status: OneOrMany<u8>,
    /// For how long.
    #[serde(default = "default_wait")]
    pub within_s: u64,
}

fn default_wait() -> u64 {
    30
}

/// A `wrapper_frame` step: an AARQ in a wrapper frame with a broken header, on a new
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapperFrame {
    /// The version field (1 is right).
    #[serde(default = "one")]
    pub version: u16,
    /// The length field to declare instead of the AARQ's length.
    pub declared_length: Option<u16>,
}

fn one() -> u16 {
    1
}

/// An `hdlc_frame` step: an SNRM, on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdlcFrame {
    /// Whether the FCS is right.
    #[serde(default)]
    pub bad_fcs: bool,
    /// The server upper address to use instead of the target's.
    pub server_upper: Option<u16>,
}

/// What a step expects. Every field is optional; an absent field is not checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The result (data-access-result or action-result name; `no-reply` and `exception` too).
    pub result: Option<OneOrMany<String>>,
    /// Results that must not come.
    pub not_result: Option<OneOrMany<String>>,
    /// The value.
    pub value: Option<ValueSpec>,
    /// The value's A-XDR type.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// A bit-string: `"sent"` (exactly the blocks this case sent, length block_count), or 0/1.
    pub bits: Option<String>,
    /// image_transfer_status at the end of a verify, activate or wait step.
    pub status: Option<OneOrMany<u8>>,
    /// A number at least this large.
    pub min: Option<NumSpec>,
    /// A number at most this large.
    pub max: Option<NumSpec>,
    /// The association: `accepted` or `rejected`.
    pub association: Option<String>,
    /// Conformance bits the association must have agreed, and no bit that was not proposed.
    pub conformance: Option<Vec<String>>,
    /// Raw steps: hex patterns of the reply (`..` any byte, a trailing `*` any tail).
    /// Frame steps: `reply`, `silence` or `closed`.
    pub reply: Option<OneOrMany<String>>,
    /// Alternatives, each a whole expectation: the step holds when one of them does (where the
    /// standard leaves several behaviours open). No other field may be given with it.
    pub any_of: Option<Vec<Expect>>,
    /// With the step's `declares`: the value of the declared option this expectation (or this
    /// alternative) shows when it holds.
    pub means: Option<toml::Value>,
}

impl Expect {
    /// Whether a result is acceptable: one of `result` if given, else none of `not_result`
    /// if given, else `success` when `default_success`, else anything.
    ///
    /// `result = "*"` and `not_result` accept only what the meter answered to the request:
    /// never a result the harness makes itself ([`HARNESS_RESULTS`]), nor a reply under
    /// another invoke-id.
    pub fn accepts(&self, result: &str, default_success: bool) -> bool {
        let from_meter = !HARNESS_RESULTS.contains(&result) && result != "wrong-invoke-id";
        match (&self.result, &self.not_result) {
            (Some(r), _) => r
                .to_vec()
                .iter()
                .any(|n| n == result || (n == "*" && from_meter)),
            (None, Some(not)) => from_meter && !not.to_vec().iter().any(|n| n == result),
            (None, None) => !default_success || result == "success",
        }
    }
}

/// Results the harness makes itself: a reply it could not decode, a request it could not send,
/// a block size it could not use. None is the meter refusing anything.
pub const HARNESS_RESULTS: &[&str] = &["bad-reply", "not-sent", "unusable-block-size"];

/// The results a case may name (`*` in `result`: any the meter answered).
pub const RESULT_NAMES: &[&str] = &[
    "*",
    "success",
    "hardware-fault",
    "temporary-failure",
    "read-write-denied",
    "object-undefined",
    "object-class-inconsistent",
    "object-unavailable",
    "type-unmatched",
    "scope-of-access-violated",
    "data-block-unavailable",
    "long-get-aborted",
    "no-long-get-in-progress",
    "long-set-aborted",
    "no-long-set-in-progress",
    "data-block-number-invalid",
    "other-reason",
    "no-reply",
    "exception",
    "wrong-invoke-id",
];

/// A step as written, before validation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepSpec {
    connect: Option<Connect>,
    release: Option<bool>,
    reconnect: Option<Poll>,
    power_cycle: Option<Poll>,
    get: Option<String>,
    set: Option<String>,
    action: Option<String>,
    require: Option<String>,
    var: Option<String>,
    initiate: Option<Initiate>,
    send: Option<BlockSelection>,
    fill_gaps: Option<bool>,
    verify: Option<Poll>,
    activate: Option<Poll>,
    schedule_activation: Option<Schedule>,
    wait_status: Option<WaitStatus>,
    wait_ms: Option<u64>,
    raw: Option<String>,
    unconfirmed: Option<bool>,
    group_block: Option<GroupBlock>,
    wrapper_frame: Option<WrapperFrame>,
    hdlc_frame: Option<HdlcFrame>,
    value: Option<ValueSpec>,
    pad_last: Option<bool>,
    expect: Option<Expect>,
    skip_if_unmet: Option<bool>,
    capture: Option<String>,
    declares: Option<String>,
    note: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Associates anew (closing the current association).
    Connect(Connect),
    /// Releases the association and closes the connection.
    Release,
    /// Closes and associates again, retrying while the meter is away.
    Reconnect(Poll),
    /// Power-cycles the meter (bench capability), then reconnects.
    PowerCycle(Poll),
    /// GET.
    Get(ObjectRef),
    /// SET of a value.
    Set(ObjectRef, ValueSpec),
    /// ACTION with optional parameters; `true` sends it unconfirmed (service-class bit clear)
    /// and listens a while for the reply that should not come.
    Invoke(ObjectRef, Option<ValueSpec>, bool),
    /// Skips the case when the meter does not have this attribute.
    Require(ObjectRef),
    /// Reads a variable the case set (`server_max_pdu`, a capture), to check it.
    Var(String),
    /// Reads the block size and initiates a transfer.
    Initiate(Initiate),
    /// Sends image blocks.
    Send {
        /// Which.
        blocks: BlockSelection,
        /// Zero-pad the last block to the block size; unset, as the statement declares.
        pad_last: Option<bool>,
    },
    /// Reads the bitmap and sends what is missing, until complete.
    FillGaps,
    /// image_verify, polling image_transfer_status on temporary-failure.
    Verify(Poll),
    /// image_activate, surviving the reboot and polling until the status settles.
    Activate(Poll),
    /// Sets the activation scheduler 0-0:15.0.2.255 to run this many seconds after the time
    /// the meter's clock reads.
    ScheduleActivation(u64),
    /// Polls image_transfer_status.
    WaitStatus(WaitStatus),
    /// Waits.
    WaitMs(u64),
    /// Sends an APDU as is.
    Raw(Vec<u8>),
    /// Sends an image block as a group request, unconfirmed, and listens for the reply that
    /// should not come.
    GroupBlock(GroupBlock),
    /// Sends a broken wrapper frame on a new connection.
    WrapperFrame(WrapperFrame),
    /// Sends an SNRM on a new connection.
    HdlcFrame(HdlcFrame),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Connect(_) => "connect",
            Action::Release => "release",
            Action::Reconnect(_) => "reconnect",
            Action::PowerCycle(_) => "power_cycle",
            Action::Get(_) => "get",
            Action::Set(..) => "set",
            Action::Invoke(..) => "action",
            Action::Require(_) => "require",
            Action::Var(_) => "var",
            Action::Initiate(_) => "initiate",
            Action::Send { .. } => "send",
            Action::FillGaps => "fill_gaps",
            Action::Verify(_) => "verify",
            Action::Activate(_) => "activate",
            Action::ScheduleActivation(_) => "schedule_activation",
            Action::WaitStatus(_) => "wait_status",
            Action::WaitMs(_) => "wait_ms",
            Action::Raw(_) => "raw",
            Action::GroupBlock(_) => "group_block",
            Action::WrapperFrame(_) => "wrapper_frame",
            Action::HdlcFrame(_) => "hdlc_frame",
        }
    }

    /// The phase of an upgrade this step's time counts to, if any.
    pub fn phase(&self) -> Option<&'static str> {
        match self {
            Action::Initiate(_) | Action::Send { .. } | Action::FillGaps => Some("transfer"),
            Action::Verify(_) => Some("verify"),
            Action::Activate(_) | Action::ScheduleActivation(_) | Action::WaitStatus(_) => {
                Some("activate")
            }
            _ => None,
        }
    }

    /// How far this step changes the meter.
    pub fn tier(&self) -> Tier {
        use dlms::cosem::image_transfer::{method, CLASS_ID, LOGICAL_NAME};
        let image_method = |r: &ObjectRef| r.class_id == CLASS_ID && r.obis == LOGICAL_NAME;
        match self {
            Action::Activate(_) | Action::ScheduleActivation(_) => Tier::Activate,
            Action::Invoke(r, ..) if image_method(r) && r.index == method::IMAGE_ACTIVATE => {
                Tier::Activate
            }
            Action::Initiate(_)
            | Action::Send { .. }
            | Action::FillGaps
            | Action::Verify(_)
            | Action::GroupBlock(_) => Tier::Transfer,
            Action::Invoke(r, ..)
                if image_method(r)
                    && (method::IMAGE_TRANSFER_INITIATE..=method::IMAGE_VERIFY)
                        .contains(&r.index) =>
            {
                Tier::Transfer
            }
            // A raw APDU may be anything: counted as a write.
            Action::Set(..) | Action::Invoke(..) | Action::Raw(_) => Tier::Write,
            _ => Tier::Read,
        }
    }

    /// The expectation fields this action can check.
    fn checks(&self) -> &'static [&'static str] {
        match self {
            Action::Connect(_) | Action::Reconnect(_) | Action::PowerCycle(_) => {
                &["association", "conformance"]
            }
            Action::Get(_) => &[
                "result",
                "not_result",
                "value",
                "type",
                "bits",
                "min",
                "max",
                "status",
            ],
            Action::Set(..)
            | Action::Initiate(_)
            | Action::Send { .. }
            | Action::Invoke(..)
            | Action::GroupBlock(_)
            | Action::ScheduleActivation(_) => &["result", "not_result"],
            Action::Verify(_) | Action::Activate(_) => &["result", "not_result", "status"],
            Action::Var(_) => &["value", "min", "max"],
            Action::WaitStatus(_) => &["status"],
            Action::Raw(_) | Action::WrapperFrame(_) | Action::HdlcFrame(_) => &["reply"],
            Action::Release | Action::Require(_) | Action::WaitMs(_) | Action::FillGaps => &[],
        }
    }
}

/// One validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The line of the step in its file.
    pub line: usize,
    /// What it does.
    pub action: Action,
    /// What it expects.
    pub expect: Expect,
    /// An unmet expectation skips the case (it does not apply to this meter) instead of
    /// judging it.
    pub skip_if_unmet: bool,
    /// Stores the value (GET) as a variable of this name.
    pub capture: Option<String>,
    /// The statement option this step observes (`status_after_activation`): a meter that
    /// contradicts its statement fails the case, an undeclared option is recorded.
    pub declares: Option<String>,
    /// A label for reports.
    pub note: Option<String>,
}

impl Step {
    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let what = self.action.name();
        match &self.note {
            Some(n) => format!("{what} ({n})"),
            None => what.to_string(),
        }
    }
}

pub(super) fn validate_step(spec: StepSpec, line: usize) -> Result<Step, String> {
    let object = |text: &str| ObjectRef::parse(text);
    let mut actions = Vec::new();
    if let Some(c) = spec.connect {
        actions.push(Action::Connect(c));
    }
    if spec.release == Some(true) {
        actions.push(Action::Release);
    }
    if let Some(p) = spec.reconnect {
        actions.push(Action::Reconnect(p));
    }
    if let Some(p) = spec.power_cycle {
        actions.push(Action::PowerCycle(p));
    }
    if let Some(r) = &spec.get {
        actions.push(Action::Get(object(r).map_err(|e| format!("get: {e}"))?));
    }
    if let Some(r) = &spec.set {
        let value = spec
            .value
            .clone()
            .ok_or("set: needs a `value`".to_string())?;
        actions.push(Action::Set(
            object(r).map_err(|e| format!("set: {e}"))?,
            value,
        ));
    }
    if let Some(r) = &spec.action {
        let unconfirmed = spec.unconfirmed.unwrap_or(false);
        if unconfirmed && spec.value.is_none() {
            return Err("unconfirmed: an unconfirmed action needs a `value`".into());
        }
        actions.push(Action::Invoke(
            object(r).map_err(|e| format!("action: {e}"))?,
            spec.value.clone(),
            unconfirmed,
        ));
    } else if spec.unconfirmed.is_some() {
        return Err("unconfirmed: only with action".into());
    }
    if let Some(r) = &spec.require {
        actions.push(Action::Require(
            object(r).map_err(|e| format!("require: {e}"))?,
        ));
    }
    if let Some(name) = &spec.var {
        actions.push(Action::Var(name.trim_start_matches('$').to_string()));
    }
    if let Some(i) = spec.initiate {
        if i.blocks == Some(0) || i.blocks > Some(MAX_OPAQUE_BLOCKS) {
            return Err(format!("initiate.blocks: 1 to {MAX_OPAQUE_BLOCKS}"));
        }
        actions.push(Action::Initiate(i));
    }
    if let Some(blocks) = spec.send {
        check_selection(&blocks).map_err(|e| format!("send: {e}"))?;
        actions.push(Action::Send {
            blocks,
            pad_last: spec.pad_last,
        });
    } else if spec.pad_last.is_some() {
        return Err("pad_last: only with send".into());
    }
    if spec.fill_gaps == Some(true) {
        actions.push(Action::FillGaps);
    }
    if let Some(p) = spec.verify {
        actions.push(Action::Verify(p));
    }
    if let Some(p) = spec.activate {
        actions.push(Action::Activate(p));
    }
    if let Some(s) = spec.schedule_activation {
        actions.push(Action::ScheduleActivation(s.in_s));
    }
    if let Some(w) = spec.wait_status {
        actions.push(Action::WaitStatus(w));
    }
    if let Some(ms) = spec.wait_ms {
        if ms > 600_000 {
            return Err("wait_ms: at most 600000".into());
        }
        actions.push(Action::WaitMs(ms));
    }
    if let Some(hex) = &spec.raw {
        actions.push(Action::Raw(
            parse_hex(hex).map_err(|e| format!("raw: {e}"))?,
        ));
    }
    if let Some(g) = spec.group_block {
        actions.push(Action::GroupBlock(g));
    }
    if let Some(w) = spec.wrapper_frame {
        actions.push(Action::WrapperFrame(w));
    }
    if let Some(h) = spec.hdlc_frame {
        actions.push(Action::HdlcFrame(h));
    }
    let action = match actions.len() {
        1 => actions.pop().expect("one"),
        0 => return Err("no action (get, set, action, initiate, send, verify, …)".into()),
        _ => {
            let names: Vec<&str> = actions.iter().map(Action::name).collect();
            return Err(format!(
                "{} actions ({}); a step does one thing",
                names.len(),
                names.join(", ")
            ));
        }
    };
    if spec.value.is_some() && !matches!(action, Action::Set(..) | Action::Invoke(..)) {
        return Err("value: only with set or action".into());
    }
    if let Some(v) = &spec.value {
        v.check(true).map_err(|e| format!("value: {e}"))?;
    }
    let expect = spec.expect.unwrap_or_default();
    check_expect(&expect, &action)?;
    if spec.capture.is_some() && !matches!(action, Action::Get(_)) {
        return Err("capture: only with get".into());
    }
    check_declares(spec.declares.as_deref(), &expect)?;
    Ok(Step {
        line,
        action,
        expect,
        skip_if_unmet: spec.skip_if_unmet.unwrap_or(false),
        capture: spec.capture,
        declares: spec.declares,
        note: spec.note,
    })
}

/// A `declares` names a statement option, and each `means` is a legitimate value of it.
fn check_declares(declares: Option<&str>, expect: &Expect) -> Result<(), String> {
    let alternatives = expect
        .any_of
        .as_deref()
        .unwrap_or(std::slice::from_ref(expect));
    let meanings: Vec<(usize, &toml::Value)> = alternatives
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.means.as_ref().map(|m| (i, m)))
        .collect();
    let Some(name) = declares else {
        return match meanings.is_empty() {
            true => Ok(()),
            false => Err("expect.means: only in a step that `declares` an option".into()),
        };
    };
    let option = crate::target::statement::option(name).ok_or_else(|| {
        let known: Vec<&str> = crate::target::statement::OPTIONS
            .iter()
            .map(|o| o.name)
            .collect();
        format!(
            "declares: `{name}` is not a statement option; known: {}",
            known.join(", ")
        )
    })?;
    for (i, value) in meanings {
        let at = match expect.any_of {
            Some(_) => format!("expect.any_of[{i}].means"),
            None => "expect.means".to_string(),
        };
        option.kind.check(value).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(())
}

fn check_selection(blocks: &BlockSelection) -> Result<(), String> {
    match blocks {
        BlockSelection::Text(t) if t == "all" => Ok(()),
        BlockSelection::Text(t) => {
            let (a, b) = t
                .split_once("..")
                .ok_or(format!("`{t}` is neither \"all\" nor a range A..B"))?;
            range_end(a)?.check()?;
            range_end(b)?.check()
        }
        BlockSelection::List(items) => items.iter().try_for_each(NumSpec::check),
    }
}

/// One end of a block range: a number or a `$var` expression.
pub fn range_end(text: &str) -> Result<NumSpec, String> {
    let text = text.trim();
    match text.parse::<i64>() {
        Ok(n) => Ok(NumSpec::Lit(n)),
        Err(_) => Ok(NumSpec::Expr(text.to_string())),
    }
}

fn check_expect(expect: &Expect, action: &Action) -> Result<(), String> {
    if let Some(alternatives) = &expect.any_of {
        let alone = Expect {
            any_of: None,
            ..expect.clone()
        };
        if alone != Expect::default() {
            return Err("expect.any_of: the other fields go inside its alternatives".into());
        }
        if alternatives.len() < 2 {
            return Err("expect.any_of: at least two alternatives".into());
        }
        return alternatives.iter().enumerate().try_for_each(|(i, a)| {
            check_expect(a, action)
                .map_err(|e| e.replacen("expect.", &format!("expect.any_of[{i}]."), 1))
        });
    }
    let present = [
        ("result", expect.result.is_some()),
        ("not_result", expect.not_result.is_some()),
        ("value", expect.value.is_some()),
        ("type", expect.type_name.is_some()),
        ("bits", expect.bits.is_some()),
        ("status", expect.status.is_some()),
        ("min", expect.min.is_some()),
        ("max", expect.max.is_some()),
        ("association", expect.association.is_some()),
        ("conformance", expect.conformance.is_some()),
        ("reply", expect.reply.is_some()),
    ];
    for (field, set) in present {
        if set && !action.checks().contains(&field) {
            return Err(format!(
                "expect.{field}: a {} step cannot check it",
                action.name()
            ));
        }
    }
    for name in expect
        .result
        .iter()
        .chain(&expect.not_result)
        .flat_map(OneOrMany::to_vec)
    {
        if !RESULT_NAMES.contains(&name.as_str()) {
            return Err(format!("expect.result: `{name}` is not a result name"));
        }
    }
    if let Some(v) = &expect.value {
        v.check(false).map_err(|e| format!("expect.value: {e}"))?;
    }
    if let Some(t) = &expect.type_name {
        if !super::value::TYPE_NAMES.contains(&t.as_str()) {
            return Err(format!("expect.type: `{t}` is not an A-XDR type name"));
        }
    }
    if let Some(b) = &expect.bits {
        let ok = ["sent", "all", "none"].contains(&b.as_str())
            || (!b.is_empty() && b.chars().all(|c| c == '0' || c == '1'));
        if !ok {
            return Err(format!(
                "expect.bits: `{b}` is neither sent, all, none nor 0/1 bits"
            ));
        }
    }
    for (field, bound) in [("min", &expect.min), ("max", &expect.max)] {
        if let Some(m) = bound {
            m.check().map_err(|e| format!("expect.{field}: {e}"))?;
        }
    }
    if let Some(a) = &expect.association {
        if a != "accepted" && a != "rejected" {
            return Err(format!(
                "expect.association: `{a}` is neither accepted nor rejected"
            ));
        }
    }
    for name in expect.conformance.iter().flatten() {
        conformance_bit(name)?;
    }
    for r in expect.reply.iter().flat_map(OneOrMany::to_vec) {
        let frame_step = matches!(action, Action::WrapperFrame(_) | Action::HdlcFrame(_));
        if frame_step {
            if !["reply", "silence", "closed"].contains(&r.as_str()) {
                return Err(format!(
                    "expect.reply: `{r}` is neither reply, silence nor closed"
                ));
            }
        } else {
            reply_pattern(&r).map_err(|e| format!("expect.reply: {e}"))?;
        }
    }
    Ok(())
}

/// A conformance bit by its name in kebab case (`block-transfer-with-get`).
pub fn conformance_bit(name: &str) -> Result<Conformance, String> {
    Conformance::from_name(&name.to_ascii_uppercase().replace('-', "_"))
        .ok_or_else(|| format!("`{name}` is not a conformance bit name"))
}

/// A reply pattern: bytes, `None` for `..` (any byte), and whether a `*` tail follows.
pub fn reply_pattern(text: &str) -> Result<(Vec<Option<u8>>, bool), String> {
    let mut tokens: Vec<&str> = text.split_whitespace().collect();
    let tail = tokens.last() == Some(&"*");
    if tail {
        tokens.pop();
    }
    let bytes = tokens
        .iter()
        .map(|t| match *t {
            ".." => Ok(None),
            hex if hex.len() == 2 => u8::from_str_radix(hex, 16)
                .map(Some)
                .map_err(|_| format!("`{hex}` is not a hex byte")),
            other => Err(format!(
                "`{other}`: write bytes as two hex digits separated by spaces, `..` for any byte, `*` last for any tail"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((bytes, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_patterns_parse() {
        let (bytes, tail) = reply_pattern("C7 01 .. 00 *").unwrap();
        assert_eq!(bytes, vec![Some(0xC7), Some(1), None, Some(0)]);
        assert!(tail);
        assert!(reply_pattern("C701").is_err());
    }

    fn step(text: &str) -> Result<Step, String> {
        let spec: StepSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        validate_step(spec, 1)
    }

    #[test]
    fn a_declared_option_and_its_meanings_are_checked() {
        let ok = step(
            "get = \"image_transfer_enabled\"\ndeclares = \"enabled_by_default\"\nexpect = { type = \"boolean\" }",
        )
        .unwrap();
        assert_eq!(ok.declares.as_deref(), Some("enabled_by_default"));
        let unknown = step("get = \"image_transfer_enabled\"\ndeclares = \"colour\"").unwrap_err();
        assert!(
            unknown.starts_with("declares: `colour` is not a statement option"),
            "{unknown}"
        );
        let wrong = step(
            "verify = {}\ndeclares = \"verification\"\nexpect = { any_of = [{ status = 3, means = \"quick\" }, { status = 4, means = \"synchronous\" }] }",
        )
        .unwrap_err();
        assert!(
            wrong.starts_with("expect.any_of[0].means: expected one of"),
            "{wrong}"
        );
        let stray = step("verify = {}\nexpect = { status = 3, means = true }").unwrap_err();
        assert!(stray.contains("only in a step that `declares`"), "{stray}");
    }

    #[test]
    fn conformance_names_map_to_bits() {
        assert_eq!(
            conformance_bit("block-transfer-with-get"),
            Ok(Conformance::BLOCK_TRANSFER_WITH_GET)
        );
        assert!(conformance_bit("teleport").is_err());
    }
}
