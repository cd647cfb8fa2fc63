//! Meters on a serial line (a tty): one meter, or several at their own HDLC physical addresses
//! as on an RS-485 multidrop line, served with HDLC (IEC 62056-46) at 8N1; or one meter behind
//! its optical port, where every session opens with the meter's side of IEC 62056-21's sign-on
//! into protocol mode E and ends with its HDLC link, the port going back to 300 Bd.

use super::hdlc_stations::{hdlc_connection, Carrier};
use super::host::{now_ms, timers, MeterHost};
use super::route::Route;
use super::serve::AbortOnDrop;
use dlms::mode_e::{
    from_last_start, transmission_time, BaudRate, Identification, LineReader, LineSettings,
    OptionSelect, SignOn, INTER_CHARACTER_MAX, MAX_MESSAGE, NAK, REACTION_MAX, REACTION_MIN,
    SIGN_ON_BAUD,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{DataBits, Parity, SerialPort, SerialPortBuilderExt, SerialStream, StopBits};

/// The manufacturer letters emulated meters give in their identification message: made up for
/// meterfleet, not a FLAG ID registered with the DLMS UA.
pub const MANUFACTURER: [u8; 3] = *b"MFL";

/// The inter-octet time-out of an emulated meter on a serial line: the default of the HDLC
/// setup object (IEC 62056-6-2, class 23, attribute inter_octet_time_out).
pub const INTER_OCTET: Duration = Duration::from_millis(25);

/// A serial line and how its meters are reached.
#[derive(Debug, Clone)]
pub struct SerialConfig {
    /// The tty (`/dev/ttyUSB0`, a pseudo-terminal).
    pub path: String,
    /// HDLC's rate: the line's on a direct line; through the optical port, the highest the
    /// meter proposes in its identification (one of mode E's).
    pub baud: u32,
    /// Behind an optical port (one meter): the sign-on into mode E opens every session.
    pub optical: bool,
    /// The meter's device address in a sign-on request (`/?ADDRESS!`); a request without one
    /// is answered too.
    pub device_address: String,
    /// The identification the meter gives after its manufacturer letters and rate.
    pub identification: String,
}

fn settings(port: &mut SerialStream, s: LineSettings) -> std::io::Result<()> {
    port.set_baud_rate(s.baud)?;
    port.set_data_bits(if s.data_bits == 7 {
        DataBits::Seven
    } else {
        DataBits::Eight
    })?;
    port.set_parity(if s.even_parity {
        Parity::Even
    } else {
        Parity::None
    })?;
    port.set_stop_bits(StopBits::One)?;
    Ok(())
}

/// Serves `hosts` on the line until the task is dropped or the port fails: one meter at the
/// usual physical address, several at physical addresses from
/// [`GATEWAY_FIRST_PHYSICAL`](super::host::GATEWAY_FIRST_PHYSICAL) on. Fails at once if the
/// port cannot be opened, or if an optical port is given several meters (it reaches one).
pub async fn serve_serial(config: SerialConfig, hosts: Vec<Arc<MeterHost>>) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    if config.optical && hosts.len() != 1 {
        return Err(invalid("an optical port reaches one meter".into()));
    }
    let offered = if config.optical {
        Some(BaudRate::from_bits_per_second(config.baud).ok_or_else(|| {
            invalid(format!(
                "{} Bd is not one of mode E's rates (300, 600, 1200, 2400, 4800, 9600, 19200)",
                config.baud
            ))
        })?)
    } else {
        None
    };
    for host in &hosts {
        // Whatever was due while the process was down runs before the line is served.
        host.with_meter(|m| m.handle_timeout(now_ms()));
    }
    let _timers: Vec<AbortOnDrop> = hosts
        .iter()
        .map(|h| AbortOnDrop(tokio::spawn(timers(h.clone()))))
        .collect();
    let route = match hosts.as_slice() {
        [one] => Route::One(one.clone()),
        _ => Route::Gateway(Arc::new(hosts)),
    };
    let opened =
        |e: tokio_serial::Error| std::io::Error::other(format!("serial port {}: {e}", config.path));
    let mut port = tokio_serial::new(&config.path, config.baud)
        .open_native_async()
        .map_err(opened)?;
    loop {
        if let Route::One(host) = &route {
            // A rebooting meter answers nothing: what reaches it meanwhile is lost.
            while host.offline() {
                let mut sink = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_millis(50), port.read(&mut sink)).await;
            }
        }
        let started = Instant::now();
        let baud = match offered {
            Some(offered) => {
                settings(&mut port, LineSettings::SIGN_ON)?;
                match sign_on(&mut port, &config, offered).await? {
                    Some(baud) => baud,
                    None => continue,
                }
            }
            None => config.baud,
        };
        settings(&mut port, LineSettings::hdlc(baud))?;
        let carrier = Carrier::Serial {
            inter_octet: INTER_OCTET,
            ends_with_link: config.optical,
        };
        hdlc_connection(&mut port, route.clone(), carrier).await?;
        tracing::debug!(path = %config.path, "serial session ended");
        // A line whose far end is gone reads as ended at once: do not spin on it.
        if started.elapsed() < Duration::from_millis(50) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The next CR LF-ended message, or `None` when the line falls silent for `silence` (before
/// the first character; between characters, for [`INTER_CHARACTER_MAX`], after which what came
/// is dropped).
async fn message(
    port: &mut SerialStream,
    reader: &mut LineReader,
    silence: Option<Duration>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; MAX_MESSAGE];
    let mut begun = false;
    loop {
        match reader.next_line() {
            Some(Ok(line)) => return Ok(Some(line)),
            Some(Err(e)) => tracing::debug!("sign-on: {e}"),
            None => {}
        }
        let wait = if begun {
            Some(INTER_CHARACTER_MAX)
        } else {
            silence
        };
        let read = port.read(&mut buf);
        let n = match wait {
            Some(wait) => match tokio::time::timeout(wait, read).await {
                Ok(n) => n?,
                Err(_) => {
                    reader.take_rest();
                    return Ok(None);
                }
            },
            None => read.await?,
        };
        if n == 0 {
            // A line whose far end is gone reads as ended at once: do not spin on it.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(None);
        }
        begun = true;
        reader.push(&buf[..n]);
    }
}

/// The meter's side of the sign-on (IEC 62056-21 clause 6, protocol mode E): waits at 300 Bd
/// 7E1 for a request to it, answers after the minimum reaction time with its identification
/// (`\2`: mode E), and takes the option select. Returns the rate both switch to, or `None`
/// when the client went silent or asked for something else (a NAK answers an option this
/// meter does not take: it has mode E only), so that the port waits for the next request.
async fn sign_on(
    port: &mut SerialStream,
    config: &SerialConfig,
    offered: BaudRate,
) -> std::io::Result<Option<u32>> {
    let mut reader = LineReader::new();
    loop {
        let Some(line) = message(port, &mut reader, None).await? else {
            continue;
        };
        match SignOn::parse(from_last_start(&line)) {
            Ok(request) if request.is_for(&config.device_address) => break,
            Ok(_) => tracing::debug!("sign-on for another device"),
            Err(e) => tracing::debug!("sign-on: {e}"),
        }
    }
    tokio::time::sleep(REACTION_MIN).await;
    let identification = Identification {
        manufacturer: MANUFACTURER,
        baud: offered,
        enhanced: Some(b'2'),
        identification: config.identification.clone(),
    }
    .encode();
    port.write_all(&identification).await?;
    // The client answers within its reaction time once the identification has crossed the line.
    let wait = transmission_time(identification.len() + MAX_MESSAGE, SIGN_ON_BAUD) + REACTION_MAX;
    let Some(line) = message(port, &mut reader, Some(wait)).await? else {
        tracing::debug!("sign-on: no option select");
        return Ok(None);
    };
    match OptionSelect::parse(&line) {
        Ok(select) if select.is_mode_e() && select.baud <= offered => {
            tracing::debug!(baud = select.baud.bits_per_second(), "mode E");
            Ok(Some(select.baud.bits_per_second()))
        }
        Ok(select) => {
            tracing::debug!(?select, "sign-on: an option this meter does not take");
            port.write_all(&[NAK]).await?;
            Ok(None)
        }
        Err(e) => {
            tracing::debug!("sign-on: {e}");
            Ok(None)
        }
    }
}
