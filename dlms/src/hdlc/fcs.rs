//! CRC-16/X.25, the HCS and FCS of HDLC frames (docs/protocol.md#hdlc): reflected polynomial
//! 0x8408, initial value 0xFFFF, final XOR 0xFFFF, sent least significant byte first.
//! Computed by the `crc` crate with 16 lookup tables (slice-by-16).

use crc::{Crc, Table, CRC_16_IBM_SDLC};

const X25: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_SDLC);

/// The CRC-16/X.25 of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    X25.checksum(bytes)
}

/// The checksum as it is sent: least significant byte first.
pub fn crc16_bytes(bytes: &[u8]) -> [u8; 2] {
    crc16(bytes).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#hdlc: the CRC-16/X.25 check value of "123456789" is 0x906E.
    #[test]
    fn check_value() {
        assert_eq!(crc16(b"123456789"), 0x906E);
    }

    /// docs/protocol.md#test-vectors V5: HCS over `03 3F` is the bytes `5B EC`.
    #[test]
    fn hcs_only_vector_v5() {
        assert_eq!(crc16_bytes(&[0x03, 0x3F]), [0x5B, 0xEC]);
    }
}
