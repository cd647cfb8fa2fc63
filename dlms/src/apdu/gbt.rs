//! General-Block-Transfer (tag 0xE0).
//!
//! Layout per Gurux.DLMS.Net `GXDLMS.cs` GBT parsing (docs/protocol.md#xdlms-apdus); the meaning of the
//! block-control bits beyond last-block, streaming and window is UNCONFIRMED.

use crate::codec::{put_length_prefixed, Codec, DecodeError, Reader};
use std::borrow::Cow;

/// One General-Block-Transfer APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralBlockTransfer<'a> {
    /// Block control: bit 7 last block, bit 6 streaming, bits 0-5 window.
    pub block_control: u8,
    /// This block's number.
    pub block_number: u16,
    /// The number of the last block received from the peer.
    pub block_number_ack: u16,
    /// The block's data.
    pub block_data: Cow<'a, [u8]>,
}

impl GeneralBlockTransfer<'_> {
    /// True on the last block.
    pub fn last_block(&self) -> bool {
        self.block_control & 0x80 != 0
    }

    /// True when the sender streams without waiting for acknowledgements.
    pub fn streaming(&self) -> bool {
        self.block_control & 0x40 != 0
    }

    /// The window size the sender proposes.
    pub fn window(&self) -> u8 {
        self.block_control & 0x3F
    }
}

impl<'a> Codec<'a> for GeneralBlockTransfer<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[super::tag::GENERAL_BLOCK_TRANSFER, self.block_control]);
        out.extend_from_slice(&self.block_number.to_be_bytes());
        out.extend_from_slice(&self.block_number_ack.to_be_bytes());
        put_length_prefixed(out, &self.block_data);
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::GENERAL_BLOCK_TRANSFER)?;
        Ok(GeneralBlockTransfer {
            block_control: r.u8()?,
            block_number: r.u16()?,
            block_number_ack: r.u16()?,
            block_data: Cow::Borrowed(r.length_prefixed()?),
        })
    }
}
