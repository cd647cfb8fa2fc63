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
    fn unix_seconds_read_as_utc_with_milliseconds() {
        assert_eq!(format(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_790_000_000.25), "2026-09-21T14:13:20.250Z");
        assert_eq!(format(1_790_000_000.999_6), "2026-09-21T14:13:20.999Z");
    }
}
