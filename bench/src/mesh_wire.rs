//! The matchbox signaling protocol as the `mesh` scenario speaks it: the JSON that
//! `matchbox_socket` peers exchange with a signaling server (Signal Fish's mesh port or
//! matchbox's own `matchbox_server`).
//!
//! A peer receives `{"IdAssigned":"<uuid>"}` first, `{"NewPeer":"<uuid>"}` when a peer
//! joins its room after it, `{"PeerLeft":"<uuid>"}`, and
//! `{"Signal":{"sender":"<uuid>","data":…}}`; it sends
//! `{"Signal":{"receiver":"<uuid>","data":…}}`. The tool's signals carry a probe
//! `{"q":SEQ,"s":SENDER,"t":SENT_US}` as their `data` (keys sorted, so a server that
//! re-serialises the value writes the same text). Signals are read with a small scanner
//! first and a full JSON parse only when the text is not in the expected form.

use std::fmt::Write as _;

use serde_json::Value;

use crate::wire::{probe_from_value, scan_probe, Probe};

/// Length of a peer id (a hyphenated UUID).
pub const PEER_ID_LEN: usize = 36;

/// How a server's relayed signal starts when written compactly, sender first.
const SIGNAL_PREFIX: &str = r#"{"Signal":{"sender":""#;
/// What follows the sender's id in that form.
const SIGNAL_AFTER_SENDER: &str = r#"","data":"#;

/// A received text message, as far as the `mesh` scenario cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshIncoming<'a> {
    /// The recipient's own peer id.
    IdAssigned(&'a str),
    /// A peer joined the recipient's room.
    NewPeer(&'a str),
    /// A peer of the recipient's room left.
    PeerLeft(&'a str),
    /// A signal from `sender`, with the probe its `data` carried (None: no probe).
    Signal {
        /// The sending peer's id.
        sender: &'a str,
        /// The tool's probe, if `data` held one.
        probe: Option<Probe>,
    },
    /// Anything else.
    Other,
}

/// Writes a signal for `receiver` carrying `probe` into `out` (cleared first).
pub fn signal(out: &mut String, receiver: &str, probe: Probe) {
    out.clear();
    let Probe { sender, seq, sent_us } = probe;
    let _ = write!(
        out,
        r#"{{"Signal":{{"receiver":"{receiver}","data":{{"q":{seq},"s":{sender},"t":{sent_us}}}}}}}"#
    );
}

/// Classifies one received text message.
pub fn classify(text: &str) -> MeshIncoming<'_> {
    if let Some(rest) = text.strip_prefix(SIGNAL_PREFIX) {
        if let Some(sender) = rest.get(..PEER_ID_LEN) {
            if rest[PEER_ID_LEN..].starts_with(SIGNAL_AFTER_SENDER) {
                if let Some(probe) = scan_probe(&rest[PEER_ID_LEN + SIGNAL_AFTER_SENDER.len()..]) {
                    return MeshIncoming::Signal { sender, probe: Some(probe) };
                }
            }
        }
    }
    classify_parsed(text)
}

/// The slow path: parse the JSON and look at its one key.
fn classify_parsed(text: &str) -> MeshIncoming<'_> {
    let Ok(value) = serde_json::from_str::<Value>(text) else { return MeshIncoming::Other };
    let Some(object) = value.as_object().filter(|o| o.len() == 1) else { return MeshIncoming::Other };
    let Some((kind, body)) = object.iter().next() else { return MeshIncoming::Other };
    // The id as a slice of `text` (ids are plain UUIDs, never escaped).
    let id_in_text = |id: &str| text.find(id).map(|at| &text[at..at + id.len()]);
    match (kind.as_str(), body) {
        ("IdAssigned", Value::String(id)) => {
            id_in_text(id).map_or(MeshIncoming::Other, MeshIncoming::IdAssigned)
        }
        ("NewPeer", Value::String(id)) => id_in_text(id).map_or(MeshIncoming::Other, MeshIncoming::NewPeer),
        ("PeerLeft", Value::String(id)) => id_in_text(id).map_or(MeshIncoming::Other, MeshIncoming::PeerLeft),
        ("Signal", Value::Object(fields)) => {
            let Some(sender) = fields.get("sender").and_then(Value::as_str).and_then(id_in_text) else {
                return MeshIncoming::Other;
            };
            MeshIncoming::Signal { sender, probe: fields.get("data").and_then(probe_from_value) }
        }
        _ => MeshIncoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "11111111-1111-4111-8111-111111111111";
    const B: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn a_signal_round_trips_through_a_relaying_server() {
        let probe = Probe { sender: 12, seq: 345, sent_us: 6789 };
        let mut text = String::new();
        signal(&mut text, B, probe);
        let sent: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sent["Signal"]["receiver"], B);
        // What a server relays: sender instead of receiver, data as it was.
        let relayed = format!(r#"{{"Signal":{{"sender":"{A}","data":{}}}}}"#, sent["Signal"]["data"]);
        assert_eq!(classify(&relayed), MeshIncoming::Signal { sender: A, probe: Some(probe) });
    }

    #[test]
    fn other_spellings_fall_back_to_a_full_parse() {
        let spaced = format!(r#"{{ "Signal": {{ "data": {{"t":3, "s":2, "q":1}}, "sender": "{A}" }} }}"#);
        let probe = Probe { sender: 2, seq: 1, sent_us: 3 };
        assert_eq!(classify(&spaced), MeshIncoming::Signal { sender: A, probe: Some(probe) });
        let foreign = format!(r#"{{"Signal":{{"sender":"{A}","data":{{"Offer":"v=0"}}}}}}"#);
        assert_eq!(classify(&foreign), MeshIncoming::Signal { sender: A, probe: None });
    }

    #[test]
    fn events() {
        assert_eq!(classify(&format!(r#"{{"IdAssigned":"{A}"}}"#)), MeshIncoming::IdAssigned(A));
        assert_eq!(classify(&format!(r#"{{"NewPeer":"{B}"}}"#)), MeshIncoming::NewPeer(B));
        assert_eq!(classify(&format!(r#"{{"PeerLeft":"{B}"}}"#)), MeshIncoming::PeerLeft(B));
        assert_eq!(classify(r#""KeepAlive""#), MeshIncoming::Other);
        assert_eq!(classify("nope"), MeshIncoming::Other);
        assert_eq!(classify(r#"{"NewPeer":1}"#), MeshIncoming::Other);
    }
}
