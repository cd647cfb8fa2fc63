//! How group requests reach a meter: the pre-established client they come from, the broadcast
//! key set they are protected with, and whether the meter takes broadcast or multicast only.

/// The keys group transmissions are protected with: the broadcast key set of security suite
/// 0, from the head-end's system title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupKeys {
    /// The global broadcast encryption key.
    pub broadcast: [u8; 16],
    /// The authentication key.
    pub authentication: [u8; 16],
    /// The head-end's system title.
    pub system_title: [u8; 8],
}

impl Default for GroupKeys {
    /// The keys emulated meters hold by default: broadcast B0..BF, authentication D0..DF.
    fn default() -> Self {
        GroupKeys {
            broadcast: core::array::from_fn(|i| 0xB0 + i as u8),
            authentication: core::array::from_fn(|i| 0xD0 + i as u8),
            system_title: *b"MFHEADND",
        }
    }
}

/// What a targets file's `group` table says of a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupAccess {
    /// The client SAP group requests come from (the meter's pre-established group client).
    pub client: u16,
    /// The broadcast key set, if group requests must be protected.
    pub keys: Option<GroupKeys>,
    /// The meter takes multicast only, never broadcast (all-station addresses).
    pub multicast_only: bool,
}
