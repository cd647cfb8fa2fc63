//! What a meter keeps for the current association only: the negotiated context, the cipher
//! state, and long transfers in progress (GET with datablocks, SET datablocks, ACTION pblocks).
//! None of it survives a reboot or a dropped connection.

use crate::profile::Rights;
use dlms::apdu::{AttributeWithSelection, InvokeIdAndPriority, MethodDescriptor};
use dlms::association::Association;

/// A long reply being handed out block by block (GET-Response-With-Datablock).
#[derive(Debug, Clone)]
pub struct OutgoingBlocks {
    /// The whole encoded reply data.
    pub data: Vec<u8>,
    /// Bytes a block carries.
    pub block_len: usize,
    /// The number of the last block sent (blocks count from 1).
    pub last_sent: u32,
    /// The invoke-id of the GET this answers.
    pub iip: InvokeIdAndPriority,
}

impl OutgoingBlocks {
    /// The bytes of block `number` (from 1) and whether it is the last.
    pub fn block(&self, number: u32) -> Option<(&[u8], bool)> {
        let start = (number as usize).checked_sub(1)? * self.block_len;
        if start >= self.data.len() && !(start == 0 && self.data.is_empty()) {
            return None;
        }
        let end = (start + self.block_len).min(self.data.len());
        Some((&self.data[start..end], end == self.data.len()))
    }
}

/// A long request being received block by block (SET datablocks or ACTION pblocks).
#[derive(Debug, Clone)]
pub struct IncomingBlocks {
    /// What the blocks are for.
    pub target: IncomingTarget,
    /// The bytes received so far.
    pub data: Vec<u8>,
    /// The number of the last block received.
    pub last_received: u32,
}

/// The request a series of incoming blocks completes.
#[derive(Debug, Clone)]
pub enum IncomingTarget {
    /// SET-Request-With-First-Datablock on this attribute.
    Set(AttributeWithSelection<'static>),
    /// ACTION-Request-With-First-Pblock on this method.
    Action(MethodDescriptor),
}

/// The current association of a meter with one client.
#[derive(Debug)]
pub struct Session {
    /// The client SAP.
    pub client_sap: u16,
    /// What the client may do.
    pub rights: Rights,
    /// The association (negotiated context, authentication, ciphering).
    pub association: Association,
    /// The application context name.
    pub context: u8,
    /// The authentication mechanism.
    pub mechanism: u8,
    /// A long reply in progress.
    pub outgoing: Option<OutgoingBlocks>,
    /// A long request in progress.
    pub incoming: Option<IncomingBlocks>,
    /// The invoke-ids (bit n for id n) of the confirmed requests answered since the edge last
    /// delivered this connection's replies: requests the client has no answer to yet.
    pub unanswered: u16,
}

/// The largest long request a meter assembles from blocks.
pub const MAX_INCOMING: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_data_exactly() {
        let out = OutgoingBlocks {
            data: (0..25u8).collect(),
            block_len: 10,
            last_sent: 0,
            iip: InvokeIdAndPriority(0xC1),
        };
        assert_eq!(
            out.block(1).unwrap(),
            (&(0..10u8).collect::<Vec<_>>()[..], false)
        );
        assert_eq!(
            out.block(3).unwrap(),
            (&(20..25u8).collect::<Vec<_>>()[..], true)
        );
        assert_eq!(out.block(4), None);
        assert_eq!(out.block(0), None);
    }
}
