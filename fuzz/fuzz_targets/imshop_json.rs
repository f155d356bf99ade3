#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| accrue_server::fuzzing::imshop_json(data));
