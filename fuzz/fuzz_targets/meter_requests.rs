#![no_main]
//! Fuzz target `meter_requests`: see `emulator::fuzzing::meter_requests` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| emulator::fuzzing::meter_requests(data));
