//! Single action schedule (IC 22) 0-0:15.0.2.255: the image activation scheduler. Writing
//! execution_time (attribute 4) arms it; when the time comes the meter runs the image
//! activation script (MCS301 pp.114-117; protocol-notes §8.1).

use super::{logical_name, Env, Object, ACTIVATION_SCRIPT, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::{Date, DateTime, Time};
use dlms::{Data, Reader};

/// GET of a scheduler attribute.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, R> {
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => Data::Structure(vec![
            Data::OctetString(ACTIVATION_SCRIPT.0.to_vec().into()),
            Data::LongUnsigned(1),
        ]),
        3 => Data::Enum(1),
        4 => match &env.state.scheduled_activation_raw {
            Some(raw) => Data::decode(raw)
                .map(Data::into_owned)
                .unwrap_or(Data::Array(vec![])),
            None => Data::Array(vec![]),
        },
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// The instant of an execution_time entry `{time octet-string(4), date octet-string(5)}`, UTC.
fn instant(entry: &Data<'_>) -> Option<u64> {
    let [time, date] = entry.as_elements()? else {
        return None;
    };
    let time = Time::decode(&mut Reader::new(time.as_bytes()?)).ok()?;
    let date = Date::decode(&mut Reader::new(date.as_bytes()?)).ok()?;
    let dt = DateTime {
        date,
        time: Time {
            hundredths: 0,
            ..time
        },
        deviation: i16::MIN,
        clock_status: 0,
    };
    dt.to_unix_utc().map(|s| s * 1000)
}

/// SET of execution_time arms or (with an empty array) disarms the activation.
pub fn set(env: &mut Env<'_>, attr: i8, value: &Data<'_>) -> R {
    match (attr, value) {
        (4, Data::Array(entries)) => {
            match entries.as_slice() {
                [] => {
                    env.state.scheduled_activation_ms = None;
                    env.state.scheduled_activation_raw = None;
                }
                [entry] => match instant(entry) {
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
        (4, _) => R::TYPE_UNMATCHED,
        (1..=3, _) => R::READ_WRITE_DENIED,
        _ => NO_SUCH_INDEX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_time_entry_is_read_as_utc() {
        let entry = Data::Structure(vec![
            Data::OctetString(vec![12, 30, 0, 0xFF].into()),
            Data::OctetString(vec![0x07, 0xEA, 11, 22, 0xFF].into()),
        ]);
        let ms = instant(&entry).unwrap();
        assert_eq!(DateTime::from_unix_utc(ms / 1000).time.hour, 12);
        assert_eq!(DateTime::from_unix_utc(ms / 1000).date.day, 22);
    }
}
