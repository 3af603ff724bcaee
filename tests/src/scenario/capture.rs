//! Captures: generated values (ids, room codes, tokens, timestamps) get stable names in
//! transcripts, and inputs refer to them by name.
//!
//! When a generated value first appears in output it is replaced by a name:
//! * the player id in a connection's own `RoomJoined`/`Reconnected` (`player_id`) or
//!   `SpectatorJoined` (`spectator_id`) is named after the connection: `$alice`;
//! * room ids `$room1`, generated room codes `$code1`, reconnection tokens `$token1`,
//!   timestamps `$t1`, any other id `$id1`.
//!
//! Values the scenario wrote itself (any JSON string in an input) are never captured, so
//! a room code chosen by the scenario stays readable. Inputs use `$name` to insert a
//! captured value; `$$` is a literal `$`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::frames::is_uuid;

/// Name prefixes for generated values (a number follows).
const PREFIXES: [&str; 5] = ["room", "code", "token", "t", "id"];

/// Whether a connection name would clash with generated capture names.
pub fn is_reserved_name(name: &str) -> bool {
    PREFIXES.iter().any(|p| {
        name.strip_prefix(p).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// One JSON string value found in a text, with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringValue {
    /// Byte range of the string's content (between the quotes).
    pub span: (usize, usize),
    /// Object keys from the root to this value (`[]` for array elements).
    pub path: Vec<String>,
    /// The content as written (escapes not decoded; generated values never need them).
    pub raw: String,
}

impl StringValue {
    /// The key this value belongs to.
    pub fn key(&self) -> &str {
        self.path.iter().rev().find(|k| *k != "[]").map_or("", String::as_str)
    }
}

/// Every string value (not key) of a JSON text, in order. Malformed text yields what
/// could be read.
pub fn string_values(text: &str) -> Vec<StringValue> {
    #[derive(Clone)]
    enum Level {
        Object { key: Option<String>, expect_key: bool },
        Array,
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Level> = Vec::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Level::Object { key: None, expect_key: true }),
            b'[' => stack.push(Level::Array),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Level::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = true;
                }
            }
            b':' => {
                if let Some(Level::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                let raw = text.get(start..end).unwrap_or_default().to_owned();
                match stack.last_mut() {
                    Some(Level::Object { key, expect_key: true }) => *key = Some(raw),
                    _ => {
                        let path = stack
                            .iter()
                            .map(|level| match level {
                                Level::Object { key, .. } => key.clone().unwrap_or_default(),
                                Level::Array => "[]".to_owned(),
                            })
                            .collect();
                        out.push(StringValue { span: (start, end), path, raw });
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// What kind of generated value a string is, given where it appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Room,
    Code,
    Token,
    Time,
    Id,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Room => "room",
            Kind::Code => "code",
            Kind::Token => "token",
            Kind::Time => "t",
            Kind::Id => "id",
        }
    }
}

fn classify(value: &StringValue) -> Option<Kind> {
    let key = value.key();
    if key == "room_code" {
        return Some(Kind::Code);
    }
    if key == "reconnection_token" || key == "auth_token" {
        return Some(Kind::Token);
    }
    if is_uuid(&value.raw) {
        return Some(if key == "room_id" { Kind::Room } else { Kind::Id });
    }
    if is_timestamp(&value.raw) {
        return Some(Kind::Time);
    }
    None
}

/// RFC 3339 UTC timestamps as the engine writes them (`Z` or `+00:00`).
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z" || rest == "+00:00"
}

/// The capture table of one scenario run.
#[derive(Clone, Debug, Default)]
pub struct Captures {
    by_name: BTreeMap<String, String>,
    by_value: HashMap<String, String>,
    counters: BTreeMap<&'static str, usize>,
    literals: BTreeSet<String>,
}

impl Captures {
    /// An empty table.
    pub fn new() -> Captures {
        Captures::default()
    }

    /// Remembers the string values of an input as written, so they are never captured.
    pub fn note_input(&mut self, raw: &str) {
        for value in string_values(raw) {
            self.literals.insert(value.raw.to_uppercase());
        }
    }

    /// The value of a name.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }

    /// The name of a value.
    pub fn name_of(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(String::as_str)
    }

    /// Names a connection's player id after the connection (first time only).
    pub fn bind_connection(&mut self, conn: &str, value: &str) {
        if self.by_value.contains_key(value) || self.by_name.contains_key(conn) {
            return;
        }
        self.by_name.insert(conn.to_owned(), value.to_owned());
        self.by_value.insert(value.to_owned(), conn.to_owned());
    }

    /// Replaces `$name` by captured values in an input; `$$` is a literal `$`.
    pub fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                continue;
            }
            let len = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            let name = &after[..len];
            if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                out.push('$');
                rest = after;
                continue;
            }
            let value = self.value(name).ok_or_else(|| {
                let known: Vec<String> = self.by_name.keys().map(|k| format!("${k}")).collect();
                format!(
                    "`${name}` is not captured yet (known: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(" ") }
                )
            })?;
            out.push_str(value);
            rest = &after[len..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Replaces captured values in an input by their `$names` (the inverse of
    /// [`Captures::substitute`]), for writing inputs that were built from raw values.
    pub fn name_values_in(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for value in string_values(text) {
            if let Some(name) = self.by_value.get(&value.raw) {
                out.push_str(&text[last..value.span.0]);
                out.push('$');
                out.push_str(name);
                last = value.span.1;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// Replaces generated values in a JSON text by their names, capturing new ones.
    pub fn render_json(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for value in string_values(text) {
            if let Some(name) = self.name_for(&value) {
                out.push_str(&text[last..value.span.0]);
                out.push('$');
                out.push_str(&name);
                last = value.span.1;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// The name of a lone value found under `key` (e.g. a binary frame's sender).
    pub fn render_value(&mut self, key: &str, raw: &str) -> String {
        let value = StringValue { span: (0, raw.len()), path: vec![key.to_owned()], raw: raw.to_owned() };
        match self.name_for(&value) {
            Some(name) => format!("${name}"),
            None => raw.to_owned(),
        }
    }

    /// Finds self-identifying values in a frame a connection received: its own player id.
    pub fn bind_from_frame(&mut self, conn: &str, text: &str) {
        let values = string_values(text);
        // A mesh peer's own id comes first, alone: `{"IdAssigned":"<id>"}`.
        if let Some(v) = values.iter().find(|v| v.path == ["IdAssigned"]) {
            if is_uuid(&v.raw) {
                self.bind_connection(conn, &v.raw);
            }
            return;
        }
        let kind = values.iter().find(|v| v.path == ["type"]).map(|v| v.raw.as_str());
        let own = match kind {
            Some("RoomJoined") | Some("Reconnected") => "player_id",
            Some("SpectatorJoined") => "spectator_id",
            _ => return,
        };
        if let Some(v) = values.iter().find(|v| v.path.len() == 2 && v.path[0] == "data" && v.path[1] == own)
        {
            if is_uuid(&v.raw) {
                self.bind_connection(conn, &v.raw);
            }
        }
    }

    fn name_for(&mut self, value: &StringValue) -> Option<String> {
        if let Some(name) = self.by_value.get(&value.raw) {
            return Some(name.clone());
        }
        let kind = classify(value)?;
        if self.literals.contains(&value.raw.to_uppercase()) {
            return None;
        }
        let counter = self.counters.entry(kind.prefix()).or_insert(0);
        *counter += 1;
        let name = format!("{}{}", kind.prefix(), counter);
        self.by_name.insert(name.clone(), value.raw.clone());
        self.by_value.insert(value.raw.clone(), name.clone());
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_tracks_keys_through_nesting() {
        let text = r#"{"type":"X","data":{"a":["b",{"c":"d"}],"e":"f"}}"#;
        let values: Vec<(String, String)> =
            string_values(text).into_iter().map(|v| (v.path.join("."), v.raw)).collect();
        assert_eq!(
            values,
            vec![
                ("type".into(), "X".into()),
                ("data.a.[]".into(), "b".into()),
                ("data.a.[].c".into(), "d".into()),
                ("data.e".into(), "f".into()),
            ]
        );
    }

    #[test]
    fn captures_generated_values_and_keeps_literals() {
        let mut c = Captures::new();
        c.note_input(r#"{"type":"JoinRoom","data":{"room_code":"abc123"}}"#);
        let frame = r#"{"type":"RoomJoined","data":{"room_id":"11111111-1111-4111-8111-111111111111","room_code":"ABC123","player_id":"22222222-2222-4222-8222-222222222222","connected_at":"2026-03-01T12:00:00.001Z"}}"#;
        c.bind_from_frame("alice", frame);
        assert_eq!(
            c.render_json(frame),
            r#"{"type":"RoomJoined","data":{"room_id":"$room1","room_code":"ABC123","player_id":"$alice","connected_at":"$t1"}}"#
        );
        assert_eq!(
            c.substitute(r#"{"player_id":"$alice","x":"$$5","y":"$1"}"#).unwrap(),
            r#"{"player_id":"22222222-2222-4222-8222-222222222222","x":"$5","y":"$1"}"#
        );
        assert!(c.substitute("$code1").unwrap_err().contains("$alice"));
    }

    #[test]
    fn timestamp_shapes() {
        assert!(is_timestamp("2026-03-01T12:00:00Z"));
        assert!(is_timestamp("2026-03-01T12:00:00.123456789+00:00"));
        assert!(!is_timestamp("2026-03-01 12:00:00Z"));
        assert!(!is_timestamp("2026-03-01T12:00:00."));
        assert!(is_reserved_name("t1") && is_reserved_name("room12") && !is_reserved_name("tom"));
    }
}
