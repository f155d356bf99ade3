#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| accrue_server::fuzzing::outbound_url(data));
