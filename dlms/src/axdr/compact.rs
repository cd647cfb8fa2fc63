//! The A-XDR compact-array: one type description, then the elements' values without tags.

use super::{read_body, tag, Data, MAX_DEPTH};
use crate::codec::{put_length, put_length_prefixed, DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

/// The type of every element of a compact-array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeDescription {
    /// A simple type, by its tag.
    Simple(u8),
    /// An array of `count` elements of one type.
    Array {
        /// Number of elements.
        count: u16,
        /// The element type.
        element: Box<TypeDescription>,
    },
    /// A structure with these member types.
    Structure(Vec<TypeDescription>),
}

impl TypeDescription {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TypeDescription::Simple(t) => out.push(*t),
            TypeDescription::Array { count, element } => {
                out.push(tag::ARRAY);
                out.extend_from_slice(&count.to_be_bytes());
                element.encode(out);
            }
            TypeDescription::Structure(members) => {
                out.push(tag::STRUCTURE);
                put_length(out, members.len());
                for m in members {
                    m.encode(out);
                }
            }
        }
    }

    /// Reads a type description, rejecting nesting deeper than [`MAX_DEPTH`].
    pub fn read(r: &mut Reader<'_>, depth: usize) -> Result<Self, DecodeError> {
        let start = r.offset();
        if depth >= MAX_DEPTH {
            return Err(r.error_at(ErrorKind::TooDeep, start));
        }
        match r.u8()? {
            tag::ARRAY => {
                let count = r.u16()?;
                let element = Box::new(Self::read(r, depth + 1)?);
                Ok(TypeDescription::Array { count, element })
            }
            tag::STRUCTURE => {
                let n = r.count(1)?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    members.push(Self::read(r, depth + 1)?);
                }
                Ok(TypeDescription::Structure(members))
            }
            tag::COMPACT_ARRAY => Err(r.error_at(ErrorKind::UnknownTag(tag::COMPACT_ARRAY), start)),
            t if super::type_name(t) != "unknown" => Ok(TypeDescription::Simple(t)),
            t => Err(r.error_at(ErrorKind::UnknownTag(t), start)),
        }
    }

    /// Reads one element's value, spending one unit of `budget` per value built so that a
    /// type description cannot multiply a few input bytes into millions of values.
    fn read_value<'a>(
        &self,
        r: &mut Reader<'a>,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Data<'a>, DecodeError> {
        let start = r.offset();
        if depth >= MAX_DEPTH {
            return Err(r.error_at(ErrorKind::TooDeep, start));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| r.error_at(ErrorKind::BadLength, start))?;
        match self {
            TypeDescription::Simple(t) => read_body(r, *t, start, depth),
            TypeDescription::Array { count, element } => {
                let count = *count as usize;
                let mut items = Vec::with_capacity(count.min(*budget));
                for _ in 0..count {
                    items.push(element.read_value(r, depth + 1, budget)?);
                }
                Ok(Data::Array(items))
            }
            TypeDescription::Structure(members) => {
                let mut items = Vec::with_capacity(members.len());
                for m in members {
                    items.push(m.read_value(r, depth + 1, budget)?);
                }
                Ok(Data::Structure(items))
            }
        }
    }

    fn may_be_empty(&self) -> bool {
        match self {
            TypeDescription::Simple(t) => *t == tag::NULL,
            TypeDescription::Array { count, element } => *count == 0 || element.may_be_empty(),
            TypeDescription::Structure(m) => m.iter().all(TypeDescription::may_be_empty),
        }
    }

    fn encode_value(&self, value: &Data<'_>, out: &mut Vec<u8>) -> bool {
        match (self, value) {
            (TypeDescription::Simple(t), v) if v.tag() == *t => {
                v.encode_body(out);
                true
            }
            (TypeDescription::Array { count, element }, Data::Array(items))
                if items.len() == *count as usize =>
            {
                items.iter().all(|i| element.encode_value(i, out))
            }
            (TypeDescription::Structure(members), Data::Structure(items))
                if items.len() == members.len() =>
            {
                members
                    .iter()
                    .zip(items)
                    .all(|(m, i)| m.encode_value(i, out))
            }
            _ => false,
        }
    }
}

/// A compact-array: the element type and the raw contents, validated on decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompactArray<'a> {
    description: TypeDescription,
    contents: Cow<'a, [u8]>,
}

impl<'a> CompactArray<'a> {
    /// A compact-array holding `elements`, or `None` if any element is not of `description`
    /// or the element type encodes to no bytes.
    pub fn from_elements(
        description: TypeDescription,
        elements: &[Data<'_>],
    ) -> Option<CompactArray<'static>> {
        if description.may_be_empty() && !elements.is_empty() {
            return None;
        }
        let mut contents = Vec::new();
        for e in elements {
            if !description.encode_value(e, &mut contents) {
                return None;
            }
        }
        Some(CompactArray {
            description,
            contents: Cow::Owned(contents),
        })
    }

    /// The element type.
    pub fn description(&self) -> &TypeDescription {
        &self.description
    }

    /// Decodes the elements.
    pub fn elements(&self) -> Result<Vec<Data<'_>>, DecodeError> {
        decode_elements(&self.description, &self.contents, 0)
    }

    pub(super) fn read_body(r: &mut Reader<'a>, depth: usize) -> Result<Self, DecodeError> {
        let description = TypeDescription::read(r, depth + 1)?;
        let contents_at = r.offset();
        let contents = r.length_prefixed()?;
        decode_elements(&description, contents, depth + 1).map_err(|e| DecodeError {
            kind: e.kind,
            offset: contents_at + 1 + e.offset,
        })?;
        Ok(CompactArray {
            description,
            contents: Cow::Borrowed(contents),
        })
    }

    pub(super) fn encode_body(&self, out: &mut Vec<u8>) {
        self.description.encode(out);
        put_length_prefixed(out, &self.contents);
    }

    pub(super) fn encoded_body_len(&self) -> usize {
        let mut td = Vec::new();
        self.description.encode(&mut td);
        td.len() + crate::codec::length_len(self.contents.len()) + self.contents.len()
    }

    /// Copies the contents so the array outlives its input.
    pub fn into_owned(self) -> CompactArray<'static> {
        CompactArray {
            description: self.description,
            contents: Cow::Owned(self.contents.into_owned()),
        }
    }
}

/// The most values a compact-array's contents may decode into, per content byte (plus a
/// fixed allowance): enough for structures of small fields, too little for amplification.
const VALUES_PER_BYTE: usize = 4;

fn decode_elements<'b>(
    description: &TypeDescription,
    contents: &'b [u8],
    depth: usize,
) -> Result<Vec<Data<'b>>, DecodeError> {
    let mut r = Reader::new(contents);
    let mut out = Vec::new();
    if !contents.is_empty() && description.may_be_empty() {
        return Err(r.error(ErrorKind::InvalidValue("compact-array element type")));
    }
    let mut budget = contents.len() * VALUES_PER_BYTE + 64;
    while !r.is_empty() {
        out.push(description.read_value(&mut r, depth, &mut budget)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_array_of_structures_round_trips() {
        let td = TypeDescription::Structure(vec![
            TypeDescription::Simple(tag::LONG_UNSIGNED),
            TypeDescription::Simple(tag::OCTET_STRING),
        ]);
        let elems = vec![
            Data::Structure(vec![Data::LongUnsigned(7), Data::octets(b"ab")]),
            Data::Structure(vec![Data::LongUnsigned(9), Data::octets(b"")]),
        ];
        let ca = CompactArray::from_elements(td, &elems).unwrap();
        let bytes = Data::CompactArray(ca.clone()).to_bytes();
        assert_eq!(
            bytes,
            [0x13, 0x02, 0x02, 0x12, 0x09, 0x08, 0x00, 0x07, 0x02, b'a', b'b', 0x00, 0x09, 0x00]
        );
        let Data::CompactArray(back) = Data::decode(&bytes).unwrap() else {
            panic!("not a compact-array")
        };
        assert_eq!(back.elements().unwrap(), elems);
    }

    /// Found by the `data` fuzz target: nested arrays of small elements in the type
    /// description used to expand 30 bytes into gigabytes of values.
    #[test]
    fn nested_array_counts_cannot_amplify_the_input() {
        let bytes = [
            0x13, 0x02, 0x02, 0x12, 0x01, 0x40, 0x01, 0x01, 0x2D, 0x00, 0x00, 0x02, 0x03, 0x03,
            0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x1B, 0x15, 0x08, 0x02, 0x02,
            0x12, 0x13,
        ];
        assert_eq!(Data::decode(&bytes).unwrap_err().kind, ErrorKind::BadLength);
        let td = TypeDescription::Array {
            count: 60_000,
            element: Box::new(TypeDescription::Structure(vec![
                TypeDescription::Simple(tag::NULL),
                TypeDescription::Simple(tag::NULL),
                TypeDescription::Simple(tag::NULL),
                TypeDescription::Simple(tag::NULL),
                TypeDescription::Simple(tag::UNSIGNED),
            ])),
        };
        let mut bytes = vec![tag::COMPACT_ARRAY];
        td.encode(&mut bytes);
        bytes.extend([0x82, 0xEA, 0x60]);
        bytes.extend(std::iter::repeat_n(0u8, 60_000));
        assert!(
            Data::decode(&bytes).is_err(),
            "6 values a byte for 60,000 bytes is over budget"
        );
    }

    #[test]
    fn element_type_that_encodes_to_nothing_is_rejected() {
        let bytes = [0x13, 0x00, 0x02, 0xAA, 0xBB];
        assert!(Data::decode(&bytes).is_err());
    }
}
