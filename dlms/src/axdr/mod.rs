//! A-XDR: the `Data` type that carries every COSEM attribute value and method parameter.
//!
//! Tags per docs/protocol.md#ic-18-attributes (Gurux.DLMS.Net `DataType.cs`). Octet-strings and strings are
//! borrowed from the input on decode, so an image block is never copied by the decoder.

mod bitstring;
mod compact;
mod datetime;
mod encoded;

pub use bitstring::BitString;
pub use compact::{CompactArray, TypeDescription};
pub use datetime::{Date, DateTime, Time};
pub use encoded::EncodedData;

use crate::codec::{put_length, put_length_prefixed, DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

/// The deepest nesting of arrays and structures a decoder accepts.
pub const MAX_DEPTH: usize = 16;

/// A-XDR type tags.
pub mod tag {
    /// null-data
    pub const NULL: u8 = 0x00;
    /// array
    pub const ARRAY: u8 = 0x01;
    /// structure
    pub const STRUCTURE: u8 = 0x02;
    /// boolean
    pub const BOOLEAN: u8 = 0x03;
    /// bit-string
    pub const BIT_STRING: u8 = 0x04;
    /// double-long (i32)
    pub const DOUBLE_LONG: u8 = 0x05;
    /// double-long-unsigned (u32)
    pub const DOUBLE_LONG_UNSIGNED: u8 = 0x06;
    /// octet-string
    pub const OCTET_STRING: u8 = 0x09;
    /// visible-string
    pub const VISIBLE_STRING: u8 = 0x0A;
    /// utf8-string
    pub const UTF8_STRING: u8 = 0x0C;
    /// bcd
    pub const BCD: u8 = 0x0D;
    /// integer (i8)
    pub const INTEGER: u8 = 0x0F;
    /// long (i16)
    pub const LONG: u8 = 0x10;
    /// unsigned (u8)
    pub const UNSIGNED: u8 = 0x11;
    /// long-unsigned (u16)
    pub const LONG_UNSIGNED: u8 = 0x12;
    /// compact-array
    pub const COMPACT_ARRAY: u8 = 0x13;
    /// long64 (i64)
    pub const LONG64: u8 = 0x14;
    /// long64-unsigned (u64)
    pub const LONG64_UNSIGNED: u8 = 0x15;
    /// enum
    pub const ENUM: u8 = 0x16;
    /// float32
    pub const FLOAT32: u8 = 0x17;
    /// float64
    pub const FLOAT64: u8 = 0x18;
    /// date-time
    pub const DATE_TIME: u8 = 0x19;
    /// date
    pub const DATE: u8 = 0x1A;
    /// time
    pub const TIME: u8 = 0x1B;
}

/// One A-XDR value, borrowing its byte strings from the decoder's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Data<'a> {
    /// null-data
    Null,
    /// array: elements of one type
    Array(Vec<Data<'a>>),
    /// structure: elements of any type
    Structure(Vec<Data<'a>>),
    /// boolean
    Boolean(bool),
    /// bit-string
    BitString(BitString<'a>),
    /// double-long
    DoubleLong(i32),
    /// double-long-unsigned
    DoubleLongUnsigned(u32),
    /// octet-string
    OctetString(Cow<'a, [u8]>),
    /// visible-string (bytes, as meters send them)
    VisibleString(Cow<'a, [u8]>),
    /// utf8-string (bytes, as meters send them)
    Utf8String(Cow<'a, [u8]>),
    /// bcd (one byte)
    Bcd(u8),
    /// integer
    Integer(i8),
    /// long
    Long(i16),
    /// unsigned
    Unsigned(u8),
    /// long-unsigned
    LongUnsigned(u16),
    /// compact-array
    CompactArray(CompactArray<'a>),
    /// long64
    Long64(i64),
    /// long64-unsigned
    Long64Unsigned(u64),
    /// enum
    Enum(u8),
    /// float32
    Float32(f32),
    /// float64
    Float64(f64),
    /// date-time
    DateTime(DateTime),
    /// date
    Date(Date),
    /// time
    Time(Time),
}

impl<'a> Data<'a> {
    /// An octet-string borrowing `bytes`.
    pub fn octets(bytes: &'a [u8]) -> Self {
        Data::OctetString(Cow::Borrowed(bytes))
    }

    /// Decodes exactly one value from `bytes`; trailing bytes are an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let data = Self::read(&mut r)?;
        r.expect_end()?;
        Ok(data)
    }

    /// Reads one value from the reader.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        read_data(r, 0)
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        self.encode_body(out);
    }

    /// The type tag.
    pub fn tag(&self) -> u8 {
        match self {
            Data::Null => tag::NULL,
            Data::Array(_) => tag::ARRAY,
            Data::Structure(_) => tag::STRUCTURE,
            Data::Boolean(_) => tag::BOOLEAN,
            Data::BitString(_) => tag::BIT_STRING,
            Data::DoubleLong(_) => tag::DOUBLE_LONG,
            Data::DoubleLongUnsigned(_) => tag::DOUBLE_LONG_UNSIGNED,
            Data::OctetString(_) => tag::OCTET_STRING,
            Data::VisibleString(_) => tag::VISIBLE_STRING,
            Data::Utf8String(_) => tag::UTF8_STRING,
            Data::Bcd(_) => tag::BCD,
            Data::Integer(_) => tag::INTEGER,
            Data::Long(_) => tag::LONG,
            Data::Unsigned(_) => tag::UNSIGNED,
            Data::LongUnsigned(_) => tag::LONG_UNSIGNED,
            Data::CompactArray(_) => tag::COMPACT_ARRAY,
            Data::Long64(_) => tag::LONG64,
            Data::Long64Unsigned(_) => tag::LONG64_UNSIGNED,
            Data::Enum(_) => tag::ENUM,
            Data::Float32(_) => tag::FLOAT32,
            Data::Float64(_) => tag::FLOAT64,
            Data::DateTime(_) => tag::DATE_TIME,
            Data::Date(_) => tag::DATE,
            Data::Time(_) => tag::TIME,
        }
    }

    /// Appends the encoding without the type tag (as inside a compact-array).
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Data::Null => {}
            Data::Array(items) | Data::Structure(items) => {
                put_length(out, items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Data::Boolean(b) => out.push(if *b { 0x01 } else { 0x00 }),
            Data::BitString(bits) => {
                put_length(out, bits.len());
                out.extend_from_slice(bits.as_bytes());
            }
            Data::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
                put_length_prefixed(out, b)
            }
            Data::Bcd(v) | Data::Unsigned(v) | Data::Enum(v) => out.push(*v),
            Data::Integer(v) => out.push(*v as u8),
            Data::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::CompactArray(ca) => ca.encode_body(out),
            Data::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DateTime(v) => v.encode(out),
            Data::Date(v) => v.encode(out),
            Data::Time(v) => v.encode(out),
        }
    }

    /// The size of the encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        use crate::codec::length_len;
        1 + match self {
            Data::Null => 0,
            Data::Array(items) | Data::Structure(items) => {
                length_len(items.len()) + items.iter().map(Data::encoded_len).sum::<usize>()
            }
            Data::Boolean(_) | Data::Bcd(_) | Data::Integer(_) => 1,
            Data::Unsigned(_) | Data::Enum(_) => 1,
            Data::BitString(bits) => length_len(bits.len()) + bits.as_bytes().len(),
            Data::DoubleLong(_) | Data::DoubleLongUnsigned(_) | Data::Float32(_) => 4,
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
                length_len(b.len()) + b.len()
            }
            Data::Long(_) | Data::LongUnsigned(_) => 2,
            Data::CompactArray(ca) => ca.encoded_body_len(),
            Data::Long64(_) | Data::Long64Unsigned(_) | Data::Float64(_) => 8,
            Data::DateTime(_) => DateTime::LEN,
            Data::Date(_) => Date::LEN,
            Data::Time(_) => Time::LEN,
        }
    }

    /// Copies every borrowed byte string so the value outlives its input.
    pub fn into_owned(self) -> Data<'static> {
        fn own(b: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
            Cow::Owned(b.into_owned())
        }
        match self {
            Data::Null => Data::Null,
            Data::Array(v) => Data::Array(v.into_iter().map(Data::into_owned).collect()),
            Data::Structure(v) => Data::Structure(v.into_iter().map(Data::into_owned).collect()),
            Data::Boolean(v) => Data::Boolean(v),
            Data::BitString(v) => Data::BitString(v.into_owned()),
            Data::DoubleLong(v) => Data::DoubleLong(v),
            Data::DoubleLongUnsigned(v) => Data::DoubleLongUnsigned(v),
            Data::OctetString(v) => Data::OctetString(own(v)),
            Data::VisibleString(v) => Data::VisibleString(own(v)),
            Data::Utf8String(v) => Data::Utf8String(own(v)),
            Data::Bcd(v) => Data::Bcd(v),
            Data::Integer(v) => Data::Integer(v),
            Data::Long(v) => Data::Long(v),
            Data::Unsigned(v) => Data::Unsigned(v),
            Data::LongUnsigned(v) => Data::LongUnsigned(v),
            Data::CompactArray(v) => Data::CompactArray(v.into_owned()),
            Data::Long64(v) => Data::Long64(v),
            Data::Long64Unsigned(v) => Data::Long64Unsigned(v),
            Data::Enum(v) => Data::Enum(v),
            Data::Float32(v) => Data::Float32(v),
            Data::Float64(v) => Data::Float64(v),
            Data::DateTime(v) => Data::DateTime(v),
            Data::Date(v) => Data::Date(v),
            Data::Time(v) => Data::Time(v),
        }
    }

    /// The bytes of an octet-, visible- or utf8-string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => Some(b),
            _ => None,
        }
    }

    /// The value of any unsigned integer type or enum, widened.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Data::Unsigned(v) | Data::Enum(v) => Some(v as u64),
            Data::LongUnsigned(v) => Some(v as u64),
            Data::DoubleLongUnsigned(v) => Some(v as u64),
            Data::Long64Unsigned(v) => Some(v),
            _ => None,
        }
    }

    /// The value of any signed integer type, widened.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Data::Integer(v) => Some(v as i64),
            Data::Long(v) => Some(v as i64),
            Data::DoubleLong(v) => Some(v as i64),
            Data::Long64(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an array or structure.
    pub fn as_elements(&self) -> Option<&[Data<'a>]> {
        match self {
            Data::Array(v) | Data::Structure(v) => Some(v),
            _ => None,
        }
    }

    /// The A-XDR name of the value's type, as the Blue Book spells it.
    pub fn type_name(&self) -> &'static str {
        type_name(self.tag())
    }
}

/// The A-XDR name of a type tag.
pub fn type_name(tag: u8) -> &'static str {
    match tag {
        tag::NULL => "null-data",
        tag::ARRAY => "array",
        tag::STRUCTURE => "structure",
        tag::BOOLEAN => "boolean",
        tag::BIT_STRING => "bit-string",
        tag::DOUBLE_LONG => "double-long",
        tag::DOUBLE_LONG_UNSIGNED => "double-long-unsigned",
        tag::OCTET_STRING => "octet-string",
        tag::VISIBLE_STRING => "visible-string",
        tag::UTF8_STRING => "utf8-string",
        tag::BCD => "bcd",
        tag::INTEGER => "integer",
        tag::LONG => "long",
        tag::UNSIGNED => "unsigned",
        tag::LONG_UNSIGNED => "long-unsigned",
        tag::COMPACT_ARRAY => "compact-array",
        tag::LONG64 => "long64",
        tag::LONG64_UNSIGNED => "long64-unsigned",
        tag::ENUM => "enum",
        tag::FLOAT32 => "float32",
        tag::FLOAT64 => "float64",
        tag::DATE_TIME => "date-time",
        tag::DATE => "date",
        tag::TIME => "time",
        _ => "unknown",
    }
}

fn read_data<'a>(r: &mut Reader<'a>, depth: usize) -> Result<Data<'a>, DecodeError> {
    let start = r.offset();
    let tag = r.u8()?;
    read_body(r, tag, start, depth)
}

/// Reads the value of a type whose tag has already been read (or is implied, in a compact-array).
fn read_body<'a>(
    r: &mut Reader<'a>,
    tag: u8,
    start: usize,
    depth: usize,
) -> Result<Data<'a>, DecodeError> {
    Ok(match tag {
        tag::NULL => Data::Null,
        tag::ARRAY | tag::STRUCTURE => {
            if depth >= MAX_DEPTH {
                return Err(r.error_at(ErrorKind::TooDeep, start));
            }
            let count = r.count(1)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(read_data(r, depth + 1)?);
            }
            if tag == tag::ARRAY {
                Data::Array(items)
            } else {
                Data::Structure(items)
            }
        }
        tag::BOOLEAN => Data::Boolean(r.bool()?),
        tag::BIT_STRING => {
            let bits_at = r.offset();
            let bits = r.length()?;
            let bytes = r
                .take(bits.div_ceil(8))
                .map_err(|_| r.error_at(ErrorKind::MissingBytes, bits_at))?;
            Data::BitString(BitString::from_bytes(bits, bytes).expect("length checked"))
        }
        tag::DOUBLE_LONG => Data::DoubleLong(r.u32()? as i32),
        tag::DOUBLE_LONG_UNSIGNED => Data::DoubleLongUnsigned(r.u32()?),
        tag::OCTET_STRING => Data::OctetString(Cow::Borrowed(r.length_prefixed()?)),
        tag::VISIBLE_STRING => Data::VisibleString(Cow::Borrowed(r.length_prefixed()?)),
        tag::UTF8_STRING => Data::Utf8String(Cow::Borrowed(r.length_prefixed()?)),
        tag::BCD => Data::Bcd(r.u8()?),
        tag::INTEGER => Data::Integer(r.u8()? as i8),
        tag::LONG => Data::Long(r.u16()? as i16),
        tag::UNSIGNED => Data::Unsigned(r.u8()?),
        tag::LONG_UNSIGNED => Data::LongUnsigned(r.u16()?),
        tag::COMPACT_ARRAY => Data::CompactArray(CompactArray::read_body(r, depth)?),
        tag::LONG64 => Data::Long64(r.u64()? as i64),
        tag::LONG64_UNSIGNED => Data::Long64Unsigned(r.u64()?),
        tag::ENUM => Data::Enum(r.u8()?),
        tag::FLOAT32 => Data::Float32(f32::from_bits(r.u32()?)),
        tag::FLOAT64 => Data::Float64(f64::from_bits(r.u64()?)),
        tag::DATE_TIME => Data::DateTime(DateTime::decode(r)?),
        tag::DATE => Data::Date(Date::decode(r)?),
        tag::TIME => Data::Time(Time::decode(r)?),
        other => return Err(r.error_at(ErrorKind::UnknownTag(other), start)),
    })
}

#[cfg(test)]
mod tests;
