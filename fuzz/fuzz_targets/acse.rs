#![no_main]
//! Fuzz target `acse`: see `dlms::fuzzing::acse` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::acse(data));
