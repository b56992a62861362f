#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyceremony_fuzz::passphrase_header(data));
