//! One readable form of A-XDR values and APDUs, for people: logical names dotted and named,
//! octet-strings in hex with their printable ASCII beside, results and statuses by name,
//! structures indented. `meterfleet decode`, the conformance exchanges, the JSON `decoded`
//! fields and the logs all show this form; it plays the part Gurux's XML translator plays for
//! Gurux users, in plain text. Hex typed by people is read here too.

mod apdu;
mod capture;
mod data;
mod hex;

pub use self::hex::{parse_hex, parse_hex_array, HexError};
pub use apdu::apdu;
pub use capture::{capture, CaptureError};
pub use data::{data, octets};

/// Text built line by line, two spaces of indent per level.
struct Lines {
    text: String,
    depth: usize,
}

impl Lines {
    fn new() -> Self {
        Lines {
            text: String::new(),
            depth: 0,
        }
    }

    /// Appends one line at the current depth.
    fn line(&mut self, line: impl AsRef<str>) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        for _ in 0..self.depth {
            self.text.push_str("  ");
        }
        self.text.push_str(line.as_ref());
    }

    /// Runs `f` one level deeper.
    fn nested(&mut self, f: impl FnOnce(&mut Self)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }
}
