//! Carrier frames and the receiver's per-link sequence check.
//!
//! A frame is what one PUBLISH carries:
//!
//! ```text
//! byte 0        version (1)
//! byte 1        n = length of the sender's node id (1..=255)
//! n bytes       sender node id (UTF-8)
//! 8 bytes       sender incarnation (u64, big-endian): random per process, so a
//!               restarted sender's links start again at 1 without looking like replays
//! 8 bytes       link sequence number (u64, big-endian), per (sender, receiver), from 1
//! the rest      payload (opaque)
//! ```

use std::collections::HashMap;

use crate::keys::validate_node_id;

/// The frame format version this crate writes and reads.
pub const FRAME_VERSION: u8 = 1;

/// A decoded frame, borrowing from the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The sending node.
    pub from: &'a str,
    /// The sender's incarnation (random per sender process).
    pub incarnation: u64,
    /// The link sequence number (1 for the first frame from this incarnation to this
    /// receiver).
    pub seq: u64,
    /// The opaque payload.
    pub payload: &'a [u8],
}

/// Encodes a frame. `from` must be a valid node id (1 to 255 bytes).
pub fn encode(from: &str, incarnation: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
    debug_assert!(validate_node_id(from).is_ok());
    let id = &from.as_bytes()[..from.len().min(255)];
    let mut out = Vec::with_capacity(2 + id.len() + 16 + payload.len());
    out.push(FRAME_VERSION);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&incarnation.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The frame's header size for a sender id of `id_len` bytes.
pub fn header_len(id_len: usize) -> usize {
    2 + id_len + 16
}

/// Decodes a frame; `None` if it is not a well-formed version-1 frame.
pub fn decode(bytes: &[u8]) -> Option<Frame<'_>> {
    let (&version, rest) = bytes.split_first()?;
    if version != FRAME_VERSION {
        return None;
    }
    let (&n, rest) = rest.split_first()?;
    let n = usize::from(n);
    if n == 0 || rest.len() < n + 16 {
        return None;
    }
    let from = std::str::from_utf8(&rest[..n]).ok()?;
    // Only a name a node could have: junk would start a link of its own.
    validate_node_id(from).ok()?;
    let incarnation = u64::from_be_bytes(rest[n..n + 8].try_into().ok()?);
    let seq = u64::from_be_bytes(rest[n + 8..n + 16].try_into().ok()?);
    if seq == 0 {
        return None;
    }
    Some(Frame { from, incarnation, seq, payload: &rest[n + 16..] })
}

/// What to do with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// In order: deliver.
    Deliver,
    /// Frames from this sender were lost before this one (or the sender restarted):
    /// report the link as broken, then deliver this frame (it starts the link again).
    GapThenDeliver,
    /// Already seen (sequence number not above the last one): drop it.
    Duplicate,
}

#[derive(Debug)]
struct Inbound {
    incarnation: u64,
    last_seq: u64,
    epoch: u64,
}

/// The receiver's view of every inbound link: the last sequence number per sender.
///
/// When the subscription itself is lost the caller reports every link as broken at once
/// (`LinkBroken { from: None }`) and calls [`subscription_lost`]: the first gap on each
/// link after that is the same loss and is not reported again.
///
/// Holds one entry per sender ever heard from (bounded by the cluster's node count;
/// [`forget`] drops one).
///
/// [`subscription_lost`]: InboundLinks::subscription_lost
/// [`forget`]: InboundLinks::forget
#[derive(Debug, Default)]
pub struct InboundLinks {
    links: HashMap<String, Inbound>,
    epoch: u64,
}

impl InboundLinks {
    /// No links yet.
    pub fn new() -> InboundLinks {
        InboundLinks::default()
    }

    /// Checks a frame's sequence number against its link and records it.
    pub fn check(&mut self, from: &str, incarnation: u64, seq: u64) -> Verdict {
        let epoch = self.epoch;
        let Some(link) = self.links.get_mut(from) else {
            self.links.insert(from.to_owned(), Inbound { incarnation, last_seq: seq, epoch });
            return if seq == 1 { Verdict::Deliver } else { Verdict::GapThenDeliver };
        };
        let forgiven = link.epoch < epoch;
        link.epoch = epoch;
        if link.incarnation != incarnation {
            // The sender restarted: whatever was forwarded over its old link is gone.
            link.incarnation = incarnation;
            link.last_seq = seq;
            return if forgiven && seq == 1 { Verdict::Deliver } else { Verdict::GapThenDeliver };
        }
        if seq <= link.last_seq {
            return Verdict::Duplicate;
        }
        let in_order = seq == link.last_seq + 1;
        link.last_seq = seq;
        if in_order || forgiven {
            Verdict::Deliver
        } else {
            Verdict::GapThenDeliver
        }
    }

    /// The subscription was lost (and every link reported broken by the caller).
    pub fn subscription_lost(&mut self) {
        self.epoch += 1;
    }

    /// Forgets a sender (e.g. a node that left the cluster).
    pub fn forget(&mut self, from: &str) {
        self.links.remove(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = encode("node:a", 7, 42, b"hello");
        assert_eq!(f.len(), header_len(6) + 5);
        let d = decode(&f).unwrap();
        assert_eq!(d, Frame { from: "node:a", incarnation: 7, seq: 42, payload: b"hello" });
        assert_eq!(decode(&encode("n", 1, 1, b"")).unwrap().payload, b"");
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(decode(b"").is_none());
        assert!(decode(&[2, 1, b'a']).is_none());
        let f = encode("abc", 1, 1, b"x");
        assert!(decode(&f[..f.len() - 2]).is_none());
        assert!(decode(&encode("abc", 1, 0, b"x")).is_none());
        let mut bad = f.clone();
        bad[1] = 0;
        assert!(decode(&bad).is_none());
        // A sender name no node can have.
        let mut spaced = f.clone();
        spaced[3] = b' ';
        assert!(decode(&spaced).is_none());
        assert_eq!(decode(&f).map(|frame| frame.from), Some("abc"));
    }

    #[test]
    fn sequence_check() {
        let mut links = InboundLinks::new();
        assert_eq!(links.check("a", 1, 1), Verdict::Deliver);
        assert_eq!(links.check("a", 1, 2), Verdict::Deliver);
        assert_eq!(links.check("a", 1, 2), Verdict::Duplicate);
        assert_eq!(links.check("a", 1, 1), Verdict::Duplicate);
        assert_eq!(links.check("a", 1, 4), Verdict::GapThenDeliver);
        assert_eq!(links.check("a", 1, 5), Verdict::Deliver);
        // A sender first heard from mid-stream: its first frames were lost.
        assert_eq!(links.check("b", 9, 3), Verdict::GapThenDeliver);
        // The sender restarted: a new incarnation.
        assert_eq!(links.check("a", 2, 1), Verdict::GapThenDeliver);
        assert_eq!(links.check("a", 2, 2), Verdict::Deliver);
    }

    #[test]
    fn a_lost_subscription_is_reported_once() {
        let mut links = InboundLinks::new();
        assert_eq!(links.check("a", 1, 1), Verdict::Deliver);
        links.subscription_lost();
        assert_eq!(links.check("a", 1, 5), Verdict::Deliver);
        assert_eq!(links.check("a", 1, 7), Verdict::GapThenDeliver);
    }
}
