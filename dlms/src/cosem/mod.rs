//! The COSEM vocabulary both ends of the wire share: OBIS codes, interface class ids, the
//! logical names of the objects a firmware upgrade touches, and the attributes, methods, status
//! values and parameters of image transfer (IEC 62056-6-2, the DLMS UA Blue Book).
//!
//! The emulator and the harness name these things only through this module.

pub mod image_transfer;
mod obis;
pub mod schedule;

pub use obis::{ObisCode, ObisParseError};

/// Interface class ids (IEC 62056-6-2 clause 4; Blue Book 4.1).
pub mod class {
    /// Data (IC 1).
    pub const DATA: u16 = 1;
    /// Profile generic (IC 7).
    pub const PROFILE_GENERIC: u16 = 7;
    /// Clock (IC 8).
    pub const CLOCK: u16 = 8;
    /// Script table (IC 9).
    pub const SCRIPT_TABLE: u16 = 9;
    /// Association LN (IC 15).
    pub const ASSOCIATION_LN: u16 = 15;
    /// Image transfer (IC 18).
    pub const IMAGE_TRANSFER: u16 = 18;
    /// Single action schedule (IC 22).
    pub const SINGLE_ACTION_SCHEDULE: u16 = 22;
}

/// The current Association LN, 0-0:40.0.0.255.
pub const ASSOCIATION_LN: ObisCode = ObisCode::new(0, 0, 40, 0, 0, 255);
/// The clock, 0-0:1.0.0.255.
pub const CLOCK: ObisCode = ObisCode::new(0, 0, 1, 0, 0, 255);
/// The image activation scheduler (IC 22), 0-0:15.0.2.255.
pub const ACTIVATION_SCHEDULER: ObisCode = ObisCode::new(0, 0, 15, 0, 2, 255);
/// The image activation script table (IC 9), 0-0:10.0.107.255.
pub const ACTIVATION_SCRIPT: ObisCode = ObisCode::new(0, 0, 10, 0, 107, 255);
/// The standard event log (IC 7), 0-0:99.98.0.255.
pub const EVENT_LOG: ObisCode = ObisCode::new(0, 0, 99, 98, 0, 255);
/// The code of the last standard event (IC 1), 0-0:96.11.0.255.
pub const LAST_EVENT_CODE: ObisCode = ObisCode::new(0, 0, 96, 11, 0, 255);
/// The error register (IC 1, double-long-unsigned), 0-0:97.97.0.255: each bit an error the
/// meter reports (0 in a meter in its normal state; the bits' meanings are the companion
/// specification's, IDIS and DSMR among them).
pub const ERROR_REGISTER: ObisCode = ObisCode::new(0, 0, 97, 97, 0, 255);
/// The last broadcast invocation counter a meter accepted (IC 1, double-long-unsigned; 0
/// before any), 0-0:128.43.1.255: meterfleet's own object, in the manufacturer-specific range
/// of value group C. The Blue Book's invocation counter objects (0-0:43.1.e.255) count per
/// security setup, and no public text names the one that holds the broadcast counter.
pub const BROADCAST_INVOCATION_COUNTER: ObisCode = ObisCode::new(0, 0, 128, 43, 1, 255);

/// The active firmware identifier of firmware part `part` (IC 1), 1-b:0.2.0.255.
pub const fn active_firmware_identifier(part: u8) -> ObisCode {
    ObisCode::new(1, part, 0, 2, 0, 255)
}

/// The active firmware signature of firmware part `part` (IC 1), 1-b:0.2.8.255.
pub const fn active_firmware_signature(part: u8) -> ObisCode {
    ObisCode::new(1, part, 0, 2, 8, 255)
}

/// The firmware part of an active firmware identifier or signature name, if `ln` is one.
pub fn firmware_part_of(ln: &ObisCode) -> Option<u8> {
    let [a, b, c, d, e, f] = ln.0;
    (a == 1 && c == 0 && d == 2 && (e == 0 || e == 8) && f == 255).then_some(b)
}

/// The name of a well-known object, for reports and decoded exchanges.
pub fn object_name(ln: &ObisCode) -> Option<&'static str> {
    Some(match *ln {
        image_transfer::LOGICAL_NAME => "image transfer",
        ASSOCIATION_LN => "current association",
        CLOCK => "clock",
        ACTIVATION_SCHEDULER => "image activation scheduler",
        ACTIVATION_SCRIPT => "image activation script table",
        EVENT_LOG => "standard event log",
        LAST_EVENT_CODE => "last event code",
        BROADCAST_INVOCATION_COUNTER => "broadcast invocation counter",
        ObisCode([1, _, 0, 2, 0, 255]) => "active firmware identifier",
        ObisCode([1, _, 0, 2, 8, 255]) => "active firmware signature",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_objects_carry_the_part_in_b() {
        assert_eq!(active_firmware_identifier(2).to_string(), "1-2:0.2.0.255");
        assert_eq!(active_firmware_signature(0).to_string(), "1-0:0.2.8.255");
        assert_eq!(firmware_part_of(&active_firmware_identifier(3)), Some(3));
        assert_eq!(firmware_part_of(&CLOCK), None);
    }

    #[test]
    fn well_known_objects_have_names() {
        assert_eq!(
            object_name(&image_transfer::LOGICAL_NAME),
            Some("image transfer")
        );
        assert_eq!(
            object_name(&active_firmware_identifier(1)),
            Some("active firmware identifier")
        );
        assert_eq!(object_name(&ObisCode::new(1, 0, 1, 8, 0, 255)), None);
    }
}
