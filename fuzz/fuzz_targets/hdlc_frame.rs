#![no_main]
//! Fuzz target `hdlc_frame`: see `dlms::fuzzing::hdlc_frame` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::hdlc_frame(data));
