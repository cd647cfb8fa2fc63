//! Profile generic (IC 7) 0-0:99.98.0.255: the event log. Each entry captures the clock, the
//! event code (0-0:96.11.0.255) and its detail (0-0:96.11.8.255).

use super::{logical_name, Env, Object, LAST_EVENT_DETAIL, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::DateTime;
use dlms::cosem::{class, ObisCode, CLOCK, LAST_EVENT_CODE};
use dlms::Data;

fn capture_object(class_id: u16, ln: ObisCode) -> Data<'static> {
    Data::Structure(vec![
        Data::LongUnsigned(class_id),
        logical_name(&ln),
        Data::Integer(2),
        Data::LongUnsigned(0),
    ])
}

/// GET of an event log attribute (no selective access: the whole buffer).
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, R> {
    let log = &env.state.log;
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => Data::Array(
            log.entries
                .iter()
                .map(|e| {
                    Data::Structure(vec![
                        Data::OctetString(
                            DateTime::from_unix_utc(e.time_ms / 1000)
                                .to_bytes()
                                .to_vec()
                                .into(),
                        ),
                        Data::LongUnsigned(e.code as u16),
                        Data::OctetString(e.detail.clone().into_bytes().into()),
                    ])
                })
                .collect(),
        ),
        3 => Data::Array(vec![
            capture_object(class::CLOCK, CLOCK),
            capture_object(class::DATA, LAST_EVENT_CODE),
            capture_object(class::DATA, LAST_EVENT_DETAIL),
        ]),
        4 => Data::DoubleLongUnsigned(0),
        5 => Data::Enum(1),
        6 => capture_object(class::CLOCK, CLOCK),
        7 => Data::DoubleLongUnsigned(log.entries.len() as u32),
        8 => Data::DoubleLongUnsigned(log.capacity as u32),
        _ => return Err(NO_SUCH_INDEX),
    })
}
