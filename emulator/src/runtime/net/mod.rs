//! The edge of the emulator: sockets, clocks and files around the sans-IO meter.

pub mod caps;
mod hdlc_stations;
pub mod host;
pub mod link_faults;
mod route;
pub mod serial;
pub mod serve;
pub mod store;
pub mod udp;
