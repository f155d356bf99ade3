#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| accrue_core::fuzzing::batch_request(data));
