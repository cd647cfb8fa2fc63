//! The meter's COSEM objects: one module per interface class, each reading and changing the
//! meter's state through `get`, `set` and `action`.

pub mod association_ln;
pub mod clock;
pub mod data;
pub mod image_transfer;
pub mod profile_generic;
pub mod schedule;
pub mod script_table;

use dlms::cosem::{
    active_firmware_identifier, active_firmware_signature, class, image_transfer as it, ObisCode,
    ACTIVATION_SCHEDULER, ACTIVATION_SCRIPT, ASSOCIATION_LN, CLOCK, EVENT_LOG, LAST_EVENT_CODE,
};

/// Which object an entry of the object list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Association LN (IC 15) 0-0:40.0.0.255.
    AssociationLn,
    /// Clock (IC 8) 0-0:1.0.0.255.
    Clock,
    /// Active firmware identifier of part b (IC 1) 1-b:0.2.0.255.
    FirmwareIdentifier(u8),
    /// Active firmware signature of part b (IC 1) 1-b:0.2.8.255.
    FirmwareSignature(u8),
    /// Image transfer (IC 18) 0-0:44.0.0.255.
    ImageTransfer,
    /// Image activation scheduler (IC 22) 0-0:15.0.2.255.
    ActivationScheduler,
    /// Image activation script table (IC 9) 0-0:10.0.107.255.
    ActivationScript,
    /// Event log (IC 7) 0-0:99.98.0.255.
    EventLog,
    /// Code of the last event (IC 1) 0-0:96.11.0.255.
    LastEventCode,
    /// Detail of the last event (IC 1) 0-0:96.11.8.255, meterfleet's own.
    LastEventDetail,
    /// Error register (IC 1) 0-0:97.97.0.255.
    ErrorRegister,
    /// The last broadcast invocation counter accepted (IC 1), meterfleet's own
    /// 0-0:128.43.1.255.
    BroadcastInvocationCounter,
}

/// One object of the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// Interface class.
    pub class_id: u16,
    /// Class version.
    pub version: u8,
    /// Logical name.
    pub ln: ObisCode,
    /// Which object.
    pub kind: Kind,
    /// Number of attributes.
    pub attributes: i8,
    /// Number of methods.
    pub methods: i8,
}

/// The detail of the last event (IC 1), 0-0:96.11.8.255: meterfleet's own object, not a
/// standard one.
pub const LAST_EVENT_DETAIL: ObisCode = ObisCode::new(0, 0, 96, 11, 8, 255);

/// Every object of an emulated meter, in object-list order: one list every meter of the
/// process shares (it is the same for all, and a shared list stays in the cache).
pub fn catalogue() -> &'static [Object] {
    static CATALOGUE: std::sync::OnceLock<Vec<Object>> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(build_catalogue)
}

fn build_catalogue() -> Vec<Object> {
    let mut objects = vec![
        Object {
            class_id: class::ASSOCIATION_LN,
            version: 1,
            ln: ASSOCIATION_LN,
            kind: Kind::AssociationLn,
            attributes: 8,
            methods: 1,
        },
        Object {
            class_id: class::CLOCK,
            version: 0,
            ln: CLOCK,
            kind: Kind::Clock,
            attributes: 9,
            methods: 0,
        },
    ];
    for part in 0..=2u8 {
        objects.push(Object {
            class_id: class::DATA,
            version: 0,
            ln: active_firmware_identifier(part),
            kind: Kind::FirmwareIdentifier(part),
            attributes: 2,
            methods: 0,
        });
        objects.push(Object {
            class_id: class::DATA,
            version: 0,
            ln: active_firmware_signature(part),
            kind: Kind::FirmwareSignature(part),
            attributes: 2,
            methods: 0,
        });
    }
    objects.extend([
        Object {
            class_id: it::CLASS_ID,
            version: it::VERSION,
            ln: it::LOGICAL_NAME,
            kind: Kind::ImageTransfer,
            attributes: it::attribute::COUNT,
            methods: it::method::COUNT,
        },
        Object {
            class_id: class::SINGLE_ACTION_SCHEDULE,
            version: 0,
            ln: ACTIVATION_SCHEDULER,
            kind: Kind::ActivationScheduler,
            attributes: 4,
            methods: 0,
        },
        Object {
            class_id: class::SCRIPT_TABLE,
            version: 0,
            ln: ACTIVATION_SCRIPT,
            kind: Kind::ActivationScript,
            attributes: 2,
            methods: 1,
        },
        Object {
            class_id: class::PROFILE_GENERIC,
            version: 1,
            ln: EVENT_LOG,
            kind: Kind::EventLog,
            attributes: 8,
            methods: 0,
        },
        Object {
            class_id: class::DATA,
            version: 0,
            ln: LAST_EVENT_CODE,
            kind: Kind::LastEventCode,
            attributes: 2,
            methods: 0,
        },
        Object {
            class_id: class::DATA,
            version: 0,
            ln: LAST_EVENT_DETAIL,
            kind: Kind::LastEventDetail,
            attributes: 2,
            methods: 0,
        },
        Object {
            class_id: class::DATA,
            version: 0,
            ln: dlms::cosem::ERROR_REGISTER,
            kind: Kind::ErrorRegister,
            attributes: 2,
            methods: 0,
        },
        Object {
            class_id: class::DATA,
            version: 0,
            ln: dlms::cosem::BROADCAST_INVOCATION_COUNTER,
            kind: Kind::BroadcastInvocationCounter,
            attributes: 2,
            methods: 0,
        },
    ]);
    objects
}

/// The logical name attribute (1) of any object.
pub fn logical_name(ln: &ObisCode) -> dlms::Data<'static> {
    dlms::Data::OctetString(ln.0.to_vec().into())
}

use crate::profile::MeterProfile;
use crate::state::MeterState;
use crate::transfer::{ActivationRequest, Ctx};
use dlms::apdu::DataAccessResult;
use p256::ecdsa::VerifyingKey;

/// What an object works on.
pub struct Env<'a> {
    /// The meter's persistent state.
    pub state: &'a mut MeterState,
    /// The meter's behaviour.
    pub profile: &'a MeterProfile,
    /// The key images must be signed with.
    pub trusted_key: Option<&'a VerifyingKey>,
    /// The fleet's shared block store, if any.
    pub store: Option<&'a crate::blocks::BlockStore>,
    /// Where accepted blocks are made durable, if anywhere.
    pub journal: Option<&'a mut (dyn crate::journal::BlockJournal + 'static)>,
    /// Emulated time, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

impl Env<'_> {
    /// The meter clock, milliseconds since the Unix epoch.
    pub fn meter_time_ms(&self) -> u64 {
        self.now_ms
            .saturating_add_signed(self.state.clock_offset_ms)
    }

    /// Runs a step of the transfer process with its context.
    pub fn with_transfer<T>(
        &mut self,
        f: impl FnOnce(&mut crate::transfer::Transfer, &mut Ctx<'_>) -> T,
    ) -> T {
        let now_ms = self.meter_time_ms();
        let state = &mut *self.state;
        let mut ctx = Ctx {
            profile: self.profile,
            trusted_key: self.trusted_key,
            parts: &state.parts,
            log: &mut state.log,
            store: self.store,
            journal: self.journal.as_deref_mut(),
            now_ms,
        };
        f(&mut state.transfer, &mut ctx)
    }
}

/// The outcome of a method.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOutcome {
    /// The Action-Result.
    pub result: DataAccessResult,
    /// Return parameters, if any.
    pub data: Option<dlms::Data<'static>>,
    /// An activation the meter must carry out (reboot into the new image).
    pub activation: Option<ActivationRequest>,
}

impl MethodOutcome {
    /// A bare result.
    pub fn result(result: DataAccessResult) -> Self {
        MethodOutcome {
            result,
            data: None,
            activation: None,
        }
    }
}

/// The result for an attribute or method index the class does not have.
pub const NO_SUCH_INDEX: DataAccessResult = DataAccessResult::READ_WRITE_DENIED;
