#![no_main]
//! Fuzz target `mode_e`: see `dlms::fuzzing::mode_e` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::mode_e(data));
