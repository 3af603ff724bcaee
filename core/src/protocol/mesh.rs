//! The matchbox full-mesh signaling protocol on the wire (PROTOCOL §11): what a
//! `matchbox_socket` peer sends (`PeerRequest`) and receives (`PeerEvent`), in serde's
//! externally tagged JSON, which is what the `matchbox_protocol` crate writes.
//!
//! A signal's `data` is relayed as the exact JSON text the sender wrote (borrowed from
//! the inbound message and spliced into the outbound one), never parsed into a value
//! and written again: the SDP and ICE payloads a peer sends reach the other untouched.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// A request from a mesh peer (`matchbox_protocol::PeerRequest<serde_json::Value>`).
#[derive(Debug, Deserialize)]
pub enum MeshRequest<'a> {
    /// `{"Signal":{"receiver":"<peer id>","data":<any JSON>}}`: pass `data` to a peer of
    /// the same room.
    Signal {
        /// The peer the signal is for.
        receiver: Uuid,
        /// The payload, as written.
        #[serde(borrow)]
        data: &'a RawValue,
    },
    /// `"KeepAlive"`: nothing to do; it keeps proxies and the liveness timer content.
    KeepAlive,
}

impl<'a> MeshRequest<'a> {
    /// Parses one text message.
    pub fn decode(text: &'a str) -> Result<MeshRequest<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// An event for a mesh peer (`matchbox_protocol::PeerEvent<serde_json::Value>`).
#[derive(Debug, PartialEq, Eq)]
pub enum MeshEvent<'a> {
    /// The peer's own id; the first message on every mesh connection.
    IdAssigned(Uuid),
    /// A peer joined the room (sent to the peers already there).
    NewPeer(Uuid),
    /// A peer of the room left.
    PeerLeft(Uuid),
    /// A signal from `sender`, its `data` as the sender wrote it.
    Signal {
        /// Who sent it.
        sender: Uuid,
        /// The payload's JSON text.
        data: &'a str,
    },
}

impl MeshEvent<'_> {
    /// The message's text, compact, with the sender's `data` spliced in as written.
    pub fn to_bytes(&self) -> Bytes {
        let text = match self {
            MeshEvent::IdAssigned(id) => format!(r#"{{"IdAssigned":"{id}"}}"#),
            MeshEvent::NewPeer(id) => format!(r#"{{"NewPeer":"{id}"}}"#),
            MeshEvent::PeerLeft(id) => format!(r#"{{"PeerLeft":"{id}"}}"#),
            MeshEvent::Signal { sender, data } => {
                format!(r#"{{"Signal":{{"sender":"{sender}","data":{data}}}}}"#)
            }
        };
        Bytes::from(text)
    }

    /// Parses a message as a server writes it, for harnesses that check what peers
    /// receive. `Ok` only for the exact form [`MeshEvent::to_bytes`] writes.
    pub fn decode(text: &str) -> Result<MeshEvent<'_>, String> {
        #[derive(Deserialize)]
        enum Wire<'a> {
            IdAssigned(Uuid),
            NewPeer(Uuid),
            PeerLeft(Uuid),
            Signal {
                sender: Uuid,
                #[serde(borrow)]
                data: &'a RawValue,
            },
        }
        let event = match serde_json::from_str::<Wire<'_>>(text).map_err(|e| e.to_string())? {
            Wire::IdAssigned(id) => MeshEvent::IdAssigned(id),
            Wire::NewPeer(id) => MeshEvent::NewPeer(id),
            Wire::PeerLeft(id) => MeshEvent::PeerLeft(id),
            Wire::Signal { sender, data } => MeshEvent::Signal { sender, data: data.get() },
        };
        let canonical = event.to_bytes();
        if canonical != text.as_bytes() {
            return Err(format!(
                "not in canonical form (canonical: {})",
                String::from_utf8_lossy(&canonical)
            ));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "11111111-1111-4111-8111-111111111111";

    #[test]
    fn requests_in_matchbox_form() {
        let text = format!(r#"{{"Signal":{{"receiver":"{A}","data":{{"Offer": "v=0\r\n" }}}}}}"#);
        match MeshRequest::decode(&text).unwrap() {
            MeshRequest::Signal { receiver, data } => {
                assert_eq!(receiver.to_string(), A);
                assert_eq!(data.get(), r#"{"Offer": "v=0\r\n" }"#);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(MeshRequest::decode(r#""KeepAlive""#).unwrap(), MeshRequest::KeepAlive));
        assert!(MeshRequest::decode(r#"{"Signal":{"receiver":"x","data":1}}"#).is_err());
        assert!(MeshRequest::decode(r#"{"type":"Ping"}"#).is_err());
    }

    #[test]
    fn events_round_trip_with_data_untouched() {
        let id: Uuid = A.parse().unwrap();
        let data = r#"{"IceCandidate" : "a b"}"#;
        let bytes = MeshEvent::Signal { sender: id, data }.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(text, format!(r#"{{"Signal":{{"sender":"{A}","data":{data}}}}}"#));
        assert_eq!(MeshEvent::decode(text).unwrap(), MeshEvent::Signal { sender: id, data });
        let bytes = MeshEvent::IdAssigned(id).to_bytes();
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), format!(r#"{{"IdAssigned":"{A}"}}"#));
        assert!(MeshEvent::decode(&format!(r#"{{ "NewPeer":"{A}"}}"#)).is_err());
    }
}
