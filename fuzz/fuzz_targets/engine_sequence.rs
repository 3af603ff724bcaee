//! Arbitrary sequences of connections, frames, closes, backed-up writers and time steps:
//! invariants after every step and room membership equal to a reference model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_core::fuzzing::engine_sequence(data);
});
