//! The 24-bit xDLMS conformance block (docs/protocol.md#the-conformance-block).
//!
//! Bit n in ASN.1 numbering is mask `1 << (23 - n)` of the big-endian 24-bit value, as u9n's
//! `conformance.py` has it; checked against `00 7E 1F` of the Green Book AARQ example.

use crate::codec::{DecodeError, ErrorKind, Reader};

bitflags::bitflags! {
    /// The conformance block: which services and options a peer supports.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Conformance: u32 {
        /// Bit 0: reserved-zero
        const RESERVED_ZERO = 0x80_0000;
        /// Bit 1: general-protection
        const GENERAL_PROTECTION = 0x40_0000;
        /// Bit 2: general-block-transfer
        const GENERAL_BLOCK_TRANSFER = 0x20_0000;
        /// Bit 3: read (SN)
        const READ = 0x10_0000;
        /// Bit 4: write (SN)
        const WRITE = 0x08_0000;
        /// Bit 5: unconfirmed-write (SN)
        const UNCONFIRMED_WRITE = 0x04_0000;
        /// Bit 6: delta-value-encoding
        const DELTA_VALUE_ENCODING = 0x02_0000;
        /// Bit 7: reserved-seven
        const RESERVED_SEVEN = 0x01_0000;
        /// Bit 8: attribute0-supported-with-set
        const ATTRIBUTE0_SUPPORTED_WITH_SET = 0x00_8000;
        /// Bit 9: priority-mgmt-supported
        const PRIORITY_MGMT_SUPPORTED = 0x00_4000;
        /// Bit 10: attribute0-supported-with-get
        const ATTRIBUTE0_SUPPORTED_WITH_GET = 0x00_2000;
        /// Bit 11: block-transfer-with-get-or-read
        const BLOCK_TRANSFER_WITH_GET = 0x00_1000;
        /// Bit 12: block-transfer-with-set-or-write
        const BLOCK_TRANSFER_WITH_SET = 0x00_0800;
        /// Bit 13: block-transfer-with-action
        const BLOCK_TRANSFER_WITH_ACTION = 0x00_0400;
        /// Bit 14: multiple-references
        const MULTIPLE_REFERENCES = 0x00_0200;
        /// Bit 15: information-report (SN)
        const INFORMATION_REPORT = 0x00_0100;
        /// Bit 16: data-notification
        const DATA_NOTIFICATION = 0x00_0080;
        /// Bit 17: access
        const ACCESS = 0x00_0040;
        /// Bit 18: parameterized-access (SN)
        const PARAMETERIZED_ACCESS = 0x00_0020;
        /// Bit 19: get
        const GET = 0x00_0010;
        /// Bit 20: set
        const SET = 0x00_0008;
        /// Bit 21: selective-access
        const SELECTIVE_ACCESS = 0x00_0004;
        /// Bit 22: event-notification
        const EVENT_NOTIFICATION = 0x00_0002;
        /// Bit 23: action
        const ACTION = 0x00_0001;
    }
}

impl Conformance {
    /// The BER encoding inside Initiate: `5F 1F 04 00 b0 b1 b2`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let v = self.bits().to_be_bytes();
        out.extend_from_slice(&[0x5F, 0x1F, 0x04, 0x00, v[1], v[2], v[3]]);
    }

    /// Reads `5F 1F 04 <unused-bits> b0 b1 b2`, keeping unknown bits.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let [t0, t1, len, _unused] = r.array()?;
        if t0 != 0x5F || t1 != 0x1F || len != 4 {
            return Err(r.error_at(ErrorKind::InvalidValue("conformance block"), at));
        }
        let [b0, b1, b2] = r.array()?;
        Ok(Conformance::from_bits_retain(u32::from_be_bytes([
            0, b0, b1, b2,
        ])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#the-conformance-block: 007E1F as proposed in the Green Book AARQ example (u9n test_aarq.py).
    #[test]
    fn green_book_proposed_conformance_names() {
        let c = Conformance::from_bits_retain(0x00_7E1F);
        let expected = Conformance::PRIORITY_MGMT_SUPPORTED
            | Conformance::ATTRIBUTE0_SUPPORTED_WITH_GET
            | Conformance::BLOCK_TRANSFER_WITH_GET
            | Conformance::BLOCK_TRANSFER_WITH_SET
            | Conformance::BLOCK_TRANSFER_WITH_ACTION
            | Conformance::MULTIPLE_REFERENCES
            | Conformance::GET
            | Conformance::SET
            | Conformance::SELECTIVE_ACCESS
            | Conformance::EVENT_NOTIFICATION
            | Conformance::ACTION;
        assert_eq!(c, expected);
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(out, [0x5F, 0x1F, 0x04, 0x00, 0x00, 0x7E, 0x1F]);
    }
}
