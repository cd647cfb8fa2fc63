//! The HDLC control field (docs/protocol.md#hdlc; U-frame values from Gurux `Command.cs`).

/// A decoded control field. `pf` is the poll bit on commands and the final bit on responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// Information frame: `RRR P SSS 0`.
    I {
        /// N(S): this frame's send sequence number.
        ns: u8,
        /// N(R): the next sequence number expected from the peer.
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Receive ready: `RRR P 0001`.
    Rr {
        /// N(R).
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Receive not ready: `RRR P 0101`.
    Rnr {
        /// N(R).
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Set normal response mode (0x83 | P).
    Snrm {
        /// Poll.
        pf: bool,
    },
    /// Unnumbered acknowledge (0x63 | F).
    Ua {
        /// Final.
        pf: bool,
    },
    /// Disconnect (0x43 | P).
    Disc {
        /// Poll.
        pf: bool,
    },
    /// Disconnected mode (0x0F | F).
    Dm {
        /// Final.
        pf: bool,
    },
    /// Frame reject (0x87 | F).
    Frmr {
        /// Final.
        pf: bool,
    },
    /// Unnumbered information (0x03 | P).
    Ui {
        /// Poll/final.
        pf: bool,
    },
}

const PF: u8 = 0x10;

impl Control {
    /// The control byte.
    pub fn to_byte(self) -> u8 {
        let pf = |p: bool| if p { PF } else { 0 };
        match self {
            Control::I { ns, nr, pf: p } => ((nr & 7) << 5) | pf(p) | ((ns & 7) << 1),
            Control::Rr { nr, pf: p } => ((nr & 7) << 5) | pf(p) | 0x01,
            Control::Rnr { nr, pf: p } => ((nr & 7) << 5) | pf(p) | 0x05,
            Control::Snrm { pf: p } => 0x83 | pf(p),
            Control::Ua { pf: p } => 0x63 | pf(p),
            Control::Disc { pf: p } => 0x43 | pf(p),
            Control::Dm { pf: p } => 0x0F | pf(p),
            Control::Frmr { pf: p } => 0x87 | pf(p),
            Control::Ui { pf: p } => 0x03 | pf(p),
        }
    }

    /// Decodes a control byte; `None` for frame types DLMS does not use.
    pub fn from_byte(b: u8) -> Option<Self> {
        let pf = b & PF != 0;
        let nr = b >> 5;
        if b & 1 == 0 {
            return Some(Control::I {
                ns: (b >> 1) & 7,
                nr,
                pf,
            });
        }
        match b & !PF {
            c if c & 0x0F == 0x01 => Some(Control::Rr { nr, pf }),
            c if c & 0x0F == 0x05 => Some(Control::Rnr { nr, pf }),
            0x83 => Some(Control::Snrm { pf }),
            0x63 => Some(Control::Ua { pf }),
            0x43 => Some(Control::Disc { pf }),
            0x0F => Some(Control::Dm { pf }),
            0x87 => Some(Control::Frmr { pf }),
            0x03 => Some(Control::Ui { pf }),
            _ => None,
        }
    }

    /// The poll/final bit.
    pub fn pf(self) -> bool {
        match self {
            Control::I { pf, .. }
            | Control::Rr { pf, .. }
            | Control::Rnr { pf, .. }
            | Control::Snrm { pf }
            | Control::Ua { pf }
            | Control::Disc { pf }
            | Control::Dm { pf }
            | Control::Frmr { pf }
            | Control::Ui { pf } => pf,
        }
    }

    /// N(R) of I and S frames.
    pub fn nr(self) -> Option<u8> {
        match self {
            Control::I { nr, .. } | Control::Rr { nr, .. } | Control::Rnr { nr, .. } => Some(nr),
            _ => None,
        }
    }
}

impl std::fmt::Display for Control {
    /// The frame type as HDLC writes it: `I N(S)=1 N(R)=2 P/F`, `RR N(R)=3`, `SNRM P/F`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (pf, text) = match *self {
            Control::I { ns, nr, pf } => (pf, format!("I N(S)={ns} N(R)={nr}")),
            Control::Rr { nr, pf } => (pf, format!("RR N(R)={nr}")),
            Control::Rnr { nr, pf } => (pf, format!("RNR N(R)={nr}")),
            Control::Snrm { pf } => (pf, "SNRM".into()),
            Control::Ua { pf } => (pf, "UA".into()),
            Control::Disc { pf } => (pf, "DISC".into()),
            Control::Dm { pf } => (pf, "DM".into()),
            Control::Frmr { pf } => (pf, "FRMR".into()),
            Control::Ui { pf } => (pf, "UI".into()),
        };
        f.write_str(&text)?;
        if pf {
            f.write_str(" P/F")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md#hdlc: SNRM 0x93, UA 0x73, DISC 0x53, DM 0x1F, FRMR 0x97, UI 0x13 with P/F
    /// set; client I-frame 0x10 (N(R)=0 P N(S)=0), server reply 0x30 (N(R)=1).
    #[test]
    fn control_vectors() {
        assert_eq!(Control::Snrm { pf: true }.to_byte(), 0x93);
        assert_eq!(Control::Ua { pf: true }.to_byte(), 0x73);
        assert_eq!(Control::Disc { pf: true }.to_byte(), 0x53);
        assert_eq!(Control::Dm { pf: true }.to_byte(), 0x1F);
        assert_eq!(Control::Frmr { pf: true }.to_byte(), 0x97);
        assert_eq!(Control::Ui { pf: true }.to_byte(), 0x13);
        assert_eq!(
            Control::I {
                ns: 0,
                nr: 0,
                pf: true
            }
            .to_byte(),
            0x10
        );
        assert_eq!(
            Control::from_byte(0x30),
            Some(Control::I {
                ns: 0,
                nr: 1,
                pf: true
            })
        );
    }

    #[test]
    fn every_known_byte_round_trips() {
        for b in 0..=255u8 {
            if let Some(c) = Control::from_byte(b) {
                assert_eq!(c.to_byte(), b, "control 0x{b:02X}");
            }
        }
    }
}
