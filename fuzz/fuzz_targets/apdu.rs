#![no_main]
//! Fuzz target `apdu`: see `dlms::fuzzing::apdu` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::apdu(data));
