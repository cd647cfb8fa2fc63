//! Times in reports: RFC 3339 in UTC with milliseconds (`2026-11-28T23:23:15.123Z`), as
//! operators' tools and JSON consumers expect them.

/// The RFC 3339 form of `unix_seconds`.
pub fn format(unix_seconds: f64) -> String {
    let whole = unix_seconds.max(0.0).floor();
    let millis = ((unix_seconds - whole) * 1000.0).round().min(999.0) as u32;
    let dt = dlms::axdr::DateTime::from_unix_utc(whole as u64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        dt.date.year, dt.date.month, dt.date.day, dt.time.hour, dt.time.minute, dt.time.second
    )
}

/// Unix seconds of an RFC 3339 time in UTC (`2026-12-01T02:00:00Z`, fractions of a second
/// dropped); `None` for anything else.
pub fn parse(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let rest = text.get(19..)?;
    let zulu = rest == "Z"
        || rest
            .strip_prefix('.')
            .and_then(|r| r.strip_suffix('Z'))
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()));
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || !zulu {
        return None;
    }
    let (y, m, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hh, mm, ss) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if d < 1 || d > month_days[(m - 1) as usize] {
        return None;
    }
    // Days since the epoch (the civil-from-days inverse of Howard Hinnant's algorithm).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss.min(59)).ok()
}

/// Unix seconds, with the fraction, of an RFC 3339 time in UTC as [`format`] writes it.
pub fn parse_seconds(text: &str) -> Option<f64> {
    let whole = parse(text)? as f64;
    let fraction = match text.get(19..)?.strip_prefix('.') {
        Some(f) => format!("0.{}", f.trim_end_matches('Z'))
            .parse::<f64>()
            .ok()?,
        None => 0.0,
    };
    Some(whole + fraction)
}

fn invalid<E: serde::de::Error>(text: &str) -> E {
    E::custom(format!("`{text}` is not an RFC 3339 time in UTC"))
}

/// Deserializes an RFC 3339 time as Unix seconds (for `#[serde(deserialize_with)]`).
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse_seconds(&text).ok_or_else(|| invalid(&text))
}

/// Deserializes an RFC 3339 time or null.
pub fn deserialize_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match <Option<String> as serde::Deserialize>::deserialize(d)? {
        Some(text) => parse_seconds(&text).map(Some).ok_or_else(|| invalid(&text)),
        None => Ok(None),
    }
}

/// Deserializes a map of RFC 3339 times.
pub fn deserialize_map<'de, D, K>(d: D) -> Result<std::collections::BTreeMap<K, f64>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: serde::Deserialize<'de> + Ord,
{
    let texts = <std::collections::BTreeMap<K, String> as serde::Deserialize>::deserialize(d)?;
    texts
        .into_iter()
        .map(|(k, text)| {
            parse_seconds(&text)
                .map(|t| (k, t))
                .ok_or_else(|| invalid(&text))
        })
        .collect()
}

/// Serializes Unix seconds as RFC 3339 (for `#[serde(serialize_with)]`).
pub fn serialize<S: serde::Serializer>(unix_seconds: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*unix_seconds))
}

/// Serializes optional Unix seconds as RFC 3339 or null.
pub fn serialize_option<S: serde::Serializer>(
    unix_seconds: &Option<f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match unix_seconds {
        Some(t) => s.serialize_str(&format(*t)),
        None => s.serialize_none(),
    }
}

/// Serializes a map of Unix seconds as a map of RFC 3339 times.
pub fn serialize_map<S: serde::Serializer, K: serde::Serialize>(
    times: &std::collections::BTreeMap<K, f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(times.len()))?;
    for (k, t) in times {
        map.serialize_entry(k, &format(*t))?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_back_as_unix_seconds() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2026-09-21T14:13:20Z"), Some(1_790_000_000));
        assert_eq!(parse("2026-09-21T14:13:20.250Z"), Some(1_790_000_000));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-09-21 14:13:20Z",
            "2026-09-21T14:13:20+02:00",
            "2026-13-01T00:00:00Z",
            "later",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        for t in [0u64, 951_782_400, 1_796_090_400, 4_102_444_799] {
            assert_eq!(parse(&format(t as f64)), Some(t));
        }
    }

    #[test]
    fn unix_seconds_read_as_utc_with_milliseconds() {
        assert_eq!(format(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_790_000_000.25), "2026-09-21T14:13:20.250Z");
        assert_eq!(format(1_790_000_000.999_6), "2026-09-21T14:13:20.999Z");
    }
}
