#![no_main]
//! Fuzz target `image`: see `dlms::fuzzing::image` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::image(data));
