//! Sequences of the shared operations (connections, client messages, closes, stalled
//! readers, backed-up writers, HTTP requests, time) drawn from the fuzzer's bytes: every
//! check of the shared virtual-time driver and client model after every operation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_core::fuzzing::engine_sequence(data);
});
