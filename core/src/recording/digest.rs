//! Record checksums and digests of the engine's actions, written by the recorder and
//! checked by a replay's `--verify`. XXH3 (64-bit, the frozen XXH3 specification):
//! stable across builds and platforms (a replay may run on another machine with another
//! Rust), and cheap enough to hash every frame the server sends. No adversary chooses
//! what is hashed against a digest it must match, so a non-cryptographic hash is enough.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::{Action, Outbound};

/// What an action digest covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DigestMode {
    /// Everything: recipients, kinds, every byte of frames and HTTP responses.
    Full,
    /// The shape only: recipients, kinds, close codes, HTTP statuses. Used when payloads
    /// were redacted, since then the frames that carry them differ on replay.
    Shape,
}

/// The checksum of a record's body: the low 32 bits of its XXH3-64.
pub fn record_checksum(body: &[u8]) -> u32 {
    xxh3_64(body) as u32
}

/// Hashes `parts` (fixed-size words) into one digest.
fn combine(parts: &[u64]) -> u64 {
    let mut bytes = [0u8; 64];
    let used = parts.len() * 8;
    for (slot, part) in bytes.chunks_exact_mut(8).zip(parts) {
        slot.copy_from_slice(&part.to_le_bytes());
    }
    xxh3_64(&bytes[..used])
}

/// The digest of one action under `mode`. A frame's bytes enter as their own XXH3-64, so
/// a frame shared by many recipients can be hashed once ([`ActionDigester`]).
pub fn action_digest(action: &Action, mode: DigestMode) -> u64 {
    ActionDigester::default().digest(action, mode)
}

/// The hash of a value's MessagePack form (cluster actions: rare, and serde already).
fn serialised_hash(value: &impl serde::Serialize) -> u64 {
    xxh3_64(&rmp_serde::to_vec(value).expect("cluster messages serialise"))
}

/// Digests actions, hashing a frame shared by consecutive recipients (a fan-out) once.
#[derive(Debug, Default)]
pub struct ActionDigester {
    /// The last frame hashed: its address, length and hash.
    last_frame: Option<(usize, usize, u64)>,
}

impl ActionDigester {
    /// The digest of `action` under `mode` (the same as [`action_digest`]).
    pub fn digest(&mut self, action: &Action, mode: DigestMode) -> u64 {
        let full = mode == DigestMode::Full;
        match action {
            Action::Send { conn, message } => {
                let (kind, bytes) = match message {
                    Outbound::Text(bytes) => (1, bytes),
                    Outbound::Binary(bytes) => (2, bytes),
                };
                if !full {
                    return combine(&[kind, conn.0]);
                }
                let key = (bytes.as_ptr() as usize, bytes.len());
                let frame_hash = match self.last_frame {
                    // The same shared bytes (`Bytes` never changes what it points at).
                    Some((ptr, len, hash)) if (ptr, len) == key => hash,
                    _ => {
                        let hash = xxh3_64(bytes);
                        self.last_frame = Some((key.0, key.1, hash));
                        hash
                    }
                };
                combine(&[kind, conn.0, bytes.len() as u64, frame_hash])
            }
            Action::Close { conn, code, reason } => {
                combine(&[3, conn.0, u64::from(*code), xxh3_64(reason.as_bytes())])
            }
            Action::Http(response) => {
                if !full {
                    return combine(&[4, response.id, u64::from(response.status)]);
                }
                let mut headers = Vec::new();
                for (name, value) in &response.headers {
                    headers.extend_from_slice(&(name.len() as u64).to_le_bytes());
                    headers.extend_from_slice(name.as_bytes());
                    headers.extend_from_slice(&(value.len() as u64).to_le_bytes());
                    headers.extend_from_slice(value.as_bytes());
                }
                combine(&[
                    4,
                    response.id,
                    u64::from(response.status),
                    xxh3_64(&headers),
                    xxh3_64(&response.body),
                ])
            }
            Action::Query { conn, query } => combine(&[5, conn.0, serialised_hash(query)]),
            Action::Publish(update) => combine(&[6, serialised_hash(update)]),
            Action::ToNode { to, message } => {
                if !full {
                    return combine(&[7, xxh3_64(to.0.as_bytes())]);
                }
                combine(&[7, xxh3_64(to.0.as_bytes()), serialised_hash(message)])
            }
        }
    }

    /// Forgets the last frame: call between steps, since a frame's memory may be reused
    /// once its step's actions are gone.
    pub fn next_step(&mut self) {
        self.last_frame = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use bytes::Bytes;

    #[test]
    fn xxh3_matches_its_published_value_for_the_empty_input() {
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn shape_digests_ignore_payload_bytes_and_full_ones_do_not() {
        let send =
            |text: &'static str| Action::Send { conn: ConnId(1), message: Outbound::Text(Bytes::from(text)) };
        assert_ne!(action_digest(&send("a"), DigestMode::Full), action_digest(&send("b"), DigestMode::Full));
        assert_eq!(
            action_digest(&send("a"), DigestMode::Shape),
            action_digest(&send("b"), DigestMode::Shape)
        );
        let other = Action::Send { conn: ConnId(2), message: Outbound::Text(Bytes::from("a")) };
        assert_ne!(action_digest(&send("a"), DigestMode::Shape), action_digest(&other, DigestMode::Shape));
    }

    #[test]
    fn a_shared_frame_digests_as_a_copy_of_it_does() {
        let shared = Bytes::from(vec![7u8; 300]);
        let mut digester = ActionDigester::default();
        for conn in 1..4 {
            let action = Action::Send { conn: ConnId(conn), message: Outbound::Binary(shared.clone()) };
            let copy =
                Action::Send { conn: ConnId(conn), message: Outbound::Binary(Bytes::from(shared.to_vec())) };
            assert_eq!(digester.digest(&action, DigestMode::Full), action_digest(&copy, DigestMode::Full));
        }
    }
}
