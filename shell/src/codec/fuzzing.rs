//! The frame-decoding harness shared by the `websocket_frames` fuzz target and the test
//! that replays its corpus (feature `fuzzing`).
//!
//! Input format: byte 0 picks the hard cap, byte 1 seeds how the stream is cut into
//! reads, the rest is the byte stream a client sent after the upgrade.

use super::decode::{Decoder, Message, MAX_CONTROL_PAYLOAD};

/// Hard caps tried: below and at the control-frame limit, a small and a large one.
const CAPS: [usize; 4] = [16, MAX_CONTROL_PAYLOAD, 1024, 65_536];
/// Longest read the cutting makes (the server reads at most 16 KiB at a time).
const MAX_READ: usize = 64;

/// Decodes fuzzer bytes twice, whole and cut into reads as the server would get them.
/// Panics if decoding panics, if the two disagree on any message or on the error, if a
/// decoder holds more than the cap for an incomplete message, or if a message breaks
/// what the decoder promises (control payloads at most 125 bytes, data messages at most
/// the cap).
pub fn decode_stream(data: &[u8]) {
    let [cap_choice, cut_seed, stream @ ..] = data else { return };
    let cap = CAPS[usize::from(*cap_choice) % CAPS.len()];

    let mut whole = Vec::new();
    let whole_result = Decoder::new(cap).feed(stream, &mut whole);

    let mut pieces = Vec::new();
    let mut decoder = Decoder::new(cap);
    let mut pieces_result = Ok(());
    let mut rest = stream;
    let mut state = u32::from(*cut_seed) | 1;
    while !rest.is_empty() {
        // A small xorshift: reads of 1..=MAX_READ bytes in an order the seed picks.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state as usize % MAX_READ + 1).min(rest.len());
        let (read, after) = rest.split_at(size);
        rest = after;
        pieces_result = decoder.feed(read, &mut pieces);
        // The bound the shell relies on: an incomplete message costs at most the cap
        // (plus one control frame's payload).
        assert!(
            decoder.reserved() <= cap + MAX_CONTROL_PAYLOAD,
            "{} bytes reserved under a cap of {cap}",
            decoder.reserved()
        );
        if pieces_result.is_err() {
            // The shell closes the connection: the decoder is never fed again.
            break;
        }
    }

    assert_eq!(whole_result, pieces_result, "whole and cut decoding end differently");
    assert_eq!(whole, pieces, "whole and cut decoding give different messages");
    for message in &whole {
        match message {
            Message::Text(text) => assert!(text.len() <= cap),
            Message::Binary(bytes) => assert!(bytes.len() <= cap),
            Message::Ping(payload) => assert!(payload.len() <= MAX_CONTROL_PAYLOAD),
            Message::Pong | Message::Close(_) => {}
        }
    }
}
