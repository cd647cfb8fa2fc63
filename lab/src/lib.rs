//! The lab: meterfleet's emulated fleets driven by its own harness. What `meterfleet demo`,
//! `bench fleet`, `bench soak` and the conformance detection matrix share with the tests, so
//! that the command line only parses arguments and prints.
//!
//! This crate is where the emulator and the harness meet; they never import each other.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capacity;
pub mod ceiling;
mod child;
pub mod conform_bench;
pub mod fleet_bench;
mod fleet_counter;
pub mod group_bench;
pub mod keys;
pub mod matrix;
pub mod memory;
pub mod meter_bench;
pub mod scenario_campaign;
pub mod soak;
