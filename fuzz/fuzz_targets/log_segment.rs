#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::log_segment(data));
