//! Transport probes: frames with a broken header or checksum, sent on a connection of their
//! own (on a serial line, the line taken and signed on afresh), and what the meter did with
//! them (IEC 62056-4-7 wrapper, IEC 62056-46 HDLC).

use super::step::{HdlcFrame, WrapperFrame};
use crate::connection::Pipe;
use crate::target::Target;
use dlms::association::ClientSettings;
use dlms::hdlc::{Control, FrameRepr, HdlcAddress};
use dlms::Codec;
use std::time::Duration;

/// How long a probe waits for the meter's answer.
const PROBE_WAIT: Duration = Duration::from_millis(1500);

/// Sends `bytes` on a new connection: `reply`, `silence` or `closed` (a serial line never
/// closes). On a serial line an SNRM probe may have set up a link: its DISC goes out before
/// the line's next use.
async fn probe(target: &Target, bytes: &[u8]) -> &'static str {
    // A serial line may first wait for the optical probe's sign-on.
    let open_wait = if target.address.serial().is_some() {
        target.request_timeout.max(PROBE_WAIT)
    } else {
        PROBE_WAIT
    };
    let Ok(mut pipe) = Pipe::open(target, open_wait).await else {
        return "closed";
    };
    pipe.leave_link_up(target.server_hdlc, target.client_sap as u8);
    if pipe.write(bytes).await.is_err() {
        return "closed";
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(PROBE_WAIT, pipe.read(&mut buf)).await {
        Err(_) => "silence",
        Ok(Ok(0)) | Ok(Err(_)) => "closed",
        Ok(Ok(_)) => "reply",
    }
}

/// An AARQ of the public client in a wrapper frame whose version or length is `frame`'s.
pub async fn wrapper_frame(target: &Target, frame: &WrapperFrame) -> &'static str {
    let aarq = ClientSettings::default().aarq().to_bytes();
    let length = frame.declared_length.unwrap_or(aarq.len() as u16);
    let mut bytes = Vec::with_capacity(8 + aarq.len());
    bytes.extend_from_slice(&frame.version.to_be_bytes());
    bytes.extend_from_slice(&target.client_sap.to_be_bytes());
    bytes.extend_from_slice(&target.server_wport.to_be_bytes());
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&aarq);
    probe(target, &bytes).await
}

/// An SNRM to the target's server address (or another upper address), its FCS broken on
/// request.
pub async fn hdlc_frame(target: &Target, frame: &HdlcFrame) -> &'static str {
    let mut destination = target.server_hdlc;
    if let Some(upper) = frame.server_upper {
        destination = HdlcAddress::server(upper, destination.lower.unwrap_or(0));
    }
    let repr = FrameRepr {
        segmented: false,
        destination,
        source: HdlcAddress::client(target.client_sap as u8),
        control: Control::Snrm { pf: true },
        info: &[],
    };
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut bytes);
    if frame.bad_fcs {
        let at = bytes.len() - 2;
        let flipped = bytes[at] ^ 0x01;
        // Never turn the FCS into a flag.
        bytes[at] = if flipped == 0x7E {
            bytes[at] ^ 0x02
        } else {
            flipped
        };
    }
    probe(target, &bytes).await
}
