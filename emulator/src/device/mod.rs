//! The meter itself, sans-IO: its COSEM objects, the image transfer state machine, its
//! association and access rights, its profile and quirks, its faults, its firmware slots and
//! what it keeps across reboots. It takes requests and time and returns replies and events; it
//! opens no socket and reads no clock (the runtime does both).

pub mod access;
pub mod blocks;
pub mod cosem;
pub mod events;
pub mod faults;
pub mod firmware;
pub mod fuzzing;
pub mod group_cipher;
pub mod journal;
pub mod judge;
pub mod meter;
pub mod profile;
pub mod session;
pub mod state;
pub mod transfer;
