//! The edge of the emulator: sockets, clocks and files around the sans-IO meter.

mod hdlc_stations;
pub mod link_faults;
pub mod serve;
pub mod store;
