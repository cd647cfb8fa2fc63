//! The A-XDR bit-string, with block 0 in the most significant bit of the first byte.
//!
//! Bit order per docs/protocol.md#the-bit-string-of-attribute-3: block k is in byte k/8 at mask `1 << (7 - k%8)`
//! (Gurux.DLMS.Net `GXCommon.SetBitString`, GuruxDLMS.c `bitarray.c`).

use std::borrow::Cow;

/// A bit-string: a bit count and the bytes holding the bits, first bit leftmost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BitString<'a> {
    len: usize,
    bytes: Cow<'a, [u8]>,
}

impl<'a> BitString<'a> {
    /// A bit-string of `len` bits, all zero.
    pub fn zeros(len: usize) -> BitString<'static> {
        BitString {
            len,
            bytes: Cow::Owned(vec![0; len.div_ceil(8)]),
        }
    }

    /// A bit-string over existing bytes; `None` unless `bytes` holds exactly `ceil(len/8)` bytes.
    pub fn from_bytes(len: usize, bytes: impl Into<Cow<'a, [u8]>>) -> Option<Self> {
        let bytes = bytes.into();
        (bytes.len() == len.div_ceil(8)).then_some(BitString { len, bytes })
    }

    /// A bit-string from booleans, first element leftmost.
    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> BitString<'static> {
        let mut bytes = Vec::new();
        let mut len = 0;
        for bit in bits {
            if len % 8 == 0 {
                bytes.push(0);
            }
            if bit {
                *bytes.last_mut().expect("pushed above") |= 0x80 >> (len % 8);
            }
            len += 1;
        }
        BitString {
            len,
            bytes: Cow::Owned(bytes),
        }
    }

    /// The number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the bit-string has no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes holding the bits (unused trailing bits included).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bit `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<bool> {
        (index < self.len).then(|| self.bytes[index / 8] & (0x80 >> (index % 8)) != 0)
    }

    /// Sets bit `index` (no effect past the end).
    pub fn set(&mut self, index: usize, value: bool) {
        if index < self.len {
            let byte = &mut self.bytes.to_mut()[index / 8];
            let mask = 0x80 >> (index % 8);
            if value {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }

    /// Every bit in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.get(i).unwrap_or(false))
    }

    /// The number of bits set.
    pub fn count_ones(&self) -> usize {
        self.iter().filter(|b| *b).count()
    }

    /// The index of the first zero bit, if any.
    pub fn first_zero(&self) -> Option<usize> {
        self.iter().position(|b| !b)
    }

    /// Copies borrowed bytes so the bit-string outlives its input.
    pub fn into_owned(self) -> BitString<'static> {
        BitString {
            len: self.len,
            bytes: Cow::Owned(self.bytes.into_owned()),
        }
    }
}

impl std::fmt::Display for BitString<'_> {
    /// Shows the bits as Gurux does, "1" and "0" with the first bit leftmost.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for bit in self.iter() {
            f.write_str(if bit { "1" } else { "0" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_zero_is_the_most_significant_bit() {
        let bits = BitString::from_bools([true, true, true, false, false, false]);
        assert_eq!(bits.as_bytes(), &[0xE0]);
        assert_eq!(bits.to_string(), "111000");
        assert_eq!(bits.first_zero(), Some(3));
    }

    #[test]
    fn set_and_get_agree_across_byte_boundaries() {
        let mut bits = BitString::zeros(10);
        bits.set(0, true);
        bits.set(9, true);
        assert_eq!(bits.as_bytes(), &[0x80, 0x40]);
        assert_eq!(bits.get(9), Some(true));
        assert_eq!(bits.get(10), None);
        assert_eq!(bits.count_ones(), 2);
    }
}
