//! Any bytes as a flight-recorder file: the reader refuses or reads them, and what reads
//! replays (verifying its digests) or is refused, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_core::fuzzing::read_recording(data);
});
