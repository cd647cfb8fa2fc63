#![no_main]
//! Fuzz target `ciphered_apdu`: see `dlms::fuzzing::ciphered_apdu` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::ciphered_apdu(data));
