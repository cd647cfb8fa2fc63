#![no_main]
//! Fuzz target `wrapper_stream`: see `dlms::fuzzing::wrapper_stream` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::wrapper_stream(data));
