//! Conformance cases as data: the TOML model, its validation (errors name the file, line and
//! field), and the catalogue of a `cases/` folder. The format is documented in
//! `cases/README.md`.

use super::value::{parse_hex, NumSpec, ValueSpec};
use crate::toml_file::line_of;
use dlms::apdu::ObisCode;
use dlms::conformance::Conformance;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// How much a case's requirement weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A "shall": breaking it is a fail.
    Must,
    /// A "should" or field practice: breaking it is non-strict.
    Should,
    /// Behaviour the standard leaves open: recorded, never judged.
    Info,
}

/// What a case needs from the target; a case whose needs are not met is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The target speaks the wrapper.
    Wrapper,
    /// The target speaks HDLC.
    Hdlc,
    /// An LLS client and its password are known.
    Lls,
    /// An HLS-GMAC client and the keys are known.
    Hls,
    /// An image the meter accepts and activates.
    ValidImage,
    /// A validly built image with a bad signature.
    BadSignatureImage,
    /// A validly signed image for a firmware part other than the target part.
    WrongPartImage,
    /// A validly signed image for the metrology part (b = 0).
    MetrologyImage,
    /// The meter can be power-cycled by the bench.
    PowerCycle,
    /// Every case starts on a meter in its factory state (an emulated bench).
    FreshMeter,
}

impl Capability {
    /// The name case files use.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Wrapper => "wrapper",
            Capability::Hdlc => "hdlc",
            Capability::Lls => "lls",
            Capability::Hls => "hls",
            Capability::ValidImage => "valid-image",
            Capability::BadSignatureImage => "bad-signature-image",
            Capability::WrongPartImage => "wrong-part-image",
            Capability::MetrologyImage => "metrology-image",
            Capability::PowerCycle => "power-cycle",
            Capability::FreshMeter => "fresh-meter",
        }
    }
}

/// An attribute or method: class, logical name and index. `part_in_b` replaces the B field
/// with the target's firmware part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    /// Interface class.
    pub class_id: u16,
    /// Logical name.
    pub obis: ObisCode,
    /// Attribute or method index.
    pub index: i8,
    /// B is the target's firmware part.
    pub part_in_b: bool,
}

const IT: ObisCode = ObisCode::new(0, 0, 44, 0, 0, 255);

/// The names a case may use instead of `class/A-B:C.D.E.F/index`.
const NAMED: &[(&str, u16, ObisCode, i8, bool)] = &[
    ("logical_name", 18, IT, 1, false),
    ("image_block_size", 18, IT, 2, false),
    ("image_transferred_blocks_status", 18, IT, 3, false),
    ("image_first_not_transferred_block_number", 18, IT, 4, false),
    ("image_transfer_enabled", 18, IT, 5, false),
    ("image_transfer_status", 18, IT, 6, false),
    ("image_to_activate_info", 18, IT, 7, false),
    ("image_transfer_initiate", 18, IT, 1, false),
    ("image_block_transfer", 18, IT, 2, false),
    ("image_verify", 18, IT, 3, false),
    ("image_activate", 18, IT, 4, false),
    (
        "active_firmware_identifier",
        1,
        ObisCode::new(1, 0, 0, 2, 0, 255),
        2,
        true,
    ),
    (
        "active_firmware_signature",
        1,
        ObisCode::new(1, 0, 0, 2, 8, 255),
        2,
        true,
    ),
    (
        "activation_scheduler_execution_time",
        22,
        ObisCode::new(0, 0, 15, 0, 2, 255),
        4,
        false,
    ),
    (
        "event_log_buffer",
        7,
        ObisCode::new(0, 0, 99, 98, 0, 255),
        2,
        false,
    ),
    (
        "event_log_entries_in_use",
        7,
        ObisCode::new(0, 0, 99, 98, 0, 255),
        7,
        false,
    ),
    (
        "association_object_list",
        15,
        ObisCode::new(0, 0, 40, 0, 0, 255),
        2,
        false,
    ),
    ("clock_time", 8, ObisCode::new(0, 0, 1, 0, 0, 255), 2, false),
];

impl ObjectRef {
    /// Parses a name from the table or `class/A-B:C.D.E.F/index`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(&(_, class_id, obis, index, part_in_b)) =
            NAMED.iter().find(|(name, ..)| *name == text)
        {
            return Ok(ObjectRef {
                class_id,
                obis,
                index,
                part_in_b,
            });
        }
        let bad = || {
            format!("`{text}` is neither a known name nor class/A-B:C.D.E.F/index (e.g. 18/0-0:44.0.0.255/2)")
        };
        let mut parts = text.split('/');
        let (Some(class), Some(obis), Some(index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(ObjectRef {
            class_id: class.parse().map_err(|_| bad())?,
            obis: parse_obis(obis).ok_or_else(bad)?,
            index: index.parse().map_err(|_| bad())?,
            part_in_b: false,
        })
    }

    /// The logical name for a target whose firmware part is `part`.
    pub fn instance(&self, part: u8) -> ObisCode {
        let mut obis = self.obis;
        if self.part_in_b {
            obis.0[1] = part;
        }
        obis
    }
}

fn parse_obis(text: &str) -> Option<ObisCode> {
    let (a, rest) = text.split_once('-')?;
    let (b, rest) = rest.split_once(':')?;
    let mut fields = [a, b].into_iter().chain(rest.split('.'));
    let mut out = [0u8; 6];
    for slot in out.iter_mut() {
        *slot = fields.next()?.parse().ok()?;
    }
    fields.next().is_none().then_some(ObisCode(out))
}

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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// Which client.
    #[serde(default)]
    pub client: ClientKind,
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
}

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
    /// How long to poll, or to wait for the meter to come back.
    pub within_s: u64,
    /// How often to poll image_transfer_status.
    pub poll_ms: u64,
    /// How long to wait for the method's reply before counting it as no reply.
    pub reply_s: u64,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            within_s: 60,
            poll_ms: 250,
            reply_s: 5,
        }
    }
}

/// A `schedule_activation` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Seconds from now (the harness's clock).
    pub in_s: u64,
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
}

impl Expect {
    /// Whether a result is acceptable: one of `result` if given, else none of `not_result`
    /// if given, else `success` when `default_success`, else anything.
    pub fn accepts(&self, result: &str, default_success: bool) -> bool {
        match (&self.result, &self.not_result) {
            (Some(r), _) => r.to_vec().iter().any(|n| n == result),
            (None, Some(not)) => !not.to_vec().iter().any(|n| n == result),
            (None, None) => !default_success || result == "success",
        }
    }
}

/// The results a case may name.
pub const RESULT_NAMES: &[&str] = &[
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
];

/// A step as written, before validation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    connect: Option<Connect>,
    release: Option<bool>,
    reconnect: Option<Poll>,
    power_cycle: Option<Poll>,
    get: Option<String>,
    set: Option<String>,
    action: Option<String>,
    require: Option<String>,
    initiate: Option<Initiate>,
    send: Option<BlockSelection>,
    fill_gaps: Option<bool>,
    verify: Option<Poll>,
    activate: Option<Poll>,
    schedule_activation: Option<Schedule>,
    wait_status: Option<WaitStatus>,
    wait_ms: Option<u64>,
    raw: Option<String>,
    wrapper_frame: Option<WrapperFrame>,
    hdlc_frame: Option<HdlcFrame>,
    value: Option<ValueSpec>,
    pad_last: Option<bool>,
    expect: Option<Expect>,
    capture: Option<String>,
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
    /// ACTION with optional parameters.
    Invoke(ObjectRef, Option<ValueSpec>),
    /// Skips the case when the meter does not have this attribute.
    Require(ObjectRef),
    /// Reads the block size and initiates a transfer.
    Initiate(Initiate),
    /// Sends image blocks.
    Send {
        /// Which.
        blocks: BlockSelection,
        /// Zero-pad the last block to the block size.
        pad_last: bool,
    },
    /// Reads the bitmap and sends what is missing, until complete.
    FillGaps,
    /// image_verify, polling image_transfer_status on temporary-failure.
    Verify(Poll),
    /// image_activate, surviving the reboot and polling until the status settles.
    Activate(Poll),
    /// Sets the activation scheduler 0-0:15.0.2.255 to run this many seconds from now.
    ScheduleActivation(u64),
    /// Polls image_transfer_status.
    WaitStatus(WaitStatus),
    /// Waits.
    WaitMs(u64),
    /// Sends an APDU as is.
    Raw(Vec<u8>),
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
            Action::Initiate(_) => "initiate",
            Action::Send { .. } => "send",
            Action::FillGaps => "fill_gaps",
            Action::Verify(_) => "verify",
            Action::Activate(_) => "activate",
            Action::ScheduleActivation(_) => "schedule_activation",
            Action::WaitStatus(_) => "wait_status",
            Action::WaitMs(_) => "wait_ms",
            Action::Raw(_) => "raw",
            Action::WrapperFrame(_) => "wrapper_frame",
            Action::HdlcFrame(_) => "hdlc_frame",
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
            | Action::ScheduleActivation(_) => &["result", "not_result"],
            Action::Verify(_) | Action::Activate(_) => &["result", "not_result", "status"],
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
    /// Stores the value (GET) as a variable of this name.
    pub capture: Option<String>,
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

/// A case file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    id: String,
    title: String,
    level: Level,
    requirement: String,
    source: String,
    #[serde(default)]
    needs: BTreeSet<Capability>,
    #[serde(default)]
    destructive: bool,
    steps: Vec<Spanned<StepSpec>>,
}

/// A validated case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The unique id, e.g. `it-attr4-first-gap`.
    pub id: String,
    /// What it checks, in a line.
    pub title: String,
    /// The folder it is in under the catalogue root.
    pub subject: String,
    /// The file.
    pub file: PathBuf,
    /// The requirement, quoted.
    pub requirement: String,
    /// Where the requirement comes from.
    pub source: String,
    /// How much it weighs.
    pub level: Level,
    /// What it needs from the target.
    pub needs: BTreeSet<Capability>,
    /// Whether it activates an image.
    pub destructive: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A case file that cannot be used: the message names the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CaseError(pub String);

impl Case {
    /// Parses a case; `file` names it in errors and `subject` is its folder.
    pub fn parse(text: &str, file: &Path, subject: &str) -> Result<Case, CaseError> {
        let origin = file.display();
        let raw: CaseFile =
            crate::toml_file::parse(text, &origin.to_string()).map_err(CaseError)?;
        let id_ok = !raw.id.is_empty()
            && raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(CaseError(format!(
                "{origin}: field id: `{}` must be lowercase letters, digits and dashes",
                raw.id
            )));
        }
        if raw.steps.is_empty() {
            return Err(CaseError(format!(
                "{origin}: field steps: a case needs steps"
            )));
        }
        let steps = raw
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, spanned)| {
                let line = line_of(text, spanned.span().start);
                validate_step(spanned.into_inner(), line)
                    .map_err(|e| CaseError(format!("{origin}: line {line}: field steps[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case {
            id: raw.id,
            title: raw.title,
            subject: subject.to_string(),
            file: file.to_path_buf(),
            requirement: raw.requirement,
            source: raw.source,
            level: raw.level,
            needs: raw.needs,
            destructive: raw.destructive,
            steps,
        })
    }
}

fn validate_step(spec: StepSpec, line: usize) -> Result<Step, String> {
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
        actions.push(Action::Invoke(
            object(r).map_err(|e| format!("action: {e}"))?,
            spec.value.clone(),
        ));
    }
    if let Some(r) = &spec.require {
        actions.push(Action::Require(
            object(r).map_err(|e| format!("require: {e}"))?,
        ));
    }
    if let Some(i) = spec.initiate {
        if i.blocks == Some(0) {
            return Err("initiate.blocks: at least 1".into());
        }
        actions.push(Action::Initiate(i));
    }
    if let Some(blocks) = spec.send {
        check_selection(&blocks).map_err(|e| format!("send: {e}"))?;
        actions.push(Action::Send {
            blocks,
            pad_last: spec.pad_last.unwrap_or(false),
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
    Ok(Step {
        line,
        action,
        expect,
        capture: spec.capture,
        note: spec.note,
    })
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

/// The cases of a catalogue folder, sorted by subject and file; ids must be unique.
/// `baselines/` and `reports/` folders and README files are not cases.
pub fn load_catalogue(root: &Path) -> Result<Vec<Case>, CaseError> {
    let mut files = Vec::new();
    collect_files(root, &mut files).map_err(|e| CaseError(format!("{}: {e}", root.display())))?;
    files.sort();
    let mut cases: Vec<Case> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| CaseError(format!("{}: {e}", file.display())))?;
        let subject = file
            .strip_prefix(root)
            .ok()
            .and_then(|rel| rel.components().next())
            .filter(|_| file.parent() != Some(root))
            .map_or("general".to_string(), |c| {
                c.as_os_str().to_string_lossy().into_owned()
            });
        let case = Case::parse(&text, &file, &subject)?;
        if let Some(other) = cases.iter().find(|c| c.id == case.id) {
            return Err(CaseError(format!(
                "{}: field id: `{}` is also the id of {}",
                file.display(),
                case.id,
                other.file.display()
            )));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(CaseError(format!("{}: no case files", root.display())));
    }
    Ok(cases)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "baselines" && name != "reports" {
                collect_files(&path, out)?;
            }
        } else if name.ends_with(".toml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "it-example"
title = "An example"
level = "must"
requirement = "quoted text"
source = "protocol-notes §1"

[[steps]]
initiate = {}

[[steps]]
send = [0, 2]

[[steps]]
get = "image_transferred_blocks_status"
expect = { bits = "sent" }
"#;

    fn parse(text: &str) -> Result<Case, CaseError> {
        Case::parse(text, Path::new("cases/image/x.toml"), "image")
    }

    #[test]
    fn a_good_case_parses_with_lines() {
        let case = parse(GOOD).unwrap();
        assert_eq!(case.steps.len(), 3);
        assert_eq!(case.steps[2].line, 14);
        assert!(matches!(case.steps[1].action, Action::Send { .. }));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let two = GOOD.replace("send = [0, 2]", "send = [0, 2]\nget = \"image_block_size\"");
        let e = parse(&two).unwrap_err().0;
        assert!(
            e.starts_with("cases/image/x.toml: line 11: field steps[1]: 2 actions"),
            "{e}"
        );
        let typo = GOOD.replace("bits = \"sent\"", "bitz = \"sent\"");
        let e = parse(&typo).unwrap_err().0;
        assert!(
            e.contains("line 16") && e.contains("unknown field `bitz`"),
            "{e}"
        );
        let level = GOOD.replace("\"must\"", "\"may\"");
        let e = parse(&level).unwrap_err().0;
        assert!(e.contains("line 4") && e.contains("unknown variant"), "{e}");
        let bad_ref = GOOD.replace("image_transferred_blocks_status", "18/0-0:44.0.0/3");
        let e = parse(&bad_ref).unwrap_err().0;
        assert!(e.contains("field steps[2]: get:"), "{e}");
        let wrong_check = GOOD.replace("bits = \"sent\"", "association = \"accepted\"");
        let e = parse(&wrong_check).unwrap_err().0;
        assert!(e.contains("expect.association: a get step"), "{e}");
    }

    #[test]
    fn object_references_parse() {
        let r = ObjectRef::parse("1/1-0:0.2.0.255/2").unwrap();
        assert_eq!((r.class_id, r.index), (1, 2));
        let fw = ObjectRef::parse("active_firmware_identifier").unwrap();
        assert_eq!(fw.instance(2), ObisCode::new(1, 2, 0, 2, 0, 255));
    }

    #[test]
    fn reply_patterns_parse() {
        let (bytes, tail) = reply_pattern("C7 01 .. 00 *").unwrap();
        assert_eq!(bytes, vec![Some(0xC7), Some(1), None, Some(0)]);
        assert!(tail);
        assert!(reply_pattern("C701").is_err());
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
