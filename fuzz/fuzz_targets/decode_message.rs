//! Any message a client can send (a JSON envelope, or a MessagePack game-data payload):
//! decoding never panics, decoded messages round-trip, MessagePack translations are valid
//! JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_core::fuzzing::decode_message(data);
});
