//! COSEM date, time and date-time: fixed-size fields, kept exactly as sent.
//!
//! Every field may hold the "not specified" value (0xFF, or 0xFFFF for the year, 0x8000 for the
//! deviation); they are stored raw so any bytes a meter sends round-trip unchanged.

use crate::codec::{DecodeError, Reader};

/// A COSEM date: year, month, day of month, day of week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    /// Year, 0xFFFF when not specified.
    pub year: u16,
    /// Month 1..12, or 0xFD/0xFE for daylight-saving end/begin, 0xFF not specified.
    pub month: u8,
    /// Day of month 1..31, 0xFD/0xFE for second-last/last, 0xFF not specified.
    pub day: u8,
    /// Day of week 1 (Monday) .. 7, 0xFF not specified.
    pub day_of_week: u8,
}

/// A COSEM time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Time {
    /// Hour 0..23, 0xFF not specified.
    pub hour: u8,
    /// Minute 0..59, 0xFF not specified.
    pub minute: u8,
    /// Second 0..59, 0xFF not specified.
    pub second: u8,
    /// Hundredths 0..99, 0xFF not specified.
    pub hundredths: u8,
}

/// A COSEM date-time: date, time, deviation from UTC in minutes and the clock status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// The date part.
    pub date: Date,
    /// The time part.
    pub time: Time,
    /// Minutes from local time to UTC, 0x8000 (as i16::MIN) when not specified.
    pub deviation: i16,
    /// Clock status bits (invalid, doubtful, different base, invalid status, daylight saving).
    pub clock_status: u8,
}

impl Date {
    /// Encoded size in bytes.
    pub const LEN: usize = 5;

    /// Appends the 5 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.year.to_be_bytes());
        out.extend_from_slice(&[self.month, self.day, self.day_of_week]);
    }

    /// Reads 5 bytes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Date {
            year: r.u16()?,
            month: r.u8()?,
            day: r.u8()?,
            day_of_week: r.u8()?,
        })
    }
}

impl Time {
    /// Encoded size in bytes.
    pub const LEN: usize = 4;

    /// Appends the 4 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.hour, self.minute, self.second, self.hundredths]);
    }

    /// Reads 4 bytes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let [hour, minute, second, hundredths] = r.array()?;
        Ok(Time {
            hour,
            minute,
            second,
            hundredths,
        })
    }
}

impl DateTime {
    /// Encoded size in bytes.
    pub const LEN: usize = 12;

    /// Appends the 12 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.date.encode(out);
        self.time.encode(out);
        out.extend_from_slice(&self.deviation.to_be_bytes());
        out.push(self.clock_status);
    }

    /// The 12 bytes, as carried in an octet-string (clock attribute 2, schedules).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut out = Vec::with_capacity(Self::LEN);
        self.encode(&mut out);
        out.try_into().expect("a date-time is 12 bytes")
    }

    /// Reads 12 bytes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DateTime {
            date: Date::decode(r)?,
            time: Time::decode(r)?,
            deviation: r.u16()? as i16,
            clock_status: r.u8()?,
        })
    }

    /// A date-time from 12 bytes (an octet-string's content), checking the length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let dt = Self::decode(&mut r)?;
        r.expect_end()?;
        Ok(dt)
    }

    /// The calendar date-time in UTC for seconds since the Unix epoch, deviation 0.
    pub fn from_unix_utc(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (ISO day 4).
        let day_of_week = ((days + 3).rem_euclid(7) + 1) as u8;
        DateTime {
            date: Date {
                year: year as u16,
                month,
                day,
                day_of_week,
            },
            time: Time {
                hour: (rem / 3600) as u8,
                minute: (rem / 60 % 60) as u8,
                second: (rem % 60) as u8,
                hundredths: 0,
            },
            deviation: 0,
            clock_status: 0,
        }
    }

    /// The same clock reading `secs` later, keeping the deviation and the clock status; `None`
    /// if a date or time field is not specified.
    pub fn plus_seconds(&self, secs: u64) -> Option<Self> {
        let deviation = if self.deviation == i16::MIN {
            0
        } else {
            self.deviation as i64
        };
        let utc = self.to_unix_utc()?.checked_add(secs)?;
        let local = u64::try_from(utc as i64 - deviation * 60).ok()?;
        Some(DateTime {
            deviation: self.deviation,
            clock_status: self.clock_status,
            ..DateTime::from_unix_utc(local)
        })
    }

    /// Seconds since the Unix epoch, if every date and time field is specified and valid.
    pub fn to_unix_utc(&self) -> Option<u64> {
        let d = &self.date;
        let t = &self.time;
        if d.year == 0xFFFF || !(1..=12).contains(&d.month) || !(1..=31).contains(&d.day) {
            return None;
        }
        if t.hour > 23 || t.minute > 59 || t.second > 59 {
            return None;
        }
        let days = days_from_civil(d.year as i64, d.month, d.day);
        let local = days * 86_400 + t.hour as i64 * 3600 + t.minute as i64 * 60 + t.second as i64;
        let deviation = if self.deviation == i16::MIN {
            0
        } else {
            self.deviation as i64
        };
        // Blue Book deviation: minutes from local time to UTC (UTC = local + deviation).
        u64::try_from(local + deviation * 60).ok()
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date for days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_seconds_keeps_the_deviation_and_the_clock_status() {
        // 2026-11-21 06:00:00 local, deviation -60 (UTC+1), daylight saving flagged.
        let then = DateTime {
            deviation: -60,
            clock_status: 0x80,
            ..DateTime::from_unix_utc(1_795_240_800)
        };
        let later = then.plus_seconds(3_661).unwrap();
        assert_eq!(
            (later.time.hour, later.time.minute, later.time.second),
            (7, 1, 1)
        );
        assert_eq!((later.deviation, later.clock_status), (-60, 0x80));
        assert_eq!(later.to_unix_utc(), then.to_unix_utc().map(|t| t + 3_661));
    }

    #[test]
    fn unix_time_round_trips_through_calendar_fields() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let dt = DateTime::from_unix_utc(secs);
            assert_eq!(dt.to_unix_utc(), Some(secs));
        }
        let dt = DateTime::from_unix_utc(1_700_000_000);
        assert_eq!(
            (dt.date.year, dt.date.month, dt.date.day),
            (2023, 11, 14),
            "1700000000 is 2023-11-14T22:13:20Z"
        );
        assert_eq!(dt.date.day_of_week, 2, "2023-11-14 was a Tuesday");
    }

    #[test]
    fn unspecified_fields_have_no_unix_time() {
        let mut dt = DateTime::from_unix_utc(0);
        dt.date.year = 0xFFFF;
        assert_eq!(dt.to_unix_utc(), None);
    }
}
