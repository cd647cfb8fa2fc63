//! Typed values in case files: what a step sends (SET values, ACTION parameters) and what it
//! expects back, with variables captured earlier in the case (`"$block_count"`,
//! `"$block_count+1"`).
//!
//! In TOML a value is a one-key table naming its A-XDR type:
//! `{ u32 = 200 }`, `{ bool = true }`, `{ enum = 1 }`, `{ octets = "0A0B" }`,
//! `{ text = "APP-1.0.0" }` (an octet-string holding ASCII), `{ bits = "1011" }`,
//! `{ array = [ ... ] }`, `{ structure = [ ... ] }`, and for expectations only
//! `{ any = "bit-string" }` (any value of that type, or `"*"` for any value) and
//! `{ like = "APP-*" }` (a string matching a `*` pattern).

use dlms::axdr::BitString;
use dlms::Data;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A value captured during a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// A number (block size, block count, sizes, statuses).
    Num(u64),
    /// Bytes (identifiers).
    Bytes(Vec<u8>),
}

/// The variables of one running case.
pub type Vars = BTreeMap<String, Var>;

/// A number, literal or from a variable with an optional offset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NumSpec {
    /// A literal.
    Lit(i64),
    /// `"$name"`, `"$name+N"` or `"$name-N"`.
    Expr(String),
}

/// Bytes, as hex or from a variable (`"$identifier"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct BytesSpec(pub String);

/// A typed value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ValueSpec {
    /// null-data.
    Null(bool),
    /// boolean.
    Bool(bool),
    /// unsigned.
    U8(NumSpec),
    /// long-unsigned.
    U16(NumSpec),
    /// double-long-unsigned.
    U32(NumSpec),
    /// long64-unsigned.
    U64(NumSpec),
    /// integer.
    I8(NumSpec),
    /// long.
    I16(NumSpec),
    /// double-long.
    I32(NumSpec),
    /// enum.
    Enum(NumSpec),
    /// octet-string from hex or a variable.
    Octets(BytesSpec),
    /// octet-string holding this ASCII text.
    Text(String),
    /// visible-string.
    Visible(String),
    /// bit-string, one character per bit, first bit leftmost.
    Bits(String),
    /// An octet-string of this many 0xA5 bytes, at most 65,535 (to make requests longer than a
    /// PDU, or a block of `"$block_size"` bytes).
    Filler(NumSpec),
    /// array.
    Array(Vec<ValueSpec>),
    /// structure.
    Structure(Vec<ValueSpec>),
    /// Any value of the named type (`"*"`: any value at all). Expectations only.
    Any(String),
    /// A string value matching a pattern with `*` wildcards. Expectations only.
    Like(String),
    /// A non-empty array whose every element matches. Expectations only.
    Each(Box<ValueSpec>),
}

/// The longest filler.
const MAX_FILLER: i64 = 65_535;

/// The A-XDR type names a case may write in `any` and `type`.
pub const TYPE_NAMES: &[&str] = &[
    "null-data",
    "array",
    "structure",
    "boolean",
    "bit-string",
    "double-long",
    "double-long-unsigned",
    "octet-string",
    "visible-string",
    "utf8-string",
    "bcd",
    "integer",
    "long",
    "unsigned",
    "long-unsigned",
    "compact-array",
    "long64",
    "long64-unsigned",
    "enum",
    "float32",
    "float64",
    "date-time",
    "date",
    "time",
];

impl NumSpec {
    /// Checks the expression's syntax (not whether its variable will exist).
    pub fn check(&self) -> Result<(), String> {
        match self {
            NumSpec::Lit(_) => Ok(()),
            NumSpec::Expr(e) => parse_expr(e).map(|_| ()),
        }
    }

    /// The number, with variables substituted.
    pub fn eval(&self, vars: &Vars) -> Result<i64, String> {
        match self {
            NumSpec::Lit(n) => Ok(*n),
            NumSpec::Expr(e) => {
                let (name, offset) = parse_expr(e)?;
                match vars.get(name) {
                    Some(Var::Num(n)) => Ok(*n as i64 + offset),
                    Some(Var::Bytes(_)) => Err(format!("${name} holds bytes, not a number")),
                    None => Err(format!("${name} is not set at this step")),
                }
            }
        }
    }
}

fn parse_expr(e: &str) -> Result<(&str, i64), String> {
    let bad = || format!("`{e}` is neither a number nor $name, $name+N or $name-N");
    let body = e.strip_prefix('$').ok_or_else(bad)?;
    let (name, offset) = match body.find(['+', '-']) {
        Some(at) => {
            let n: i64 = body[at + 1..].parse().map_err(|_| bad())?;
            (&body[..at], if &body[at..at + 1] == "-" { -n } else { n })
        }
        None => (body, 0),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad());
    }
    Ok((name, offset))
}

impl BytesSpec {
    fn check(&self) -> Result<(), String> {
        if self.0.starts_with('$') {
            return parse_expr(&self.0).map(|_| ());
        }
        parse_hex(&self.0).map(|_| ())
    }

    /// The bytes, with a variable substituted.
    pub fn eval(&self, vars: &Vars) -> Result<Vec<u8>, String> {
        if let Some(name) = self.0.strip_prefix('$') {
            return match vars.get(name) {
                Some(Var::Bytes(b)) => Ok(b.clone()),
                Some(Var::Num(_)) => Err(format!("${name} holds a number, not bytes")),
                None => Err(format!("${name} is not set at this step")),
            };
        }
        parse_hex(&self.0)
    }
}

/// Hex digits, spaces allowed between bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    dlms::text::parse_hex(text).map_err(|e| e.to_string())
}

fn bits_from(text: &str) -> Result<BitString<'static>, String> {
    if !text.chars().all(|c| c == '0' || c == '1') {
        return Err(format!("`{text}` is not a bit-string of 0 and 1"));
    }
    Ok(BitString::from_bools(text.chars().map(|c| c == '1')))
}

/// A bit-string as `0`/`1` characters, first bit leftmost.
pub fn bits_text(bits: &BitString<'_>) -> String {
    bits.iter().map(|b| if b { '1' } else { '0' }).collect()
}

fn ranged<T: TryFrom<i64>>(n: i64, ty: &str) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("{n} does not fit {ty}"))
}

impl ValueSpec {
    /// Checks the spec's syntax; `sendable` refuses the expectation-only forms.
    pub fn check(&self, sendable: bool) -> Result<(), String> {
        match self {
            ValueSpec::Null(_)
            | ValueSpec::Bool(_)
            | ValueSpec::Text(_)
            | ValueSpec::Visible(_) => Ok(()),
            ValueSpec::Filler(NumSpec::Lit(n)) if !(0..=MAX_FILLER).contains(n) => {
                Err(format!("filler: 0 to {MAX_FILLER} bytes"))
            }
            ValueSpec::Filler(n) => n.check(),
            ValueSpec::U8(n)
            | ValueSpec::U16(n)
            | ValueSpec::U32(n)
            | ValueSpec::U64(n)
            | ValueSpec::I8(n)
            | ValueSpec::I16(n)
            | ValueSpec::I32(n)
            | ValueSpec::Enum(n) => n.check(),
            ValueSpec::Octets(b) => b.check(),
            ValueSpec::Bits(t) => bits_from(t).map(|_| ()),
            ValueSpec::Array(items) | ValueSpec::Structure(items) => {
                items.iter().try_for_each(|i| i.check(sendable))
            }
            ValueSpec::Any(t) if !sendable => {
                if t == "*" || TYPE_NAMES.contains(&t.as_str()) {
                    Ok(())
                } else {
                    Err(format!("`{t}` is not an A-XDR type name"))
                }
            }
            ValueSpec::Like(_) if !sendable => Ok(()),
            ValueSpec::Each(element) if !sendable => element.check(false),
            ValueSpec::Any(_) | ValueSpec::Like(_) | ValueSpec::Each(_) => {
                Err("`any`, `like` and `each` only describe expected values".into())
            }
        }
    }

    /// The value to send.
    pub fn build(&self, vars: &Vars) -> Result<Data<'static>, String> {
        Ok(match self {
            ValueSpec::Null(_) => Data::Null,
            ValueSpec::Bool(b) => Data::Boolean(*b),
            ValueSpec::U8(n) => Data::Unsigned(ranged(n.eval(vars)?, "unsigned")?),
            ValueSpec::U16(n) => Data::LongUnsigned(ranged(n.eval(vars)?, "long-unsigned")?),
            ValueSpec::U32(n) => {
                Data::DoubleLongUnsigned(ranged(n.eval(vars)?, "double-long-unsigned")?)
            }
            ValueSpec::U64(n) => Data::Long64Unsigned(ranged(n.eval(vars)?, "long64-unsigned")?),
            ValueSpec::I8(n) => Data::Integer(ranged(n.eval(vars)?, "integer")?),
            ValueSpec::I16(n) => Data::Long(ranged(n.eval(vars)?, "long")?),
            ValueSpec::I32(n) => Data::DoubleLong(ranged(n.eval(vars)?, "double-long")?),
            ValueSpec::Enum(n) => Data::Enum(ranged(n.eval(vars)?, "enum")?),
            ValueSpec::Octets(b) => Data::OctetString(Cow::Owned(b.eval(vars)?)),
            ValueSpec::Text(t) => Data::OctetString(Cow::Owned(t.as_bytes().to_vec())),
            ValueSpec::Visible(t) => Data::VisibleString(Cow::Owned(t.as_bytes().to_vec())),
            ValueSpec::Bits(t) => Data::BitString(bits_from(t)?),
            ValueSpec::Filler(n) => {
                let len = n.eval(vars)?;
                if !(0..=MAX_FILLER).contains(&len) {
                    return Err(format!("filler: {len} bytes, not 0 to {MAX_FILLER}"));
                }
                Data::OctetString(Cow::Owned(vec![0xA5; len as usize]))
            }
            ValueSpec::Array(items) => Data::Array(
                items
                    .iter()
                    .map(|i| i.build(vars))
                    .collect::<Result<_, _>>()?,
            ),
            ValueSpec::Structure(items) => Data::Structure(
                items
                    .iter()
                    .map(|i| i.build(vars))
                    .collect::<Result<_, _>>()?,
            ),
            ValueSpec::Any(_) | ValueSpec::Like(_) | ValueSpec::Each(_) => {
                return Err("`any`, `like` and `each` cannot be sent".into())
            }
        })
    }

    /// Whether `data` is what the spec describes; `Err` explains a spec that cannot be
    /// evaluated (an unset variable).
    pub fn matches(&self, data: &Data<'_>, vars: &Vars) -> Result<bool, String> {
        match self {
            ValueSpec::Any(t) => Ok(t == "*" || data.type_name() == t),
            ValueSpec::Like(pattern) => {
                Ok(data.as_bytes().is_some_and(|b| glob(pattern.as_bytes(), b)))
            }
            ValueSpec::Each(element) => {
                let Data::Array(elements) = data else {
                    return Ok(false);
                };
                if elements.is_empty() {
                    return Ok(false);
                }
                for e in elements {
                    if !element.matches(e, vars)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            ValueSpec::Array(items) | ValueSpec::Structure(items) => {
                let same_kind = matches!(
                    (self, data),
                    (ValueSpec::Array(_), Data::Array(_))
                        | (ValueSpec::Structure(_), Data::Structure(_))
                );
                let Some(elements) = data.as_elements().filter(|_| same_kind) else {
                    return Ok(false);
                };
                if elements.len() != items.len() {
                    return Ok(false);
                }
                for (spec, element) in items.iter().zip(elements) {
                    if !spec.matches(element, vars)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(self.build(vars)? == *data),
        }
    }
}

impl ValueSpec {
    /// The spec for reports, with variables substituted where they are set.
    pub fn describe(&self, vars: &Vars) -> String {
        match self {
            ValueSpec::Any(t) if t == "*" => "any value".into(),
            ValueSpec::Any(t) => format!("any {t}"),
            ValueSpec::Like(p) => format!("a string like \"{p}\""),
            ValueSpec::Each(element) => format!("a non-empty array of {}", element.describe(vars)),
            ValueSpec::Array(items) | ValueSpec::Structure(items) => {
                let kind = if matches!(self, ValueSpec::Array(_)) {
                    "array"
                } else {
                    "structure"
                };
                let inner: Vec<String> = items.iter().map(|i| i.describe(vars)).collect();
                format!("{kind} [{}]", inner.join(", "))
            }
            other => match other.build(vars) {
                Ok(data) => show(&data),
                Err(e) => format!("{other:?} ({e})"),
            },
        }
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((p, rest)) => text.first() == Some(p) && glob(rest, &text[1..]),
    }
}

/// A value for reports: the type and a short rendering.
pub fn show(data: &Data<'_>) -> String {
    match data {
        Data::BitString(b) => format!("bit-string {}", bits_text(b)),
        Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
            let printable = !b.is_empty() && b.iter().all(|c| (0x20..0x7F).contains(c));
            if printable {
                format!("{} \"{}\"", data.type_name(), String::from_utf8_lossy(b))
            } else {
                let hex: String = b.iter().map(|c| format!("{c:02X}")).collect();
                format!("{} {hex}", data.type_name())
            }
        }
        Data::Array(items) | Data::Structure(items) => {
            let inner: Vec<String> = items.iter().map(show).collect();
            format!("{} [{}]", data.type_name(), inner.join(", "))
        }
        Data::Boolean(b) => format!("boolean {b}"),
        Data::Null => "null-data".into(),
        other => match (other.as_u64(), other.as_i64()) {
            (Some(n), _) => format!("{} {n}", other.type_name()),
            (_, Some(n)) => format!("{} {n}", other.type_name()),
            _ => format!("{other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("block_count".into(), Var::Num(5));
        v.insert("identifier".into(), Var::Bytes(b"APP-2".to_vec()));
        v
    }

    #[test]
    fn expressions_take_variables_and_offsets() {
        let v = vars();
        assert_eq!(NumSpec::Expr("$block_count+1".into()).eval(&v), Ok(6));
        assert_eq!(NumSpec::Expr("$block_count-2".into()).eval(&v), Ok(3));
        assert!(NumSpec::Expr("$nothing".into()).eval(&v).is_err());
        assert!(NumSpec::Expr("block_count".into()).check().is_err());
        assert!(NumSpec::Expr("$identifier".into()).eval(&v).is_err());
    }

    #[test]
    fn specs_match_typed_values_only() {
        let v = vars();
        let spec: ValueSpec = toml::from_str::<toml::Table>("x = { u32 = \"$block_count\" }")
            .unwrap()["x"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(spec.matches(&Data::DoubleLongUnsigned(5), &v), Ok(true));
        assert_eq!(spec.matches(&Data::LongUnsigned(5), &v), Ok(false));
        let info = ValueSpec::Array(vec![ValueSpec::Structure(vec![
            ValueSpec::Any("double-long-unsigned".into()),
            ValueSpec::Octets(BytesSpec("$identifier".into())),
            ValueSpec::Any("*".into()),
        ])]);
        let data = Data::Array(vec![Data::Structure(vec![
            Data::DoubleLongUnsigned(1000),
            Data::OctetString(b"APP-2".as_slice().into()),
            Data::OctetString(vec![1, 2].into()),
        ])]);
        assert_eq!(info.matches(&data, &v), Ok(true));
        assert_eq!(info.matches(&Data::Array(vec![]), &v), Ok(false));
    }

    #[test]
    fn a_filler_takes_a_length_or_a_variable_within_bounds() {
        let v = vars();
        let block = ValueSpec::Filler(NumSpec::Expr("$block_count+1".into()));
        assert!(block.check(true).is_ok());
        assert_eq!(
            block.build(&v).unwrap().as_bytes().map(<[u8]>::len),
            Some(6)
        );
        assert!(ValueSpec::Filler(NumSpec::Lit(70_000)).check(true).is_err());
        let too_long = ValueSpec::Filler(NumSpec::Expr("$block_count+70000".into()));
        assert!(too_long.build(&v).is_err());
    }

    #[test]
    fn like_matches_with_wildcards() {
        let v = vars();
        let like = ValueSpec::Like("APP-*".into());
        assert_eq!(like.matches(&Data::octets(b"APP-1.0.0"), &v), Ok(true));
        assert_eq!(like.matches(&Data::octets(b"MET-1.0.0"), &v), Ok(false));
        assert_eq!(like.matches(&Data::Unsigned(1), &v), Ok(false));
    }

    #[test]
    fn each_wants_a_non_empty_array_of_matching_elements() {
        let v = vars();
        let each = ValueSpec::Each(Box::new(ValueSpec::Any("octet-string".into())));
        let two = Data::Array(vec![Data::octets(b"a"), Data::octets(b"b")]);
        assert_eq!(each.matches(&two, &v), Ok(true));
        assert_eq!(each.matches(&Data::Array(vec![]), &v), Ok(false));
        let mixed = Data::Array(vec![Data::octets(b"a"), Data::Unsigned(1)]);
        assert_eq!(each.matches(&mixed, &v), Ok(false));
        assert!(each.check(true).is_err());
    }

    #[test]
    fn expectation_forms_cannot_be_sent() {
        assert!(ValueSpec::Any("*".into()).check(true).is_err());
        assert!(ValueSpec::Any("bit-strin".into()).check(false).is_err());
        assert!(ValueSpec::Bits("10x".into()).check(true).is_err());
        assert!(ValueSpec::Octets(BytesSpec("0G".into()))
            .check(true)
            .is_err());
    }

    #[test]
    fn values_show_readably() {
        assert_eq!(
            show(&Data::BitString(BitString::from_bools([true, false, true]))),
            "bit-string 101"
        );
        assert_eq!(show(&Data::octets(b"APP")), "octet-string \"APP\"");
        assert_eq!(show(&Data::Enum(3)), "enum 3");
    }
}
