//! Where a meter makes a received block durable before it acknowledges it. The meter only
//! calls it; the runtime gives it a file in the meter's state directory, and a fleet's
//! in-memory meters have none (nothing of theirs outlives the process).

/// A block store the meter writes each accepted block to, synchronously, before it answers.
pub trait BlockJournal: Send + std::fmt::Debug {
    /// Makes block `number` of transfer `generation` durable. The meter acknowledges the
    /// block only when this succeeds; otherwise it answers hardware-fault and the block stays
    /// missing.
    fn append(&mut self, generation: u64, number: u32, bytes: &[u8]) -> Result<(), String>;
}
