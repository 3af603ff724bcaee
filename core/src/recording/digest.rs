//! Digests of the engine's actions, written by the recorder and checked by a replay's
//! `--verify`. FNV-1a: stable across builds and platforms (a replay may run on another
//! machine with another Rust), cheap for the small frames a game sends, and no
//! adversary chooses what is hashed against a digest it must match.

use serde::{Deserialize, Serialize};

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

const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    Fnv(FNV64_OFFSET).bytes(bytes).0
}

/// 32-bit FNV-1a of `bytes` (the record checksum).
pub(crate) fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

struct Fnv(u64);

impl Fnv {
    fn bytes(mut self, bytes: &[u8]) -> Fnv {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(FNV64_PRIME);
        }
        self
    }

    fn u64(self, value: u64) -> Fnv {
        self.bytes(&value.to_le_bytes())
    }

    /// Length first, so that concatenations cannot collide by moving a boundary.
    fn field(self, bytes: &[u8]) -> Fnv {
        self.u64(bytes.len() as u64).bytes(bytes)
    }
}

/// The digest of one action under `mode`.
pub fn action_digest(action: &Action, mode: DigestMode) -> u64 {
    let full = mode == DigestMode::Full;
    let hash = Fnv(FNV64_OFFSET);
    match action {
        Action::Send { conn, message } => {
            let (kind, bytes) = match message {
                Outbound::Text(bytes) => (1, bytes),
                Outbound::Binary(bytes) => (2, bytes),
            };
            let hash = hash.u64(kind).u64(conn.0);
            if full {
                hash.field(bytes).0
            } else {
                hash.0
            }
        }
        Action::Close { conn, code, reason } => {
            hash.u64(3).u64(conn.0).u64(u64::from(*code)).field(reason.as_bytes()).0
        }
        Action::Http(response) => {
            let mut hash = hash.u64(4).u64(response.id).u64(u64::from(response.status));
            if full {
                for (name, value) in &response.headers {
                    hash = hash.field(name.as_bytes()).field(value.as_bytes());
                }
                hash = hash.field(&response.body);
            }
            hash.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use bytes::Bytes;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
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
}
