//! References to COSEM attributes and methods in case files: `class/A-B:C.D.E.F/index`, or a
//! name for the ones the catalogue uses most.

use dlms::apdu::ObisCode;

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

const IT: ObisCode = ObisCode::new(0, 0, 44, 0, 0, 255);

/// The names a case may use instead of `class/A-B:C.D.E.F/index`.
const NAMED: &[(&str, u16, ObisCode, i8, bool)] = &[
    ("logical_name", 18, IT, 1, false),
    ("image_block_size", 18, IT, 2, false),
    ("image_transferred_blocks_status", 18, IT, 3, false),
    ("image_first_not_transferred_block_number", 18, IT, 4, false),
    ("image_transfer_enabled", 18, IT, 5, false),
    ("image_transfer_status", 18, IT, 6, false),
    ("image_to_activate_info", 18, IT, 7, false),
    ("image_transfer_initiate", 18, IT, 1, false),
    ("image_block_transfer", 18, IT, 2, false),
    ("image_verify", 18, IT, 3, false),
    ("image_activate", 18, IT, 4, false),
    (
        "active_firmware_identifier",
        1,
        ObisCode::new(1, 0, 0, 2, 0, 255),
        2,
        true,
    ),
    (
        "active_firmware_signature",
        1,
        ObisCode::new(1, 0, 0, 2, 8, 255),
        2,
        true,
    ),
    (
        "activation_scheduler_execution_time",
        22,
        ObisCode::new(0, 0, 15, 0, 2, 255),
        4,
        false,
    ),
    (
        "event_log_buffer",
        7,
        ObisCode::new(0, 0, 99, 98, 0, 255),
        2,
        false,
    ),
    (
        "event_log_entries_in_use",
        7,
        ObisCode::new(0, 0, 99, 98, 0, 255),
        7,
        false,
    ),
    (
        "association_object_list",
        15,
        ObisCode::new(0, 0, 40, 0, 0, 255),
        2,
        false,
    ),
    ("clock_time", 8, ObisCode::new(0, 0, 1, 0, 0, 255), 2, false),
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
