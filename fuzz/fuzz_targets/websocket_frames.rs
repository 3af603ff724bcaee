//! The server's own RFC 6455 frame decoder: any byte stream, cut into reads any way,
//! never panics, decodes the same whole or in pieces, and holds at most the cap.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    signal_fish_server::frame_fuzzing::decode_stream(data);
});
