//! Any bytes a guest sends as a value: the decoder never panics, and its
//! checking and building passes agree (see `isolate::fuzzing::check_decoder`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| isolate::fuzzing::check_decoder(bytes));
