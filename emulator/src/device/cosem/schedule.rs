//! Single action schedule (IC 22) 0-0:15.0.2.255: the image activation scheduler. Writing
//! execution_time (attribute 4) arms it; when the time comes the meter runs the image
//! activation script (MCS301 pp.114-117; docs/protocol.md#idis-upgrade-objects).

use super::{logical_name, Env, Object, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult as R;
use dlms::cosem::schedule::{entry_instant, EXECUTION_TIME};
use dlms::cosem::ACTIVATION_SCRIPT;
use dlms::Data;

/// GET of a scheduler attribute.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, R> {
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => Data::Structure(vec![
            logical_name(&ACTIVATION_SCRIPT),
            Data::LongUnsigned(1),
        ]),
        3 => Data::Enum(1),
        EXECUTION_TIME => match &env.state.scheduled_activation_raw {
            Some(raw) => Data::decode(raw)
                .map(Data::into_owned)
                .unwrap_or(Data::Array(vec![])),
            None => Data::Array(vec![]),
        },
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// SET of execution_time arms or (with an empty array) disarms the activation.
pub fn set(env: &mut Env<'_>, attr: i8, value: &Data<'_>) -> R {
    match (attr, value) {
        (EXECUTION_TIME, Data::Array(entries)) => {
            match entries.as_slice() {
                [] => {
                    env.state.scheduled_activation_ms = None;
                    env.state.scheduled_activation_raw = None;
                }
                [entry] => match entry_instant(entry).map(|secs| secs * 1000) {
                    Some(ms) => {
                        env.state.scheduled_activation_ms = Some(ms);
                        env.state.scheduled_activation_raw = Some(value.to_bytes());
                    }
                    None => return R::OTHER_REASON,
                },
                _ => return R::OTHER_REASON,
            }
            R::SUCCESS
        }
        (EXECUTION_TIME, _) => R::TYPE_UNMATCHED,
        (1..=3, _) => R::READ_WRITE_DENIED,
        _ => NO_SUCH_INDEX,
    }
}
