//! References to COSEM attributes and methods in case files: `class/A-B:C.D.E.F/index`, or a
//! name for the ones the catalogue uses most.

use dlms::cosem::image_transfer::{self as it, attribute as a, method as m, LOGICAL_NAME as IT};
use dlms::cosem::{
    active_firmware_identifier, active_firmware_signature, class, schedule, ObisCode,
    ACTIVATION_SCHEDULER, ASSOCIATION_LN, CLOCK, EVENT_LOG,
};

/// An attribute or method: class, logical name and index. `part_in_b` replaces the B field
/// with the target's firmware part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    /// Interface class.
    pub class_id: u16,
    /// Logical name.
    pub obis: ObisCode,
    /// Attribute or method index.
    pub index: i8,
    /// B is the target's firmware part.
    pub part_in_b: bool,
}

/// The names a case may use instead of `class/A-B:C.D.E.F/index`.
const NAMED: &[(&str, u16, ObisCode, i8, bool)] = &[
    ("logical_name", it::CLASS_ID, IT, a::LOGICAL_NAME, false),
    (
        "image_block_size",
        it::CLASS_ID,
        IT,
        a::IMAGE_BLOCK_SIZE,
        false,
    ),
    (
        "image_transferred_blocks_status",
        it::CLASS_ID,
        IT,
        a::TRANSFERRED_BLOCKS_STATUS,
        false,
    ),
    (
        "image_first_not_transferred_block_number",
        it::CLASS_ID,
        IT,
        a::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER,
        false,
    ),
    (
        "image_transfer_enabled",
        it::CLASS_ID,
        IT,
        a::IMAGE_TRANSFER_ENABLED,
        false,
    ),
    (
        "image_transfer_status",
        it::CLASS_ID,
        IT,
        a::IMAGE_TRANSFER_STATUS,
        false,
    ),
    (
        "image_to_activate_info",
        it::CLASS_ID,
        IT,
        a::IMAGE_TO_ACTIVATE_INFO,
        false,
    ),
    (
        "image_transfer_initiate",
        it::CLASS_ID,
        IT,
        m::IMAGE_TRANSFER_INITIATE,
        false,
    ),
    (
        "image_block_transfer",
        it::CLASS_ID,
        IT,
        m::IMAGE_BLOCK_TRANSFER,
        false,
    ),
    ("image_verify", it::CLASS_ID, IT, m::IMAGE_VERIFY, false),
    ("image_activate", it::CLASS_ID, IT, m::IMAGE_ACTIVATE, false),
    (
        "active_firmware_identifier",
        class::DATA,
        active_firmware_identifier(0),
        2,
        true,
    ),
    (
        "active_firmware_signature",
        class::DATA,
        active_firmware_signature(0),
        2,
        true,
    ),
    (
        "activation_scheduler_execution_time",
        class::SINGLE_ACTION_SCHEDULE,
        ACTIVATION_SCHEDULER,
        schedule::EXECUTION_TIME,
        false,
    ),
    (
        "event_log_buffer",
        class::PROFILE_GENERIC,
        EVENT_LOG,
        2,
        false,
    ),
    (
        "event_log_entries_in_use",
        class::PROFILE_GENERIC,
        EVENT_LOG,
        7,
        false,
    ),
    (
        "association_object_list",
        class::ASSOCIATION_LN,
        ASSOCIATION_LN,
        2,
        false,
    ),
    ("clock_time", class::CLOCK, CLOCK, 2, false),
];

impl ObjectRef {
    /// Parses a name from the table or `class/A-B:C.D.E.F/index`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(&(_, class_id, obis, index, part_in_b)) =
            NAMED.iter().find(|(name, ..)| *name == text)
        {
            return Ok(ObjectRef {
                class_id,
                obis,
                index,
                part_in_b,
            });
        }
        let bad = || {
            format!("`{text}` is neither a known name nor class/A-B:C.D.E.F/index (e.g. 18/0-0:44.0.0.255/2)")
        };
        let mut parts = text.split('/');
        let (Some(class), Some(obis), Some(index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(ObjectRef {
            class_id: class.parse().map_err(|_| bad())?,
            obis: parse_obis(obis).ok_or_else(bad)?,
            index: index.parse().map_err(|_| bad())?,
            part_in_b: false,
        })
    }

    /// The logical name for a target whose firmware part is `part`.
    pub fn instance(&self, part: u8) -> ObisCode {
        let mut obis = self.obis;
        if self.part_in_b {
            obis.0[1] = part;
        }
        obis
    }
}

fn parse_obis(text: &str) -> Option<ObisCode> {
    let (a, rest) = text.split_once('-')?;
    let (b, rest) = rest.split_once(':')?;
    let mut fields = [a, b].into_iter().chain(rest.split('.'));
    let mut out = [0u8; 6];
    for slot in out.iter_mut() {
        *slot = fields.next()?.parse().ok()?;
    }
    fields.next().is_none().then_some(ObisCode(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_references_parse() {
        let r = ObjectRef::parse("1/1-0:0.2.0.255/2").unwrap();
        assert_eq!((r.class_id, r.index), (1, 2));
        let fw = ObjectRef::parse("active_firmware_identifier").unwrap();
        assert_eq!(fw.instance(2), ObisCode::new(1, 2, 0, 2, 0, 255));
    }
}
