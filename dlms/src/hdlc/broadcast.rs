//! Unnumbered information (UI) frames to every station of a multidrop line: how a data
//! concentrator hands one APDU to all its meters at once, with no link set up and no answer
//! (IEC 62056-46: the all-station address, a UI command with the poll bit clear).

use super::{Control, FrameRepr, HdlcAddress, LLC_REQUEST, MAX_FRAME_LENGTH};

/// The all-station lower (physical) address of a 4-byte server address.
pub const ALL_STATION_4: u16 = 0x3FFF;
/// The all-station lower (physical) address of a 2-byte server address.
pub const ALL_STATION_2: u16 = 0x7F;

impl HdlcAddress {
    /// The server address of logical device `logical` on every station of the line.
    pub const fn all_stations(logical: u16) -> Self {
        HdlcAddress {
            upper: logical & 0x3FFF,
            lower: Some(ALL_STATION_4),
            width: 4,
        }
    }

    /// True if the lower (physical) address is the all-station address of its width.
    pub fn is_all_station(&self) -> bool {
        matches!(
            (self.width, self.lower),
            (2, Some(ALL_STATION_2)) | (4, Some(ALL_STATION_4))
        )
    }
}

/// One UI frame carrying `apdu` (behind the request LLC header) from `source` to
/// `destination`; `None` when it does not fit one frame (a UI frame is not segmented here).
pub fn ui_frame(destination: HdlcAddress, source: HdlcAddress, apdu: &[u8]) -> Option<Vec<u8>> {
    let mut info = Vec::with_capacity(LLC_REQUEST.len() + apdu.len());
    info.extend_from_slice(&LLC_REQUEST);
    info.extend_from_slice(apdu);
    let repr = FrameRepr {
        segmented: false,
        destination,
        source,
        control: Control::Ui { pf: false },
        info: &info,
    };
    (repr.buffer_len() - 2 <= MAX_FRAME_LENGTH).then(|| repr.to_bytes())
}

/// The sender and the APDU of a whole UI frame sent to every station; `None` for any other
/// frame, a damaged one, or one without the request LLC header.
pub fn all_station_apdu(frame: &[u8]) -> Option<(HdlcAddress, &[u8])> {
    let repr = FrameRepr::parse(frame).ok()?;
    if !matches!(repr.control, Control::Ui { .. })
        || repr.segmented
        || !repr.destination.is_all_station()
    {
        return None;
    }
    let apdu = repr.info.strip_prefix(&LLC_REQUEST[..])?;
    Some((repr.source, apdu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ui_frame_to_all_stations_carries_its_apdu() {
        let frame = ui_frame(
            HdlcAddress::all_stations(1),
            HdlcAddress::client(102),
            &[0xC3, 0x01, 0x01],
        )
        .unwrap();
        let (source, apdu) = all_station_apdu(&frame).unwrap();
        assert_eq!(source, HdlcAddress::client(102));
        assert_eq!(apdu, [0xC3, 0x01, 0x01]);
    }

    #[test]
    fn frames_to_one_station_or_damaged_are_not_group_frames() {
        let to_one = ui_frame(
            HdlcAddress::server(1, 0x10),
            HdlcAddress::client(102),
            &[0xC3],
        )
        .unwrap();
        assert_eq!(all_station_apdu(&to_one), None);
        let mut damaged = ui_frame(
            HdlcAddress::all_stations(1),
            HdlcAddress::client(102),
            &[0xC3],
        )
        .unwrap();
        let at = damaged.len() - 4;
        damaged[at] ^= 0xFF;
        assert_eq!(all_station_apdu(&damaged), None);
        assert!(HdlcAddress::server(1, ALL_STATION_2).is_all_station());
    }

    #[test]
    fn an_apdu_longer_than_a_frame_is_refused() {
        assert!(ui_frame(
            HdlcAddress::all_stations(1),
            HdlcAddress::client(102),
            &[0u8; MAX_FRAME_LENGTH]
        )
        .is_none());
    }
}
