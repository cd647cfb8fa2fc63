//! The readable form of A-XDR values.

use super::Lines;
use crate::axdr::{Date, DateTime, Time};
use crate::cosem::{object_name, ObisCode};
use crate::Data;

/// Octet-strings longer than this show their first bytes only, with their length.
const SHOWN_BYTES: usize = 32;

/// The readable form of `value`: one line for a simple value, an indented tree for arrays and
/// structures.
pub fn data(value: &Data<'_>) -> String {
    let mut out = Lines::new();
    write_data(&mut out, "", value);
    out.text
}

/// Bytes as hex, the printable ASCII beside when every byte is printable, the logical name
/// when six bytes are not text, and only the first bytes of a long string.
pub fn octets(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let mut text = hex(shown);
    if bytes.len() > SHOWN_BYTES {
        text.push_str(" …");
    }
    let printable = !bytes.is_empty() && bytes.iter().all(|b| (0x20..0x7F).contains(b));
    if printable {
        text.push_str(&format!(" \"{}\"", String::from_utf8_lossy(shown)));
    } else if let Ok(six) = <[u8; 6]>::try_from(bytes) {
        let ln = ObisCode(six);
        text.push_str(&format!(" ({ln}"));
        if let Some(name) = object_name(&ln) {
            text.push_str(&format!(", {name}"));
        }
        text.push(')');
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(&format!("{b:02X}"));
    }
    text
}

/// Writes `value` on one line (or a tree), each line after `label`.
pub(super) fn write_data(out: &mut Lines, label: &str, value: &Data<'_>) {
    let name = value.type_name();
    match value {
        Data::Array(items) | Data::Structure(items) => {
            out.line(format!("{label}{name}[{}]", items.len()));
            out.nested(|out| items.iter().for_each(|item| write_data(out, "", item)));
        }
        Data::CompactArray(compact) => match compact.elements() {
            Ok(items) => {
                out.line(format!("{label}{name}[{}]", items.len()));
                out.nested(|out| items.iter().for_each(|item| write_data(out, "", item)));
            }
            Err(e) => out.line(format!("{label}{name} (unreadable: {e})")),
        },
        Data::OctetString(bytes) => {
            out.line(format!("{label}{name}[{}] {}", bytes.len(), octets(bytes)))
        }
        Data::VisibleString(bytes) | Data::Utf8String(bytes) => out.line(format!(
            "{label}{name} \"{}\"",
            String::from_utf8_lossy(bytes)
        )),
        Data::BitString(bits) if bits.len() > SHOWN_BYTES * 8 => out.line(format!(
            "{label}{name}[{}] {} set, first clear {}",
            bits.len(),
            bits.count_ones(),
            bits.first_zero()
                .map_or_else(|| "none".to_owned(), |n| n.to_string())
        )),
        Data::BitString(bits) => out.line(format!("{label}{name}[{}] {bits}", bits.len())),
        Data::Null => out.line(format!("{label}{name}")),
        _ => out.line(format!("{label}{name} {}", scalar(value))),
    }
}

/// The value of a scalar.
fn scalar(value: &Data<'_>) -> String {
    match value {
        Data::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DoubleLong(n) => n.to_string(),
        Data::DoubleLongUnsigned(n) => n.to_string(),
        Data::Bcd(n) | Data::Unsigned(n) | Data::Enum(n) => n.to_string(),
        Data::Integer(n) => n.to_string(),
        Data::Long(n) => n.to_string(),
        Data::LongUnsigned(n) => n.to_string(),
        Data::Long64(n) => n.to_string(),
        Data::Long64Unsigned(n) => n.to_string(),
        Data::Float32(x) => x.to_string(),
        Data::Float64(x) => x.to_string(),
        Data::DateTime(dt) => date_time(dt),
        Data::Date(d) => date(d),
        Data::Time(t) => time(t),
        Data::Null
        | Data::Array(_)
        | Data::Structure(_)
        | Data::CompactArray(_)
        | Data::BitString(_)
        | Data::OctetString(_)
        | Data::VisibleString(_)
        | Data::Utf8String(_) => String::new(),
    }
}

/// A field, or `*` where the standard's "not specified" value stands.
fn field(value: u64, unspecified: u64, width: usize) -> String {
    if value == unspecified {
        "*".repeat(width.min(2))
    } else {
        format!("{value:0width$}")
    }
}

fn date(d: &Date) -> String {
    format!(
        "{}-{}-{}",
        field(d.year.into(), 0xFFFF, 4),
        field(d.month.into(), 0xFF, 2),
        field(d.day.into(), 0xFF, 2)
    )
}

fn time(t: &Time) -> String {
    let mut text = format!(
        "{}:{}:{}",
        field(t.hour.into(), 0xFF, 2),
        field(t.minute.into(), 0xFF, 2),
        field(t.second.into(), 0xFF, 2)
    );
    if t.hundredths != 0xFF && t.hundredths != 0 {
        text.push_str(&format!(".{:02}", t.hundredths));
    }
    text
}

fn date_time(dt: &DateTime) -> String {
    let mut text = format!("{} {}", date(&dt.date), time(&dt.time));
    if dt.deviation != i16::MIN {
        text.push_str(&format!(" deviation {} min", dt.deviation));
    }
    if dt.clock_status != 0xFF && dt.clock_status != 0 {
        text.push_str(&format!(" status 0x{:02X}", dt.clock_status));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axdr::BitString;

    #[test]
    fn structures_are_indented_and_strings_shown_as_hex_and_text() {
        let value = Data::Structure(vec![
            Data::octets(b"APP-2"),
            Data::DoubleLongUnsigned(4096),
            Data::Array(vec![Data::Enum(3)]),
        ]);
        assert_eq!(
            data(&value),
            "structure[3]\n  octet-string[5] 41 50 50 2D 32 \"APP-2\"\n  \
             double-long-unsigned 4096\n  array[1]\n    enum 3"
        );
    }

    #[test]
    fn six_bytes_that_are_not_text_show_as_a_logical_name() {
        assert_eq!(
            octets(&[0, 0, 44, 0, 0, 255]),
            "00 00 2C 00 00 FF (0-0:44.0.0.255, image transfer)"
        );
        assert_eq!(
            octets(&[1, 0, 1, 8, 0, 255]),
            "01 00 01 08 00 FF (1-0:1.8.0.255)"
        );
    }

    #[test]
    fn long_values_are_cut_with_their_length_kept() {
        let block = vec![0xA5; 200];
        let text = data(&Data::OctetString(block.into()));
        assert!(text.starts_with("octet-string[200] A5 A5"), "{text}");
        assert!(text.ends_with('…'), "{text}");
        let bits = BitString::from_bools((0..1000).map(|i| i != 7));
        assert_eq!(
            data(&Data::BitString(bits)),
            "bit-string[1000] 999 set, first clear 7"
        );
        let short = BitString::from_bools([true, false, true]);
        assert_eq!(data(&Data::BitString(short)), "bit-string[3] 101");
    }

    #[test]
    fn scalars_show_their_value() {
        assert_eq!(data(&Data::Boolean(true)), "boolean TRUE");
        assert_eq!(data(&Data::Null), "null-data");
        assert_eq!(data(&Data::Integer(-3)), "integer -3");
        assert_eq!(
            data(&Data::DateTime(DateTime::from_unix_utc(1_790_000_000))),
            "date-time 2026-09-21 14:13:20 deviation 0 min"
        );
    }
}
