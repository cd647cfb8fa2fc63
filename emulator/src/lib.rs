//! The meter side of meterfleet, in two halves: `device`, an emulated DLMS/COSEM meter whose
//! request handling is sans-IO (image transfer, signed images, two firmware slots per part, an
//! event log, persistence across reboots, behaviour set by a profile), and `runtime`, the
//! tokio edge that serves meters and fleets on sockets. The runtime uses the device; the device
//! never uses the runtime.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod device;
pub mod runtime;

pub use device::{
    access, blocks, cosem, events, faults, firmware, fuzzing, group_cipher, journal, judge, meter,
    profile, session, state, transfer,
};
pub use runtime::{control, fleet, net, scenario};

/// A TOML parse error as "line N: message", for errors that name the file, line and field.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| format!("line {}: ", text[..s.start].matches('\n').count() + 1))
        .unwrap_or_default();
    format!("{line}{}", e.message())
}
