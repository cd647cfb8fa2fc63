//! SET-Request and SET-Response (docs/protocol.md#xdlms-apdus).

use super::common::{
    put_list, read_list, AttributeWithSelection, DataAccessResult, DataBlockSa,
    InvokeIdAndPriority, ATTRIBUTE_WITH_SELECTION_MIN,
};
use crate::axdr::EncodedData;
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// SET-Request (tag 0xC1).
#[derive(Debug, Clone, PartialEq)]
pub enum SetRequest<'a> {
    /// SET-Request-Normal: one attribute, one value.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attribute.
        attribute: AttributeWithSelection<'a>,
        /// The value to write.
        value: EncodedData<'a>,
    },
    /// SET-Request-With-First-Datablock: the first block of a long value.
    WithFirstDatablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attribute.
        attribute: AttributeWithSelection<'a>,
        /// The first block.
        block: DataBlockSa<'a>,
    },
    /// SET-Request-With-Datablock: a further block.
    WithDatablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block.
        block: DataBlockSa<'a>,
    },
    /// SET-Request-With-List: several attributes and values.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attributes.
        attributes: Vec<AttributeWithSelection<'a>>,
        /// One value per attribute.
        values: Vec<EncodedData<'a>>,
    },
    /// SET-Request-With-List-And-First-Datablock.
    WithListAndFirstDatablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attributes.
        attributes: Vec<AttributeWithSelection<'a>>,
        /// The first block of the encoded values.
        block: DataBlockSa<'a>,
    },
}

impl SetRequest<'_> {
    /// The invoke-id and priority.
    pub fn iip(&self) -> InvokeIdAndPriority {
        match self {
            SetRequest::Normal { iip, .. }
            | SetRequest::WithFirstDatablock { iip, .. }
            | SetRequest::WithDatablock { iip, .. }
            | SetRequest::WithList { iip, .. }
            | SetRequest::WithListAndFirstDatablock { iip, .. } => *iip,
        }
    }
}

impl<'a> Codec<'a> for SetRequest<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::SET_REQUEST);
        match self {
            SetRequest::Normal {
                iip,
                attribute,
                value,
            } => {
                out.extend_from_slice(&[1, iip.0]);
                attribute.encode(out);
                value.encode(out);
            }
            SetRequest::WithFirstDatablock {
                iip,
                attribute,
                block,
            } => {
                out.extend_from_slice(&[2, iip.0]);
                attribute.encode(out);
                block.encode(out);
            }
            SetRequest::WithDatablock { iip, block } => {
                out.extend_from_slice(&[3, iip.0]);
                block.encode(out);
            }
            SetRequest::WithList {
                iip,
                attributes,
                values,
            } => {
                out.extend_from_slice(&[4, iip.0]);
                put_list(out, attributes, |a, out| a.encode(out));
                put_list(out, values, |v, out| v.encode(out));
            }
            SetRequest::WithListAndFirstDatablock {
                iip,
                attributes,
                block,
            } => {
                out.extend_from_slice(&[5, iip.0]);
                put_list(out, attributes, |a, out| a.encode(out));
                block.encode(out);
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::SET_REQUEST)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        let attrs = |r: &mut Reader<'a>| {
            read_list(
                r,
                ATTRIBUTE_WITH_SELECTION_MIN,
                AttributeWithSelection::read,
            )
        };
        Ok(match choice {
            1 => SetRequest::Normal {
                iip,
                attribute: AttributeWithSelection::read(r)?,
                value: EncodedData::read(r)?,
            },
            2 => SetRequest::WithFirstDatablock {
                iip,
                attribute: AttributeWithSelection::read(r)?,
                block: DataBlockSa::read(r)?,
            },
            3 => SetRequest::WithDatablock {
                iip,
                block: DataBlockSa::read(r)?,
            },
            4 => SetRequest::WithList {
                iip,
                attributes: attrs(r)?,
                values: read_list(r, 1, EncodedData::read)?,
            },
            5 => SetRequest::WithListAndFirstDatablock {
                iip,
                attributes: attrs(r)?,
                block: DataBlockSa::read(r)?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}

/// SET-Response (tag 0xC5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetResponse {
    /// SET-Response-Normal.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The outcome.
        result: DataAccessResult,
    },
    /// SET-Response-Datablock: a block was received, send the next.
    Datablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block received.
        block_number: u32,
    },
    /// SET-Response-Last-Datablock (field order result, block-number: UNCONFIRMED, docs/protocol.md#open-questions).
    LastDatablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The outcome of the whole SET.
        result: DataAccessResult,
        /// The last block received.
        block_number: u32,
    },
    /// SET-Response-Last-Datablock-With-List.
    LastDatablockWithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// One outcome per attribute.
        results: Vec<DataAccessResult>,
        /// The last block received.
        block_number: u32,
    },
    /// SET-Response-With-List.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// One outcome per attribute.
        results: Vec<DataAccessResult>,
    },
}

fn read_results(r: &mut Reader<'_>) -> Result<Vec<DataAccessResult>, DecodeError> {
    read_list(r, 1, |r| Ok(DataAccessResult(r.u8()?)))
}

fn put_results(out: &mut Vec<u8>, results: &[DataAccessResult]) {
    put_list(out, results, |res, out| out.push(res.0));
}

impl Codec<'_> for SetResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::SET_RESPONSE);
        match self {
            SetResponse::Normal { iip, result } => out.extend_from_slice(&[1, iip.0, result.0]),
            SetResponse::Datablock { iip, block_number } => {
                out.extend_from_slice(&[2, iip.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::LastDatablock {
                iip,
                result,
                block_number,
            } => {
                out.extend_from_slice(&[3, iip.0, result.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::LastDatablockWithList {
                iip,
                results,
                block_number,
            } => {
                out.extend_from_slice(&[4, iip.0]);
                put_results(out, results);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::WithList { iip, results } => {
                out.extend_from_slice(&[5, iip.0]);
                put_results(out, results);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::SET_RESPONSE)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        Ok(match choice {
            1 => SetResponse::Normal {
                iip,
                result: DataAccessResult(r.u8()?),
            },
            2 => SetResponse::Datablock {
                iip,
                block_number: r.u32()?,
            },
            3 => SetResponse::LastDatablock {
                iip,
                result: DataAccessResult(r.u8()?),
                block_number: r.u32()?,
            },
            4 => SetResponse::LastDatablockWithList {
                iip,
                results: read_results(r)?,
                block_number: r.u32()?,
            },
            5 => SetResponse::WithList {
                iip,
                results: read_results(r)?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}
