//! Config files and environment overrides: loading never panics, accepted configs
//! validate and round-trip through --print-config, errors say what is wrong.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_server::config::fuzzing::load_config(data);
});
