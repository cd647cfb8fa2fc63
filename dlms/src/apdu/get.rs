//! GET-Request and GET-Response (docs/protocol.md#xdlms-apdus).

use super::common::{
    put_list, read_list, AttributeWithSelection, DataAccessResult, GetDataResult,
    InvokeIdAndPriority, ATTRIBUTE_WITH_SELECTION_MIN,
};
use crate::codec::{put_length_prefixed, Codec, DecodeError, ErrorKind, Reader};
use std::borrow::Cow;

/// GET-Request (tag 0xC0).
#[derive(Debug, Clone, PartialEq)]
pub enum GetRequest<'a> {
    /// GET-Request-Normal: one attribute.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attribute and its selective access.
        attribute: AttributeWithSelection<'a>,
    },
    /// GET-Request-Next: asks for the next block of a long reply.
    Next {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The number of the block last received.
        block_number: u32,
    },
    /// GET-Request-With-List: several attributes.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The attributes.
        attributes: Vec<AttributeWithSelection<'a>>,
    },
}

impl GetRequest<'_> {
    /// The invoke-id and priority.
    pub fn iip(&self) -> InvokeIdAndPriority {
        match self {
            GetRequest::Normal { iip, .. }
            | GetRequest::Next { iip, .. }
            | GetRequest::WithList { iip, .. } => *iip,
        }
    }
}

impl<'a> Codec<'a> for GetRequest<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::GET_REQUEST);
        match self {
            GetRequest::Normal { iip, attribute } => {
                out.extend_from_slice(&[1, iip.0]);
                attribute.encode(out);
            }
            GetRequest::Next { iip, block_number } => {
                out.extend_from_slice(&[2, iip.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            GetRequest::WithList { iip, attributes } => {
                out.extend_from_slice(&[3, iip.0]);
                put_list(out, attributes, |a, out| a.encode(out));
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::GET_REQUEST)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        Ok(match choice {
            1 => GetRequest::Normal {
                iip,
                attribute: AttributeWithSelection::read(r)?,
            },
            2 => GetRequest::Next {
                iip,
                block_number: r.u32()?,
            },
            3 => GetRequest::WithList {
                iip,
                attributes: read_list(
                    r,
                    ATTRIBUTE_WITH_SELECTION_MIN,
                    AttributeWithSelection::read,
                )?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}

/// DataBlock-G: one block of a long GET reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlockG<'a> {
    /// True on the last block.
    pub last_block: bool,
    /// Block number, from 1.
    pub block_number: u32,
    /// The block's raw bytes, or why there are none.
    pub result: Result<Cow<'a, [u8]>, DataAccessResult>,
}

impl<'a> Codec<'a> for DataBlockG<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.last_block));
        out.extend_from_slice(&self.block_number.to_be_bytes());
        match &self.result {
            Ok(raw) => {
                out.push(0);
                put_length_prefixed(out, raw);
            }
            Err(dar) => out.extend_from_slice(&[1, dar.0]),
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let last_block = r.bool()?;
        let block_number = r.u32()?;
        let at = r.offset();
        let result = match r.u8()? {
            0 => Ok(Cow::Borrowed(r.length_prefixed()?)),
            1 => Err(DataAccessResult(r.u8()?)),
            t => return Err(r.error_at(ErrorKind::UnknownTag(t), at)),
        };
        Ok(DataBlockG {
            last_block,
            block_number,
            result,
        })
    }
}

/// GET-Response (tag 0xC4).
#[derive(Debug, Clone, PartialEq)]
pub enum GetResponse<'a> {
    /// GET-Response-Normal.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The value or the error.
        result: GetDataResult<'a>,
    },
    /// GET-Response-With-Datablock: one block of a long reply.
    WithDatablock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block.
        block: DataBlockG<'a>,
    },
    /// GET-Response-With-List.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// One result per requested attribute.
        results: Vec<GetDataResult<'a>>,
    },
}

impl<'a> Codec<'a> for GetResponse<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::GET_RESPONSE);
        match self {
            GetResponse::Normal { iip, result } => {
                out.extend_from_slice(&[1, iip.0]);
                result.encode(out);
            }
            GetResponse::WithDatablock { iip, block } => {
                out.extend_from_slice(&[2, iip.0]);
                block.encode(out);
            }
            GetResponse::WithList { iip, results } => {
                out.extend_from_slice(&[3, iip.0]);
                put_list(out, results, |res, out| res.encode(out));
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::GET_RESPONSE)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        Ok(match choice {
            1 => GetResponse::Normal {
                iip,
                result: GetDataResult::read(r)?,
            },
            2 => GetResponse::WithDatablock {
                iip,
                block: DataBlockG::read(r)?,
            },
            3 => GetResponse::WithList {
                iip,
                results: read_list(r, 2, GetDataResult::read)?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}
