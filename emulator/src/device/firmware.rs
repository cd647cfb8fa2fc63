//! Firmware parts and their two slots: the running image stays until the new one is activated
//! and confirmed (MCS301: "nothing stored is discarded until the new image is confirmed").

use serde::{Deserialize, Serialize};

/// One firmware image as the meter keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// The version identifier (active firmware identifier 1-b:0.2.0.255).
    pub identifier: Vec<u8>,
    /// The signature (active firmware signature 1-b:0.2.8.255).
    pub signature: Vec<u8>,
}

/// A firmware part with its running image and the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwarePart {
    /// b in 1-b:0.2.0.255: 0 metrology, 1 application, 2 communication module.
    pub part: u8,
    /// The running image.
    pub active: Firmware,
    /// The image that ran before the last activation, kept for rollback.
    pub previous: Option<Firmware>,
}

/// The parts of an emulated meter, as installed at the factory.
pub fn factory_parts() -> Vec<FirmwarePart> {
    [(0, "MET-1.0.0"), (1, "APP-1.0.0"), (2, "COM-1.0.0")]
        .into_iter()
        .map(|(part, id)| FirmwarePart {
            part,
            active: Firmware {
                identifier: id.as_bytes().to_vec(),
                signature: Vec::new(),
            },
            previous: None,
        })
        .collect()
}
