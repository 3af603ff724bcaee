//! Any text or binary frame a client can send: decoding never panics, decoded messages
//! round-trip, MessagePack translations are valid JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_core::fuzzing::decode_frame(data);
});
