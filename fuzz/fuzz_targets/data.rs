#![no_main]
//! Fuzz target `data`: see `dlms::fuzzing::data` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::data(data));
