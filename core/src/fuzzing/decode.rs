//! Message decoding: any text or binary message a client can send (the WebSocket framing
//! itself is fuzzed by the shell's `websocket_frames` target).

use crate::protocol::{translate_to_json_message, ClientMessage};

/// Decodes `data` as a text message (when it is UTF-8) and as a binary game-data payload.
/// A decoded message must re-encode to text that decodes to the same message; a
/// translated payload must be valid JSON.
pub fn decode_message(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(message) = ClientMessage::decode(text) {
            let encoded = message.encode();
            let again = ClientMessage::decode(&encoded).expect("an encoded message decodes");
            assert_eq!(again, message, "round trip changed the message");
        }
    }
    let sender = uuid::Uuid::from_u128(0x6f1c2a9e_3b4d_4e8f_9a01_2b3c4d5e6f70);
    if let Some(frame) = translate_to_json_message(&sender, data, usize::MAX) {
        let value: serde_json::Value = serde_json::from_slice(&frame).expect("translated frames are JSON");
        assert_eq!(value["type"], "GameData");
    }
}
