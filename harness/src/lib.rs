//! The client side of meterfleet: DLMS sessions over the wrapper or HDLC, and the image
//! transfer driver that upgrades a meter as a careful head-end would.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod campaign;
pub mod conform;
pub mod connection;
pub mod file_error;
pub mod html;
mod invocation_counters;
pub mod rfc3339;
pub mod session;
pub mod target;
mod toml_file;
pub mod transfer;
