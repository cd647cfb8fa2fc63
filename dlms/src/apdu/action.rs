//! ACTION-Request and ACTION-Response (docs/protocol.md#ic-18-methods, #xdlms-apdus).

use super::common::{
    put_list, read_list, ActionResult, DataBlockSa, GetDataResult, InvokeIdAndPriority,
    MethodDescriptor, METHOD_DESCRIPTOR_LEN,
};
use crate::axdr::EncodedData;
use crate::codec::{Codec, DecodeError, ErrorKind, Reader};

/// ACTION-Request (tag 0xC3).
#[derive(Debug, Clone, PartialEq)]
pub enum ActionRequest<'a> {
    /// ACTION-Request-Normal: one method with optional parameters.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The method.
        method: MethodDescriptor,
        /// The method-invocation-parameters, if any.
        parameters: Option<EncodedData<'a>>,
    },
    /// ACTION-Request-Next-Pblock: asks for the next block of a long reply.
    NextPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The number of the block last received.
        block_number: u32,
    },
    /// ACTION-Request-With-List.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The methods.
        methods: Vec<MethodDescriptor>,
        /// One parameter per method.
        parameters: Vec<EncodedData<'a>>,
    },
    /// ACTION-Request-With-First-Pblock: the first block of long parameters.
    WithFirstPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The method.
        method: MethodDescriptor,
        /// The first block of the encoded parameters.
        block: DataBlockSa<'a>,
    },
    /// ACTION-Request-With-List-And-First-Pblock.
    WithListAndFirstPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The methods.
        methods: Vec<MethodDescriptor>,
        /// The first block of the encoded parameters.
        block: DataBlockSa<'a>,
    },
    /// ACTION-Request-With-Pblock: a further block of parameters.
    WithPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block.
        block: DataBlockSa<'a>,
    },
}

impl ActionRequest<'_> {
    /// The invoke-id and priority.
    pub fn iip(&self) -> InvokeIdAndPriority {
        match self {
            ActionRequest::Normal { iip, .. }
            | ActionRequest::NextPblock { iip, .. }
            | ActionRequest::WithList { iip, .. }
            | ActionRequest::WithFirstPblock { iip, .. }
            | ActionRequest::WithListAndFirstPblock { iip, .. }
            | ActionRequest::WithPblock { iip, .. } => *iip,
        }
    }
}

fn read_methods(r: &mut Reader<'_>) -> Result<Vec<MethodDescriptor>, DecodeError> {
    read_list(r, METHOD_DESCRIPTOR_LEN, MethodDescriptor::read)
}

impl<'a> Codec<'a> for ActionRequest<'a> {
    /// Exact for ACTION-Request-Normal (tag, choice, invoke-id, the 9-byte method descriptor,
    /// the parameters' flag and encoding), the block's length for the others.
    fn size_hint(&self) -> usize {
        match self {
            ActionRequest::Normal { parameters, .. } => {
                13 + parameters.as_ref().map_or(0, |p| p.as_bytes().len())
            }
            ActionRequest::WithFirstPblock { block, .. }
            | ActionRequest::WithListAndFirstPblock { block, .. }
            | ActionRequest::WithPblock { block, .. } => 32 + block.raw_data.len(),
            _ => 0,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::ACTION_REQUEST);
        match self {
            ActionRequest::Normal {
                iip,
                method,
                parameters,
            } => {
                out.extend_from_slice(&[1, iip.0]);
                method.encode(out);
                match parameters {
                    None => out.push(0),
                    Some(p) => {
                        out.push(1);
                        p.encode(out);
                    }
                }
            }
            ActionRequest::NextPblock { iip, block_number } => {
                out.extend_from_slice(&[2, iip.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            ActionRequest::WithList {
                iip,
                methods,
                parameters,
            } => {
                out.extend_from_slice(&[3, iip.0]);
                put_list(out, methods, |m, out| m.encode(out));
                put_list(out, parameters, |p, out| p.encode(out));
            }
            ActionRequest::WithFirstPblock { iip, method, block } => {
                out.extend_from_slice(&[4, iip.0]);
                method.encode(out);
                block.encode(out);
            }
            ActionRequest::WithListAndFirstPblock {
                iip,
                methods,
                block,
            } => {
                out.extend_from_slice(&[5, iip.0]);
                put_list(out, methods, |m, out| m.encode(out));
                block.encode(out);
            }
            ActionRequest::WithPblock { iip, block } => {
                out.extend_from_slice(&[6, iip.0]);
                block.encode(out);
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::ACTION_REQUEST)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        Ok(match choice {
            1 => ActionRequest::Normal {
                iip,
                method: MethodDescriptor::read(r)?,
                parameters: if r.optional()? {
                    Some(EncodedData::read(r)?)
                } else {
                    None
                },
            },
            2 => ActionRequest::NextPblock {
                iip,
                block_number: r.u32()?,
            },
            3 => ActionRequest::WithList {
                iip,
                methods: read_methods(r)?,
                parameters: read_list(r, 1, EncodedData::read)?,
            },
            4 => ActionRequest::WithFirstPblock {
                iip,
                method: MethodDescriptor::read(r)?,
                block: DataBlockSa::read(r)?,
            },
            5 => ActionRequest::WithListAndFirstPblock {
                iip,
                methods: read_methods(r)?,
                block: DataBlockSa::read(r)?,
            },
            6 => ActionRequest::WithPblock {
                iip,
                block: DataBlockSa::read(r)?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}

/// Action-Response-With-Optional-Data: the result and optional return parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome<'a> {
    /// The result.
    pub result: ActionResult,
    /// The return parameters, if any.
    pub return_parameters: Option<GetDataResult<'a>>,
}

impl ActionOutcome<'_> {
    /// A bare result with no return parameters.
    pub fn bare(result: ActionResult) -> Self {
        ActionOutcome {
            result,
            return_parameters: None,
        }
    }
}

impl<'a> Codec<'a> for ActionOutcome<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.result.0);
        match &self.return_parameters {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                p.encode(out);
            }
        }
    }

    /// Reads the outcome. A missing return-parameters flag at the very end of the APDU is
    /// read as "absent": Gurux's server (gurux-dlms 1.0.203) sends `C7 01 iip result` on its
    /// error path.
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let result = super::common::DataAccessResult(r.u8()?);
        let return_parameters = if r.is_empty() {
            None
        } else if r.optional()? {
            Some(GetDataResult::read(r)?)
        } else {
            None
        };
        Ok(ActionOutcome {
            result,
            return_parameters,
        })
    }
}

/// ACTION-Response (tag 0xC7).
#[derive(Debug, Clone, PartialEq)]
pub enum ActionResponse<'a> {
    /// ACTION-Response-Normal.
    Normal {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The outcome.
        outcome: ActionOutcome<'a>,
    },
    /// ACTION-Response-With-Pblock: one block of long return parameters.
    WithPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block.
        block: DataBlockSa<'a>,
    },
    /// ACTION-Response-With-List.
    WithList {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// One outcome per method.
        outcomes: Vec<ActionOutcome<'a>>,
    },
    /// ACTION-Response-Next-Pblock: a parameter block was received, send the next.
    NextPblock {
        /// Invoke-id and priority.
        iip: InvokeIdAndPriority,
        /// The block received.
        block_number: u32,
    },
}

impl<'a> Codec<'a> for ActionResponse<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::ACTION_RESPONSE);
        match self {
            ActionResponse::Normal { iip, outcome } => {
                out.extend_from_slice(&[1, iip.0]);
                outcome.encode(out);
            }
            ActionResponse::WithPblock { iip, block } => {
                out.extend_from_slice(&[2, iip.0]);
                block.encode(out);
            }
            ActionResponse::WithList { iip, outcomes } => {
                out.extend_from_slice(&[3, iip.0]);
                put_list(out, outcomes, |o, out| o.encode(out));
            }
            ActionResponse::NextPblock { iip, block_number } => {
                out.extend_from_slice(&[4, iip.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::ACTION_RESPONSE)?;
        let choice_at = r.offset();
        let choice = r.u8()?;
        let iip = InvokeIdAndPriority(r.u8()?);
        Ok(match choice {
            1 => ActionResponse::Normal {
                iip,
                outcome: ActionOutcome::read(r)?,
            },
            2 => ActionResponse::WithPblock {
                iip,
                block: DataBlockSa::read(r)?,
            },
            3 => ActionResponse::WithList {
                iip,
                outcomes: read_list(r, 2, ActionOutcome::read)?,
            },
            4 => ActionResponse::NextPblock {
                iip,
                block_number: r.u32()?,
            },
            c => return Err(r.error_at(ErrorKind::UnknownTag(c), choice_at)),
        })
    }
}
