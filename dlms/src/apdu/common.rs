//! The pieces every xDLMS service shares: names of objects, attributes and methods, the invoke-id,
//! result codes and the data blocks of block transfer (docs/protocol.md#xdlms-apdus).

use crate::axdr::EncodedData;
use crate::codec::{put_length_prefixed, Codec, DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

pub use crate::cosem::ObisCode;

/// Invoke-Id-And-Priority: invoke-id in bits 0-3, service class (confirmed) in bit 6,
/// priority (high) in bit 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvokeIdAndPriority(pub u8);

impl InvokeIdAndPriority {
    /// Builds the byte from its parts; `id` is masked to 4 bits.
    pub const fn new(id: u8, confirmed: bool, high_priority: bool) -> Self {
        InvokeIdAndPriority(
            (id & 0x0F) | if confirmed { 0x40 } else { 0 } | if high_priority { 0x80 } else { 0 },
        )
    }

    /// The invoke-id, 0..15.
    pub const fn id(self) -> u8 {
        self.0 & 0x0F
    }

    /// True for a confirmed service (a reply is expected).
    pub const fn confirmed(self) -> bool {
        self.0 & 0x40 != 0
    }

    /// True for high priority.
    pub const fn high_priority(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// Data-Access-Result and Action-Result (docs/protocol.md#ic-18-methods): the same numbers in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataAccessResult(pub u8);

/// Action-Result uses the numbers of Data-Access-Result.
pub type ActionResult = DataAccessResult;

impl DataAccessResult {
    /// success
    pub const SUCCESS: Self = Self(0);
    /// hardware-fault
    pub const HARDWARE_FAULT: Self = Self(1);
    /// temporary-failure
    pub const TEMPORARY_FAILURE: Self = Self(2);
    /// read-write-denied
    pub const READ_WRITE_DENIED: Self = Self(3);
    /// object-undefined
    pub const OBJECT_UNDEFINED: Self = Self(4);
    /// object-class-inconsistent
    pub const OBJECT_CLASS_INCONSISTENT: Self = Self(9);
    /// object-unavailable
    pub const OBJECT_UNAVAILABLE: Self = Self(11);
    /// type-unmatched
    pub const TYPE_UNMATCHED: Self = Self(12);
    /// scope-of-access-violated
    pub const SCOPE_OF_ACCESS_VIOLATED: Self = Self(13);
    /// data-block-unavailable
    pub const DATA_BLOCK_UNAVAILABLE: Self = Self(14);
    /// long-get-aborted (long-action-aborted for ACTION)
    pub const LONG_GET_ABORTED: Self = Self(15);
    /// no-long-get-in-progress (no-long-action-in-progress for ACTION)
    pub const NO_LONG_GET_IN_PROGRESS: Self = Self(16);
    /// long-set-aborted
    pub const LONG_SET_ABORTED: Self = Self(17);
    /// no-long-set-in-progress
    pub const NO_LONG_SET_IN_PROGRESS: Self = Self(18);
    /// data-block-number-invalid
    pub const DATA_BLOCK_NUMBER_INVALID: Self = Self(19);
    /// other-reason
    pub const OTHER_REASON: Self = Self(250);

    /// The standard's name for the code.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "success",
            1 => "hardware-fault",
            2 => "temporary-failure",
            3 => "read-write-denied",
            4 => "object-undefined",
            9 => "object-class-inconsistent",
            11 => "object-unavailable",
            12 => "type-unmatched",
            13 => "scope-of-access-violated",
            14 => "data-block-unavailable",
            15 => "long-get-aborted",
            16 => "no-long-get-in-progress",
            17 => "long-set-aborted",
            18 => "no-long-set-in-progress",
            19 => "data-block-number-invalid",
            250 => "other-reason",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for DataAccessResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Cosem-Attribute-Descriptor: class, instance and attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeDescriptor {
    /// Interface class.
    pub class_id: u16,
    /// Logical name of the instance.
    pub instance: ObisCode,
    /// Attribute index (1 is the logical name).
    pub attribute_id: i8,
}

/// Cosem-Method-Descriptor: class, instance and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodDescriptor {
    /// Interface class.
    pub class_id: u16,
    /// Logical name of the instance.
    pub instance: ObisCode,
    /// Method index.
    pub method_id: i8,
}

fn read_descriptor(r: &mut Reader<'_>) -> Result<(u16, ObisCode, i8), DecodeError> {
    Ok((r.u16()?, ObisCode(r.array()?), r.u8()? as i8))
}

fn put_descriptor(out: &mut Vec<u8>, class_id: u16, instance: &ObisCode, index: i8) {
    out.extend_from_slice(&class_id.to_be_bytes());
    out.extend_from_slice(&instance.0);
    out.push(index as u8);
}

impl Codec<'_> for AttributeDescriptor {
    fn encode(&self, out: &mut Vec<u8>) {
        put_descriptor(out, self.class_id, &self.instance, self.attribute_id);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (class_id, instance, attribute_id) = read_descriptor(r)?;
        Ok(AttributeDescriptor {
            class_id,
            instance,
            attribute_id,
        })
    }
}

impl Codec<'_> for MethodDescriptor {
    fn encode(&self, out: &mut Vec<u8>) {
        put_descriptor(out, self.class_id, &self.instance, self.method_id);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (class_id, instance, method_id) = read_descriptor(r)?;
        Ok(MethodDescriptor {
            class_id,
            instance,
            method_id,
        })
    }
}

/// Selective access: a selector and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveAccess<'a> {
    /// The access selector.
    pub selector: u8,
    /// The access parameters.
    pub parameters: EncodedData<'a>,
}

/// An attribute descriptor with its optional selective access, as GET and SET carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeWithSelection<'a> {
    /// The attribute.
    pub attribute: AttributeDescriptor,
    /// The optional selective access.
    pub access: Option<SelectiveAccess<'a>>,
}

impl AttributeWithSelection<'_> {
    /// An attribute without selective access.
    pub fn plain(attribute: AttributeDescriptor) -> Self {
        AttributeWithSelection {
            attribute,
            access: None,
        }
    }
}

impl<'a> Codec<'a> for AttributeWithSelection<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.attribute.encode(out);
        match &self.access {
            None => out.push(0),
            Some(sel) => {
                out.extend_from_slice(&[1, sel.selector]);
                sel.parameters.encode(out);
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let attribute = AttributeDescriptor::read(r)?;
        let access = if r.optional()? {
            Some(SelectiveAccess {
                selector: r.u8()?,
                parameters: EncodedData::read(r)?,
            })
        } else {
            None
        };
        Ok(AttributeWithSelection { attribute, access })
    }
}

/// Get-Data-Result: a value, or the reason there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum GetDataResult<'a> {
    /// The value.
    Data(EncodedData<'a>),
    /// The reason access failed.
    Error(DataAccessResult),
}

impl<'a> Codec<'a> for GetDataResult<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            GetDataResult::Data(d) => {
                out.push(0);
                d.encode(out);
            }
            GetDataResult::Error(e) => out.extend_from_slice(&[1, e.0]),
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        match r.u8()? {
            0 => Ok(GetDataResult::Data(EncodedData::read(r)?)),
            1 => Ok(GetDataResult::Error(DataAccessResult(r.u8()?))),
            t => Err(r.error_at(ErrorKind::UnknownTag(t), at)),
        }
    }
}

/// DataBlock-SA: one block of a long SET or ACTION (and of ACTION-response-with-pblock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlockSa<'a> {
    /// True on the last block.
    pub last_block: bool,
    /// Block number, from 1.
    pub block_number: u32,
    /// The block's raw bytes.
    pub raw_data: Cow<'a, [u8]>,
}

impl<'a> Codec<'a> for DataBlockSa<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.last_block));
        out.extend_from_slice(&self.block_number.to_be_bytes());
        put_length_prefixed(out, &self.raw_data);
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(DataBlockSa {
            last_block: r.bool()?,
            block_number: r.u32()?,
            raw_data: Cow::Borrowed(r.length_prefixed()?),
        })
    }
}

/// Reads a list: a count, then that many elements, each at least `min_len` bytes long.
pub(crate) fn read_list<'a, T>(
    r: &mut Reader<'a>,
    min_len: usize,
    mut read: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = r.count(min_len)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read(r)?);
    }
    Ok(out)
}

/// Appends a list: a count, then each element's encoding.
pub(crate) fn put_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&T, &mut Vec<u8>)) {
    crate::codec::put_length(out, items.len());
    for item in items {
        put(item, out);
    }
}

/// Minimum encoded size of an attribute descriptor with selection.
pub(crate) const ATTRIBUTE_WITH_SELECTION_MIN: usize = 10;
/// Encoded size of a method descriptor.
pub(crate) const METHOD_DESCRIPTOR_LEN: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#xdlms-apdus: 0xC1 is high priority, confirmed, invoke-id 1 (GX-CT uses it).
    #[test]
    fn invoke_id_and_priority_bits() {
        let iip = InvokeIdAndPriority(0xC1);
        assert_eq!(
            (iip.id(), iip.confirmed(), iip.high_priority()),
            (1, true, true)
        );
        assert_eq!(InvokeIdAndPriority::new(1, false, true).0, 0x81);
    }
}
