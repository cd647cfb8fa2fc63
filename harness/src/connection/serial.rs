//! A serial line on this machine: the port opened at the line's settings, the optical probe's
//! sign-on into protocol mode E (IEC 62056-21) on the client's side, and one user of a line at
//! a time (an RS-485 line carries several meters, but one conversation).

use super::LinkFailure;
use crate::target::SerialLine;
use dlms::mode_e::{
    from_last_start, transmission_time, Identification, LineReader, LineSettings, OptionSelect,
    SignOn, MAX_MESSAGE, REACTION_MAX, REACTION_MIN, SIGN_ON_BAUD,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OwnedMutexGuard;
use tokio_serial::{DataBits, Parity, SerialPort, SerialPortBuilderExt, SerialStream, StopBits};

/// How long a connection waits for a line another connection of this process holds (another
/// meter of the same RS-485 line, in a campaign): long enough for that meter's transfer.
const LINE_WAIT: Duration = Duration::from_secs(600);

/// What a line was left in by a connection that ended without closing its HDLC link: the
/// rate, and the DISC that ends the link, sent before the next sign-on (a meter behind the
/// optical probe stays in mode E until its link ends).
#[derive(Default)]
pub(super) struct LineUse {
    left_up: Option<(u32, Vec<u8>)>,
}

fn lines() -> &'static Mutex<HashMap<String, Arc<tokio::sync::Mutex<LineUse>>>> {
    static LINES: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<LineUse>>>>> =
        OnceLock::new();
    LINES.get_or_init(Default::default)
}

/// An open serial port, held for this connection alone.
pub(crate) struct OpenLine {
    pub(super) port: SerialStream,
    /// HDLC's rate on the line now.
    pub(super) baud: u32,
    held: OwnedMutexGuard<LineUse>,
}

impl OpenLine {
    /// Records that the HDLC link may be up as this connection ends: `disc` goes out before
    /// the line's next sign-on.
    pub(super) fn leave_link_up(&mut self, disc: Vec<u8>) {
        self.held.left_up = Some((self.baud, disc));
    }
}

fn io(path: &str, e: impl std::fmt::Display) -> LinkFailure {
    LinkFailure::Io(format!("serial port {path}: {e}"))
}

/// Sets a port's rate and character format.
fn apply(port: &mut SerialStream, path: &str, s: LineSettings) -> Result<(), LinkFailure> {
    port.set_baud_rate(s.baud).map_err(|e| io(path, e))?;
    let bits = if s.data_bits == 7 {
        DataBits::Seven
    } else {
        DataBits::Eight
    };
    port.set_data_bits(bits).map_err(|e| io(path, e))?;
    let parity = if s.even_parity {
        Parity::Even
    } else {
        Parity::None
    };
    port.set_parity(parity).map_err(|e| io(path, e))?;
    port.set_stop_bits(StopBits::One).map_err(|e| io(path, e))
}

/// Takes the line (waiting for another connection of this process to let it go), opens the
/// port and, through the optical probe, signs on into mode E within `timeout`.
pub(super) async fn open(line: &SerialLine, timeout: Duration) -> Result<OpenLine, LinkFailure> {
    let shared = lines()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(line.path.clone())
        .or_default()
        .clone();
    let held = tokio::time::timeout(LINE_WAIT, shared.lock_owned())
        .await
        .map_err(|_| LinkFailure::Timeout(LINE_WAIT))?;
    let first = if line.optical {
        LineSettings::SIGN_ON
    } else {
        LineSettings::hdlc(line.baud)
    };
    let mut port = tokio_serial::new(&line.path, first.baud)
        .open_native_async()
        .map_err(|e| io(&line.path, e))?;
    apply(&mut port, &line.path, first)?;
    let mut open = OpenLine {
        port,
        baud: first.baud,
        held,
    };
    if let Some((baud, disc)) = open.held.left_up.take() {
        end_left_link(&mut open, &line.path, baud, &disc).await?;
        apply(&mut open.port, &line.path, first)?;
    }
    if line.optical {
        let baud = tokio::time::timeout(timeout, sign_on(&mut open.port, line))
            .await
            .map_err(|_| LinkFailure::Timeout(timeout))??;
        open.baud = baud;
    }
    Ok(open)
}

/// Sends the DISC a previous connection left unsent, at the rate its link ran, and drops
/// whatever comes back.
async fn end_left_link(
    open: &mut OpenLine,
    path: &str,
    baud: u32,
    disc: &[u8],
) -> Result<(), LinkFailure> {
    apply(&mut open.port, path, LineSettings::hdlc(baud))?;
    open.port.write_all(disc).await.map_err(|e| io(path, e))?;
    let quiet = transmission_time(disc.len() + 64, baud) + REACTION_MIN;
    let mut sink = [0u8; 256];
    while let Ok(read) = tokio::time::timeout(quiet, open.port.read(&mut sink)).await {
        if read.map_err(|e| io(path, e))? == 0 {
            break;
        }
    }
    Ok(())
}

/// The client's side of the sign-on (IEC 62056-21 clause 6, protocol mode E): the request at
/// 300 Bd 7E1, the identification (an optical head's echo of the request is skipped), the
/// option select for mode E at the meter's rate, and the switch to that rate at 8N1. Returns
/// the rate.
async fn sign_on(port: &mut SerialStream, line: &SerialLine) -> Result<u32, LinkFailure> {
    let request = SignOn {
        address: line.device_address.clone(),
    }
    .encode();
    let _ = port.clear(tokio_serial::ClearBuffer::Input);
    port.write_all(&request)
        .await
        .map_err(|e| io(&line.path, e))?;
    let wait = transmission_time(request.len() + MAX_MESSAGE, SIGN_ON_BAUD) + REACTION_MAX;
    let mut reader = LineReader::new();
    let mut buf = [0u8; 64];
    let identification = loop {
        let message = loop {
            if let Some(message) = reader.next_line() {
                break message.map_err(|e| sign_on_failure(e.to_string()))?;
            }
            let n = tokio::time::timeout(wait, port.read(&mut buf))
                .await
                .map_err(|_| {
                    sign_on_failure(format!(
                        "no identification message within {wait:?} of the request"
                    ))
                })?
                .map_err(|e| io(&line.path, e))?;
            reader.push(&buf[..n]);
        };
        if message == request {
            continue;
        }
        break Identification::parse(from_last_start(&message))
            .map_err(|e| sign_on_failure(e.to_string()))?;
    };
    if !identification.offers_mode_e() {
        return Err(sign_on_failure(format!(
            "the meter ({}{}) offers no protocol mode E (no \\2 in its identification)",
            String::from_utf8_lossy(&identification.manufacturer),
            identification.identification
        )));
    }
    let select = OptionSelect::mode_e(identification.baud).encode();
    port.write_all(&select)
        .await
        .map_err(|e| io(&line.path, e))?;
    // The option select leaves the port at 300 Bd before the rate changes; the meter switches
    // once it has it.
    tokio::time::sleep(transmission_time(select.len(), SIGN_ON_BAUD) + REACTION_MIN).await;
    let baud = identification.baud.bits_per_second();
    apply(port, &line.path, LineSettings::hdlc(baud))?;
    let _ = port.clear(tokio_serial::ClearBuffer::Input);
    tracing::debug!(path = %line.path, baud, meter = %identification.identification, "mode E");
    Ok(baud)
}

fn sign_on_failure(reason: String) -> LinkFailure {
    LinkFailure::Framing(format!("optical sign-on: {reason}"))
}

/// The DISC frame from `client` to `server`.
pub(super) fn disc_frame(server: dlms::hdlc::HdlcAddress, client: u8) -> Vec<u8> {
    let repr = dlms::hdlc::FrameRepr {
        segmented: false,
        destination: server,
        source: dlms::hdlc::HdlcAddress::client(client),
        control: dlms::hdlc::Control::Disc { pf: true },
        info: &[],
    };
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut bytes);
    bytes
}
