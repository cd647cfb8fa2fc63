//! Clock (IC 8) 0-0:1.0.0.255.

use super::{logical_name, Env, Object, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult;
use dlms::axdr::DateTime;
use dlms::Data;

fn octets(bytes: impl Into<Vec<u8>>) -> Data<'static> {
    Data::OctetString(bytes.into().into())
}

/// GET of a clock attribute: UTC time, no daylight saving.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, DataAccessResult> {
    let unspecified = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF,
    ];
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => octets(DateTime::from_unix_utc(env.meter_time_ms() / 1000).to_bytes()),
        3 => Data::Long(0),
        4 => Data::Unsigned(0),
        5 | 6 => octets(unspecified),
        7 => Data::Integer(0),
        8 => Data::Boolean(false),
        9 => Data::Enum(1),
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// SET of attribute 2 moves the meter clock; the rest is read-only.
pub fn set(env: &mut Env<'_>, attr: i8, value: &Data<'_>) -> DataAccessResult {
    if attr != 2 {
        return DataAccessResult::READ_WRITE_DENIED;
    }
    let Some(bytes) = value.as_bytes() else {
        return DataAccessResult::TYPE_UNMATCHED;
    };
    match DateTime::from_bytes(bytes)
        .ok()
        .and_then(|dt| dt.to_unix_utc())
    {
        Some(secs) => {
            env.state.clock_offset_ms = (secs * 1000) as i64 - env.now_ms as i64;
            DataAccessResult::SUCCESS
        }
        None => DataAccessResult::OTHER_REASON,
    }
}
