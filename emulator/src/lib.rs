//! The meter side of meterfleet: an emulated DLMS/COSEM meter whose request handling is
//! sans-IO, with image transfer (IC 18), signed images, two firmware slots per part, an event
//! log, persistence across reboots, and behaviour set by a profile.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod blocks;
pub mod control;
pub mod cosem;
pub mod events;
pub mod faults;
pub mod firmware;
pub mod fleet;
pub mod fuzzing;
pub mod meter;
pub mod net;
pub mod profile;
pub mod scenario;
pub mod session;
pub mod state;
pub mod transfer;

/// A TOML parse error as "line N: message", for errors that name the file, line and field.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| format!("line {}: ", text[..s.start].matches('\n').count() + 1))
        .unwrap_or_default();
    format!("{line}{}", e.message())
}
