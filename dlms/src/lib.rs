//! The DLMS/COSEM protocol core of meterfleet.
//!
//! Sans-IO: codecs take bytes and return typed values, state machines take input and the current
//! time and hand out bytes and events. Nothing here opens a socket or reads a clock.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acse;
pub mod apdu;
pub mod association;
pub mod axdr;
pub mod codec;
pub mod conformance;
pub mod cosem;
pub mod fuzzing;
pub mod hdlc;
pub mod image;
pub mod mode_e;
pub mod security;
pub mod text;
pub mod transport;
pub mod wrapper;

#[cfg(test)]
mod strategies;

pub use apdu::Apdu;
pub use axdr::Data;
pub use codec::{Codec, DecodeError, ErrorKind, Reader};
pub use transport::Transport;
