#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| crashfs::fuzz::trace_file(data));
