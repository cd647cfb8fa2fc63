//! The single action schedule (IC 22) as the image activation scheduler uses it: attribute 4,
//! execution_time, an array of `structure { time octet-string(4), date octet-string(5) }`
//! (IEC 62056-6-2 clause 4.5.5; Blue Book 4.5.5).

use crate::axdr::{Date, DateTime, Time};
use crate::{Data, Reader};

/// The execution_time attribute id.
pub const EXECUTION_TIME: i8 = 4;

/// execution_time for one run at `secs` (Unix seconds, UTC).
pub fn execution_time(secs: u64) -> Data<'static> {
    execution_time_at(&DateTime::from_unix_utc(secs))
}

/// execution_time for one run when a clock reads `at` (its date and time fields, as the
/// schedule compares them with the meter's own clock; the deviation is not carried).
pub fn execution_time_at(at: &DateTime) -> Data<'static> {
    let (mut time, mut date) = (Vec::new(), Vec::new());
    at.time.encode(&mut time);
    at.date.encode(&mut date);
    Data::Array(vec![Data::Structure(vec![
        Data::OctetString(time.into()),
        Data::OctetString(date.into()),
    ])])
}

/// The instant (Unix seconds, UTC) of one execution_time entry, hundredths ignored; None if
/// the entry is malformed or not fully specified.
pub fn entry_instant(entry: &Data<'_>) -> Option<u64> {
    let [time, date] = entry.as_elements()? else {
        return None;
    };
    let time = Time::decode(&mut Reader::new(time.as_bytes()?)).ok()?;
    let date = Date::decode(&mut Reader::new(date.as_bytes()?)).ok()?;
    DateTime {
        date,
        time: Time {
            hundredths: 0,
            ..time
        },
        deviation: i16::MIN,
        clock_status: 0,
    }
    .to_unix_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_time_round_trips_to_the_second() {
        let secs = 1_790_000_123;
        let Data::Array(entries) = execution_time(secs) else {
            panic!("an array")
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entry_instant(&entries[0]), Some(secs));
        assert_eq!(entry_instant(&Data::Integer(0)), None);
    }
}
