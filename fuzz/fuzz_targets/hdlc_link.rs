#![no_main]
//! Fuzz target `hdlc_link`: see `dlms::fuzzing::hdlc_link` for what it checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| dlms::fuzzing::hdlc_link(data));
