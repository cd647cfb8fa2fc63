//! OBIS codes, the logical names of COSEM objects (IEC 62056-6-1, clause 4).

use std::fmt;
use std::str::FromStr;

/// A COSEM logical name (OBIS code), six bytes A-B:C.D.E.F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObisCode(pub [u8; 6]);

impl ObisCode {
    /// Builds a logical name from its six groups.
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        ObisCode([a, b, c, d, e, f])
    }

    /// The same name with value group B replaced (the channel, or the firmware part).
    pub const fn with_b(self, b: u8) -> Self {
        let [a, _, c, d, e, f] = self.0;
        ObisCode([a, b, c, d, e, f])
    }
}

impl fmt::Display for ObisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}-{b}:{c}.{d}.{e}.{g}")
    }
}

/// Why a text is not an OBIS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObisParseError {
    /// Not six groups.
    #[error("`{0}` is not a logical name like 0-0:44.0.0.255")]
    Shape(String),
    /// A group that is not a number 0..255.
    #[error("`{group}` in `{text}` is not a number 0..255")]
    Group {
        /// The whole text.
        text: String,
        /// The group that failed.
        group: String,
    },
}

impl FromStr for ObisCode {
    type Err = ObisParseError;

    /// Parses "0-0:44.0.0.255" or "0.0.44.0.0.255".
    fn from_str(s: &str) -> Result<Self, ObisParseError> {
        let parts: Vec<&str> = s.split(['-', ':', '.']).collect();
        if parts.len() != 6 {
            return Err(ObisParseError::Shape(s.to_owned()));
        }
        let mut out = [0u8; 6];
        for (slot, part) in out.iter_mut().zip(&parts) {
            *slot = part.parse().map_err(|_| ObisParseError::Group {
                text: s.to_owned(),
                group: (*part).to_owned(),
            })?;
        }
        Ok(ObisCode(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obis_code_parses_both_notations() {
        let ln: ObisCode = "0-0:44.0.0.255".parse().unwrap();
        assert_eq!(ln, ObisCode::new(0, 0, 44, 0, 0, 255));
        assert_eq!("0.0.44.0.0.255".parse::<ObisCode>().unwrap(), ln);
        assert_eq!(ln.to_string(), "0-0:44.0.0.255");
        assert!("0-0:44.0.0".parse::<ObisCode>().is_err());
        assert!("0-0:44.0.0.256".parse::<ObisCode>().is_err());
    }

    #[test]
    fn with_b_replaces_the_part() {
        assert_eq!(
            ObisCode::new(1, 0, 0, 2, 0, 255).with_b(2).to_string(),
            "1-2:0.2.0.255"
        );
    }
}
