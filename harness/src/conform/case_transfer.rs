//! The image transfer a case has started: what the meter should hold, so that expectations such
//! as `bits = "sent"` can be checked.

use std::collections::BTreeSet;
use std::sync::Arc;

/// The transfer a case has started.
pub(crate) struct Transfer {
    /// The image's bytes.
    pub image: Arc<Vec<u8>>,
    /// The block size read from the meter.
    pub block_size: u32,
    /// The image's blocks.
    pub block_count: u32,
    /// The blocks the meter accepted.
    pub sent: BTreeSet<u32>,
}
