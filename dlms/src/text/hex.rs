//! Bytes written as hex by people: captures, keys, system titles.

/// Why a text is not hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not hex bytes: {reason}")]
pub struct HexError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses hex digits, with spaces, tabs, new lines and colons allowed between them
/// (`C0 01 C1`, `c001c1`, `C0:01:C1`).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(&digits).map_err(|e| HexError {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

/// Parses exactly `N` bytes of hex (a key, a system title).
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let bytes = parse_hex(text)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| HexError {
        text: text.to_owned(),
        reason: format!("{len} bytes where {N} are expected"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_allowed_between_digits() {
        assert_eq!(parse_hex("C0 01:c1\n").unwrap(), [0xC0, 0x01, 0xC1]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert!(parse_hex("C0 1").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn arrays_need_the_exact_length() {
        assert_eq!(parse_hex_array::<2>("0102").unwrap(), [1, 2]);
        let e = parse_hex_array::<3>("0102").unwrap_err();
        assert!(e.to_string().contains("2 bytes where 3"), "{e}");
    }
}
