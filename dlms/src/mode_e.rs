//! The opening of a local port (the optical probe, or a current loop) into protocol mode E, as
//! IEC 62056-21:2002 clause 6 gives it: the client signs on at 300 Bd, 7 data bits, even parity,
//! one stop bit (7E1) with a request message (`/?!` CR LF, or `/?ADDRESS!` CR LF); the meter
//! answers with its identification message (`/XXXZ\2IDENT` CR LF: manufacturer, baud-rate
//! character, the enhanced identification `\2` saying binary mode (HDLC) is available, and its
//! identification); the client sends the acknowledgement/option select message (ACK, protocol
//! control `2` = HDLC procedure, the baud-rate character, mode control `2` = binary, CR LF); both
//! switch to that rate at 8 data bits, no parity (8N1) and HDLC (IEC 62056-46) begins.
//!
//! Codecs only: the messages, their parsing from untrusted bytes (bounded, typed errors), the
//! baud-rate characters and the timing the standard gives. Whoever owns the port switches its
//! settings.

use std::time::Duration;

/// The acknowledgement character opening the option select message.
pub const ACK: u8 = 0x06;
/// The negative acknowledgement (a meter's answer to an option it does not take).
pub const NAK: u8 = 0x15;
/// The rate every sign-on starts at.
pub const SIGN_ON_BAUD: u32 = 300;
/// The longest message taken in (a 32-character device address or a 16-character
/// identification with its framing fit well below it); longer input is refused.
pub const MAX_MESSAGE: usize = 64;
/// The longest device address in a request message (IEC 62056-21, 6.3.1).
pub const MAX_ADDRESS: usize = 32;
/// The longest identification in an identification message (IEC 62056-21, 6.3.2).
pub const MAX_IDENTIFICATION: usize = 16;

/// The meter's reaction time before it answers a request: at least 200 ms (20 ms when the
/// third manufacturer letter is lower case), at most 1500 ms (the reaction and monitoring
/// times of IEC 62056-21:2002, clause 6.3).
pub const REACTION_MIN: Duration = Duration::from_millis(200);
/// See [`REACTION_MIN`].
pub const REACTION_MAX: Duration = Duration::from_millis(1500);
/// The longest pause between two characters of one message (IEC 62056-21:2002, clause 6.3).
pub const INTER_CHARACTER_MAX: Duration = Duration::from_millis(1500);

/// The protocol control character of an option select message that asks for the HDLC
/// procedure (protocol mode E).
pub const PROTOCOL_HDLC: u8 = b'2';
/// The mode control character asking for binary mode (HDLC).
pub const MODE_BINARY: u8 = b'2';

/// A serial line's character format and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    /// Bits per second.
    pub baud: u32,
    /// Data bits: 7 for the sign-on, 8 for HDLC.
    pub data_bits: u8,
    /// Even parity (the sign-on) or none (HDLC).
    pub even_parity: bool,
}

impl LineSettings {
    /// The sign-on's: 300 Bd, 7E1.
    pub const SIGN_ON: LineSettings = LineSettings {
        baud: SIGN_ON_BAUD,
        data_bits: 7,
        even_parity: true,
    };

    /// HDLC's at `baud`: 8N1 (IEC 62056-46 over a serial line, and mode E after the switch).
    pub const fn hdlc(baud: u32) -> Self {
        LineSettings {
            baud,
            data_bits: 8,
            even_parity: false,
        }
    }
}

/// How long `bytes` characters take on the line at `baud` (start, data, parity and stop bits:
/// ten bits a character at 7E1 and at 8N1).
pub fn transmission_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_micros(bytes as u64 * 10 * 1_000_000 / u64::from(baud.max(1)))
}

/// A rate a meter may propose in mode C/E (the baud-rate character of IEC 62056-21, 6.3.2
/// item 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BaudRate {
    /// `0`: 300 Bd.
    B300,
    /// `1`: 600 Bd.
    B600,
    /// `2`: 1200 Bd.
    B1200,
    /// `3`: 2400 Bd.
    B2400,
    /// `4`: 4800 Bd.
    B4800,
    /// `5`: 9600 Bd.
    B9600,
    /// `6`: 19200 Bd.
    B19200,
}

const RATES: [(BaudRate, u8, u32); 7] = [
    (BaudRate::B300, b'0', 300),
    (BaudRate::B600, b'1', 600),
    (BaudRate::B1200, b'2', 1200),
    (BaudRate::B2400, b'3', 2400),
    (BaudRate::B4800, b'4', 4800),
    (BaudRate::B9600, b'5', 9600),
    (BaudRate::B19200, b'6', 19200),
];

impl BaudRate {
    /// The rate a baud-rate character names.
    pub fn from_char(c: u8) -> Option<Self> {
        RATES.iter().find(|r| r.1 == c).map(|r| r.0)
    }

    /// The rate in bits per second, if it is one of mode E's.
    pub fn from_bits_per_second(bps: u32) -> Option<Self> {
        RATES.iter().find(|r| r.2 == bps).map(|r| r.0)
    }

    /// Its character.
    pub fn char(self) -> u8 {
        RATES.iter().find(|r| r.0 == self).map_or(b'0', |r| r.1)
    }

    /// Bits per second.
    pub fn bits_per_second(self) -> u32 {
        RATES.iter().find(|r| r.0 == self).map_or(300, |r| r.2)
    }
}

/// Why bytes are not the message expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeEError {
    /// No CR LF within [`MAX_MESSAGE`] bytes.
    #[error("no CR LF within {MAX_MESSAGE} bytes")]
    TooLong,
    /// The message does not start as it must.
    #[error("{message} must start with {expected}")]
    Start {
        /// Which message.
        message: &'static str,
        /// What it must start with.
        expected: &'static str,
    },
    /// A field is wrong.
    #[error("{message}: {reason}")]
    Field {
        /// Which message.
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn field(message: &'static str, reason: impl Into<String>) -> ModeEError {
    ModeEError::Field {
        message,
        reason: reason.into(),
    }
}

/// The characters of a message without its CR LF, parity bits cleared (a port read at 8 bits
/// while the line runs 7E1 shows them).
fn body(line: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = line.iter().map(|b| b & 0x7F).collect();
    if body.ends_with(b"\r\n") {
        body.truncate(body.len() - 2);
    }
    body
}

fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..0x7F).contains(b))
}

/// A received line from its last start character `/` on: what came before it is noise (bytes
/// sent at another rate, a line switching). Lines without a `/` are returned whole.
pub fn from_last_start(line: &[u8]) -> &[u8] {
    match line.iter().rposition(|b| b & 0x7F == b'/') {
        Some(i) => &line[i..],
        None => line,
    }
}

/// The request message: `/?` [device address] `!` CR LF.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignOn {
    /// The device address, when the line has several devices; any device answers without it.
    pub address: Option<String>,
}

impl SignOn {
    const NAME: &'static str = "request message";

    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"/?".to_vec();
        out.extend_from_slice(self.address.as_deref().unwrap_or("").as_bytes());
        out.extend_from_slice(b"!\r\n");
        out
    }

    /// Parses one line (with or without its CR LF).
    pub fn parse(line: &[u8]) -> Result<Self, ModeEError> {
        let body = body(line);
        let Some(rest) = body.strip_prefix(b"/?") else {
            return Err(ModeEError::Start {
                message: Self::NAME,
                expected: "/?",
            });
        };
        let Some(address) = rest.strip_suffix(b"!") else {
            return Err(field(Self::NAME, "does not end with !"));
        };
        if address.len() > MAX_ADDRESS || !printable(address) || address.contains(&b'!') {
            return Err(field(
                Self::NAME,
                format!("the device address is not up to {MAX_ADDRESS} printable characters"),
            ));
        }
        let address = (!address.is_empty()).then(|| String::from_utf8_lossy(address).into_owned());
        Ok(SignOn { address })
    }

    /// Whether a device at `address` answers this request.
    pub fn is_for(&self, address: &str) -> bool {
        self.address.as_deref().is_none_or(|a| a == address)
    }
}

/// The identification message: `/` XXX Z [`\` W] identification CR LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The manufacturer's three letters (a lower-case third letter announces a 20 ms reaction
    /// time).
    pub manufacturer: [u8; 3],
    /// The highest rate the meter offers.
    pub baud: BaudRate,
    /// The enhanced identification character, if any (`2`: binary mode (HDLC) is available).
    pub enhanced: Option<u8>,
    /// The meter's identification.
    pub identification: String,
}

impl Identification {
    const NAME: &'static str = "identification message";

    /// Whether the meter offers protocol mode E (the enhanced identification `\2`).
    pub fn offers_mode_e(&self) -> bool {
        self.enhanced == Some(b'2')
    }

    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![b'/'];
        out.extend_from_slice(&self.manufacturer);
        out.push(self.baud.char());
        if let Some(w) = self.enhanced {
            out.extend_from_slice(&[b'\\', w]);
        }
        out.extend_from_slice(self.identification.as_bytes());
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Parses one line (with or without its CR LF).
    pub fn parse(line: &[u8]) -> Result<Self, ModeEError> {
        let body = body(line);
        let Some(rest) = body.strip_prefix(b"/") else {
            return Err(ModeEError::Start {
                message: Self::NAME,
                expected: "/",
            });
        };
        if rest.len() < 4 {
            return Err(field(Self::NAME, "shorter than /XXXZ"));
        }
        let manufacturer = [rest[0], rest[1], rest[2]];
        if !manufacturer.iter().all(u8::is_ascii_alphabetic) {
            return Err(field(Self::NAME, "the manufacturer is not three letters"));
        }
        let baud = BaudRate::from_char(rest[3]).ok_or_else(|| {
            field(
                Self::NAME,
                format!(
                    "baud-rate character `{}` is not one of mode C/E's (0 to 6)",
                    char::from(rest[3])
                ),
            )
        })?;
        let mut ident = &rest[4..];
        let mut enhanced = None;
        if let [b'\\', w, tail @ ..] = ident {
            enhanced = Some(*w);
            ident = tail;
        }
        if ident.len() > MAX_IDENTIFICATION || !printable(ident) {
            return Err(field(
                Self::NAME,
                format!(
                    "the identification is not up to {MAX_IDENTIFICATION} printable characters"
                ),
            ));
        }
        Ok(Identification {
            manufacturer,
            baud,
            enhanced,
            identification: String::from_utf8_lossy(ident).into_owned(),
        })
    }
}

/// The acknowledgement/option select message: ACK V Z Y CR LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSelect {
    /// The protocol control character (`2`: the HDLC procedure).
    pub protocol: u8,
    /// The rate both switch to.
    pub baud: BaudRate,
    /// The mode control character (`2`: binary mode).
    pub mode: u8,
}

impl OptionSelect {
    const NAME: &'static str = "option select message";

    /// The option select that enters protocol mode E at `baud`.
    pub fn mode_e(baud: BaudRate) -> Self {
        OptionSelect {
            protocol: PROTOCOL_HDLC,
            baud,
            mode: MODE_BINARY,
        }
    }

    /// Whether it asks for protocol mode E.
    pub fn is_mode_e(&self) -> bool {
        self.protocol == PROTOCOL_HDLC && self.mode == MODE_BINARY
    }

    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        vec![
            ACK,
            self.protocol,
            self.baud.char(),
            self.mode,
            b'\r',
            b'\n',
        ]
    }

    /// Parses one line (with or without its CR LF).
    pub fn parse(line: &[u8]) -> Result<Self, ModeEError> {
        match body(line).as_slice() {
            [ACK, protocol, z, mode] => Ok(OptionSelect {
                protocol: *protocol,
                baud: BaudRate::from_char(*z).ok_or_else(|| {
                    field(
                        Self::NAME,
                        format!("baud-rate character `{}` is not 0 to 6", char::from(*z)),
                    )
                })?,
                mode: *mode,
            }),
            [ACK, ..] => Err(field(Self::NAME, "is not ACK V Z Y")),
            _ => Err(ModeEError::Start {
                message: Self::NAME,
                expected: "ACK",
            }),
        }
    }
}

/// Gathers received characters into CR LF-ended messages, bounded by [`MAX_MESSAGE`].
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received characters.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message (CR LF included), or an error once [`MAX_MESSAGE`] bytes hold no
    /// CR LF (those bytes are dropped, so that the reader goes on with what follows).
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, ModeEError>> {
        // Parity bits are ignored in finding the end (a port read at 8 bits shows them).
        let end = |w: &[u8]| w[0] & 0x7F == b'\r' && w[1] & 0x7F == b'\n';
        match self.buf.windows(2).position(end) {
            Some(i) if i + 2 <= MAX_MESSAGE => Some(Ok(self.buf.drain(..i + 2).collect())),
            Some(i) => {
                self.buf.drain(..i + 2);
                Some(Err(ModeEError::TooLong))
            }
            None if self.buf.len() >= MAX_MESSAGE => {
                // Keep a trailing CR: its LF may follow.
                let keep = usize::from(self.buf.last().is_some_and(|b| b & 0x7F == b'\r'));
                self.buf.drain(..self.buf.len() - keep);
                Some(Err(ModeEError::TooLong))
            }
            None => None,
        }
    }

    /// Bytes received after the last whole message (the start of what follows the sign-on).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_on_round_trips_with_and_without_an_address() {
        assert_eq!(SignOn::default().encode(), b"/?!\r\n");
        let with = SignOn {
            address: Some("12345678".into()),
        };
        assert_eq!(with.encode(), b"/?12345678!\r\n");
        assert_eq!(SignOn::parse(&with.encode()), Ok(with.clone()));
        assert!(with.is_for("12345678") && !with.is_for("9"));
        assert!(SignOn::default().is_for("anything"));
        assert!(SignOn::parse(b"/?!").is_ok());
        assert!(SignOn::parse(b"/X!\r\n").is_err());
        assert!(SignOn::parse(b"/?abc\r\n").is_err());
        assert!(SignOn::parse(&[b"/?".as_slice(), &[b'1'; 33], b"!\r\n"].concat()).is_err());
    }

    #[test]
    fn an_identification_names_the_rate_and_mode_e() {
        let id = Identification {
            manufacturer: *b"MFL",
            baud: BaudRate::B9600,
            enhanced: Some(b'2'),
            identification: "meterfleet".into(),
        };
        assert_eq!(id.encode(), b"/MFL5\\2meterfleet\r\n");
        let parsed = Identification::parse(&id.encode()).unwrap();
        assert_eq!(parsed, id);
        assert!(parsed.offers_mode_e());
        let plain = Identification::parse(b"/ABC4EMH-METER\r\n").unwrap();
        assert_eq!(plain.baud.bits_per_second(), 4800);
        assert!(!plain.offers_mode_e());
        assert!(Identification::parse(b"/AB\r\n").is_err());
        assert!(Identification::parse(b"/ABC9x\r\n").is_err());
        assert!(Identification::parse(b"ABC5x\r\n").is_err());
    }

    #[test]
    fn noise_before_the_start_character_is_dropped() {
        let line = b"\x7e\xa0\x08/?!\r\n";
        assert_eq!(SignOn::parse(from_last_start(line)), Ok(SignOn::default()));
        assert_eq!(from_last_start(b"\x06252\r\n"), b"\x06252\r\n");
    }

    #[test]
    fn parity_bits_are_cleared() {
        let with_parity: Vec<u8> = b"/?!\r\n".iter().map(|b| b | 0x80).collect();
        assert_eq!(SignOn::parse(&with_parity), Ok(SignOn::default()));
    }

    #[test]
    fn the_option_select_enters_mode_e_at_the_rate() {
        let ack = OptionSelect::mode_e(BaudRate::B19200);
        assert_eq!(ack.encode(), [ACK, b'2', b'6', b'2', b'\r', b'\n']);
        assert_eq!(OptionSelect::parse(&ack.encode()), Ok(ack));
        assert!(ack.is_mode_e());
        let readout = OptionSelect::parse(&[ACK, b'0', b'5', b'0', b'\r', b'\n']).unwrap();
        assert!(!readout.is_mode_e());
        assert!(OptionSelect::parse(&[ACK, b'2', b'9', b'2']).is_err());
        assert!(OptionSelect::parse(b"/?!\r\n").is_err());
    }

    #[test]
    fn lines_are_split_and_bounded() {
        let mut r = LineReader::new();
        r.push(b"/?!\r");
        assert!(r.next_line().is_none());
        r.push(b"\n\x06252\r\n~");
        assert_eq!(r.next_line(), Some(Ok(b"/?!\r\n".to_vec())));
        assert_eq!(r.next_line(), Some(Ok(b"\x06252\r\n".to_vec())));
        assert!(r.next_line().is_none());
        assert_eq!(r.take_rest(), b"~");
        r.push(&[b'x'; MAX_MESSAGE]);
        assert_eq!(r.next_line(), Some(Err(ModeEError::TooLong)));
        r.push(b"/?!\r\n");
        assert_eq!(r.next_line(), Some(Ok(b"/?!\r\n".to_vec())));
    }

    proptest::proptest! {
        #[test]
        fn messages_round_trip(
            address in proptest::option::of("[0-9A-Za-z]{1,32}"),
            ident in "[ -\\[\\]-~]{0,16}",
            manufacturer in "[A-Za-z]{3}",
            z in 0u8..7,
        ) {
            let sign_on = SignOn { address };
            proptest::prop_assert_eq!(SignOn::parse(&sign_on.encode()), Ok(sign_on));
            let baud = BaudRate::from_char(b'0' + z).unwrap();
            let id = Identification {
                manufacturer: manufacturer.as_bytes().try_into().unwrap(),
                baud,
                enhanced: Some(b'2'),
                identification: ident,
            };
            proptest::prop_assert_eq!(Identification::parse(&id.encode()), Ok(id));
            let select = OptionSelect::mode_e(baud);
            proptest::prop_assert_eq!(OptionSelect::parse(&select.encode()), Ok(select));
        }
    }

    #[test]
    fn rates_and_times() {
        for c in b'0'..=b'6' {
            let rate = BaudRate::from_char(c).unwrap();
            assert_eq!(rate.char(), c);
            assert_eq!(
                BaudRate::from_bits_per_second(rate.bits_per_second()),
                Some(rate)
            );
        }
        assert_eq!(BaudRate::from_char(b'7'), None);
        assert_eq!(transmission_time(6, 300), Duration::from_millis(200));
    }
}
