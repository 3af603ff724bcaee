//! The engine's single source of randomness: one ChaCha20 stream seeded by the caller.
//!
//! Room codes, player and room ids and reconnection tokens all come from here, so the same
//! seed and the same events always produce the same identifiers.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Symbols of generated room codes (PROTOCOL §3): digits 2–9 and A–Z without I and O.
pub const ROOM_CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Bytes of entropy in a reconnection token (128 bits).
pub const TOKEN_BYTES: usize = 16;

/// A seeded cryptographically secure generator. Its serialised form is rand_chacha's
/// abstract state (seed, stream, word position), which that crate keeps stable across
/// versions: an engine checkpoint restores the exact position in the stream.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EngineRng {
    inner: ChaCha20Rng,
}

impl EngineRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> EngineRng {
        EngineRng { inner: ChaCha20Rng::from_seed(seed) }
    }

    /// A random version-4 UUID.
    pub fn uuid_v4(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.inner.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A reconnection token: 128 random bits as 32 lowercase hex digits.
    pub fn token(&mut self) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        self.inner.fill_bytes(&mut bytes);
        let mut out = String::with_capacity(TOKEN_BYTES * 2);
        for b in bytes {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// A room code of `length` symbols drawn uniformly from [`ROOM_CODE_ALPHABET`].
    pub fn room_code(&mut self, length: usize) -> String {
        let mut out = String::with_capacity(length);
        while out.len() < length {
            // 32 symbols: five bits of each draw map uniformly onto the alphabet.
            let mut word = self.inner.next_u64();
            for _ in 0..12 {
                if out.len() == length {
                    break;
                }
                out.push(char::from(ROOM_CODE_ALPHABET[(word & 31) as usize]));
                word >>= 5;
            }
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = EngineRng::from_seed([7; 32]);
        let mut b = EngineRng::from_seed([7; 32]);
        assert_eq!(a.uuid_v4(), b.uuid_v4());
        assert_eq!(a.token(), b.token());
        assert_eq!(a.room_code(6), b.room_code(6));
        let mut c = EngineRng::from_seed([8; 32]);
        assert_ne!(a.token(), c.token());
    }

    #[test]
    fn uuids_are_version_4() {
        let mut rng = EngineRng::from_seed([1; 32]);
        for _ in 0..100 {
            let id = rng.uuid_v4();
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn tokens_are_128_bit_hex() {
        let mut rng = EngineRng::from_seed([2; 32]);
        let token = rng.token();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| HEX.contains(&b)));
    }
}
