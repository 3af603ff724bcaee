//! Payload redaction (`recorder.redact_payloads`): game data is replaced before it is
//! recorded, keeping each message's length and shape so the replayed engine takes the
//! same decisions (size limits, queue bounds) with filler bytes.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Event;

/// The event with its game-data payload replaced, or `None` when it carries none:
///
/// - a text `GameData` message: its payload (`data.data`) becomes a value of the same
///   JSON kind and length with nothing of the original in it (numbers, booleans and null
///   are kept);
/// - a binary message (a game-data payload, whole): a MessagePack string of `x`s of the
///   same total length.
///
/// Everything else (joins, names, tokens, HTTP requests) is recorded as it was.
pub fn redact_event(event: &Event) -> Option<Event> {
    match event {
        Event::Text { conn, text } => {
            redact_game_data_text(text).map(|text| Event::Text { conn: *conn, text })
        }
        Event::Binary { conn, data } => {
            Some(Event::Binary { conn: *conn, data: Bytes::from(msgpack_filler(data.len())) })
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct GameDataBody<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

fn redact_game_data_text(text: &str) -> Option<String> {
    let envelope: Envelope<'_> = serde_json::from_str(text).ok()?;
    if envelope.kind != "GameData" {
        return None;
    }
    let body: GameDataBody<'_> = serde_json::from_str(envelope.data?.get()).ok()?;
    let raw = body.data.get();
    let filler = json_filler(raw)?;
    // A borrowed raw value is a slice of `text`: its position is where to write.
    let start = raw.as_ptr() as usize - text.as_ptr() as usize;
    let end = start + raw.len();
    Some(format!("{}{}{}", &text[..start], filler, &text[end..]))
}

/// A JSON value of the same kind and length as `raw`, with nothing of it left: a string
/// of `x`s, an object `{"x":"xx…"}` (or padded `{ }` when too short), a padded `[ ]`.
/// Numbers, booleans and null are kept (`None`).
fn json_filler(raw: &str) -> Option<String> {
    let n = raw.len();
    match raw.as_bytes().first()? {
        b'"' => Some(format!("\"{}\"", "x".repeat(n.saturating_sub(2)))),
        b'{' if n >= 8 => Some(format!("{{\"x\":\"{}\"}}", "x".repeat(n - 8))),
        b'{' => Some(format!("{{{}}}", " ".repeat(n.saturating_sub(2)))),
        b'[' => Some(format!("[{}]", " ".repeat(n.saturating_sub(2)))),
        _ => None,
    }
}

/// A MessagePack string of `x`s whose encoding is exactly `len` bytes (`len` ≥ 1; an
/// empty payload stays empty).
fn msgpack_filler(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    match len {
        0 => {}
        1 => out.push(0x00),
        2..=32 => out.push(0xa0 | (len - 1) as u8),
        33..=257 => out.extend_from_slice(&[0xd9, (len - 2) as u8]),
        258..=65_538 => {
            out.push(0xda);
            out.extend_from_slice(&((len - 3) as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&((len - 5) as u32).to_be_bytes());
        }
    }
    out.resize(len, b'x');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;

    fn text(text: &str) -> Event {
        Event::Text { conn: ConnId(1), text: text.to_owned() }
    }

    #[test]
    fn game_data_keeps_its_length_and_loses_its_payload() {
        let original =
            r#"{"type":"GameData","data":{"data":{"secret":"launch codes","hp":7},"class":"reliable"}}"#;
        let Some(Event::Text { text: redacted, .. }) = redact_event(&text(original)) else { panic!() };
        assert_eq!(redacted.len(), original.len());
        assert!(!redacted.contains("launch"), "{redacted}");
        let value: serde_json::Value = serde_json::from_str(&redacted).unwrap();
        assert_eq!(value["type"], "GameData");
        assert_eq!(value["data"]["class"], "reliable");
        assert!(value["data"]["data"]["x"].as_str().unwrap().chars().all(|c| c == 'x'));
        for payload in [r#""abc""#, "[1,2]", "{}", r#"{"a":1}"#] {
            let original = format!(r#"{{"type":"GameData","data":{{"data":{payload}}}}}"#);
            let Some(Event::Text { text: redacted, .. }) = redact_event(&text(&original)) else { panic!() };
            assert_eq!(redacted.len(), original.len());
            let value: serde_json::Value = serde_json::from_str(&redacted).unwrap();
            let kind = |v: &serde_json::Value| std::mem::discriminant(v);
            let before: serde_json::Value = serde_json::from_str(payload).unwrap();
            assert_eq!(kind(&value["data"]["data"]), kind(&before), "{redacted}");
        }
    }

    #[test]
    fn other_messages_are_recorded_as_they_are() {
        assert_eq!(redact_event(&text(r#"{"type":"Ping"}"#)), None);
        assert_eq!(redact_event(&text(r#"{"type":"JoinRoom","data":{"game_name":"g"}}"#)), None);
        assert_eq!(redact_event(&text("not json")), None);
    }

    #[test]
    fn binary_payloads_become_msgpack_strings_of_the_same_length() {
        for len in [0, 1, 2, 31, 32, 33, 257, 258, 65_538, 65_539] {
            let filler = msgpack_filler(len);
            assert_eq!(filler.len(), len);
            if len > 1 {
                let value: String = rmp_serde::from_slice(&filler).unwrap();
                assert!(value.bytes().all(|b| b == b'x'));
            }
        }
    }
}
