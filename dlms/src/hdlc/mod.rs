//! HDLC framing and link layer (IEC 62056-46), docs/protocol.md#hdlc.

mod address;
mod broadcast;
mod control;
mod fcs;
mod frame;
mod link;
mod params;
mod stream;

pub use address::HdlcAddress;
pub use broadcast::{all_station_apdu, ui_frame, ALL_STATION_2, ALL_STATION_4};
pub use control::Control;
pub use fcs::{crc16, crc16_bytes};
pub use frame::{Frame, FrameRepr, FLAG, MAX_FRAME_LENGTH, MIN_FRAME_LEN};
pub use link::{
    DisconnectReason, HdlcLink, LinkConfig, LinkError, LinkEvent, Role, LLC_REQUEST, LLC_RESPONSE,
};
pub use params::{HdlcParameters, MAX_INFO_LIMIT, MAX_WINDOW};
pub use stream::FrameSplitter;
