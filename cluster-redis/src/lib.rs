//! Signal Fish cluster mode, the Redis side: N server nodes share one room space through
//! one Redis. This crate knows nothing of the engine: node ids, game names, room codes
//! and room ids are strings, node-to-node payloads are opaque bytes.
//!
//! * [`Directory`]: a blocking API over one connection: node leases, the live-node list,
//!   room-code and room-id claims (atomic Lua scripts).
//! * The carrier: node-to-node frames over Redis pub/sub ([`frame`]).
//! * [`RedisLink`]: both on named std threads, bridged to smol with `async_channel`
//!   ([`Request`] in, [`LinkEvent`] out).
//! * [`testing::RedisServer`]: a throwaway `redis-server` for tests.
//!
//! # Key layout
//!
//! Everything lives under a prefix (`LinkSettings::prefix`, default `signal-fish`), so
//! several clusters can share one Redis:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{p}:node:{id}` | string, PX lease | the node's lease: its incarnation token |
//! | `{p}:nodes` | sorted set | node ids scored by last heartbeat (Redis `TIME`, ms) |
//! | `{p}:owned:{id}` | set | the code and room keys the node owns |
//! | `{p}:code:{len}:{game}:{code}` | string | the owner node id of a room code; `len` is the game name's length in bytes, so names holding `:` cannot collide |
//! | `{p}:room:{room_id}` | string | the owner node id of a room |
//! | `{p}:inbox:{id}` | pub/sub channel | frames for node `id` |
//!
//! A code or room key belongs to its owner only while the owner's lease key exists: a
//! claim finding a dead owner takes the key. Releases compare and delete.
//!
//! **Liveness.** The lease is renewed every `heartbeat_interval`; a node whose lease ran
//! out is dead to the others at once (its codes are claimable). `live_nodes` reads the
//! `{p}:nodes` sorted set (at most `max_nodes` entries, most recent first) and keeps the
//! ids whose lease key exists; no SCAN anywhere.
//!
//! **Safety net.** Code, room and owned-set keys carry a TTL of `orphan_ttl` (default
//! 10 min). Each heartbeat renews the TTL of up to `refresh_batch` owned keys (an SSCAN
//! cursor carried from one heartbeat to the next) and the owned set's; so the keys of a
//! node that died without releasing expire `orphan_ttl` after its last heartbeat at most,
//! and a live node's keys never do while `orphan_ttl` exceeds
//! `owned keys / refresh_batch * heartbeat_interval` (10 min with the defaults covers
//! 150 000 keys). A live node's owned key found missing is written again.
//!
//! # Why pub/sub for the carrier
//!
//! PUBLISH goes straight to the subscriber's socket: one round trip, nothing stored,
//! nothing to trim. It is at-most-once: a frame is lost if the subscriber's connection
//! drops (or Redis restarts) while it is in flight. That is made safe, not hidden: each
//! frame carries a per-(sender, receiver) sequence number and the sender's incarnation;
//! the receiver reports a gap, a restarted sender or a lost subscription as
//! [`LinkEvent::LinkBroken`], and the caller closes the forwarded connections that
//! depended on the link, so none is left half alive. PUBLISH answering 0 receivers is
//! reported to the sender as `LinkError::NotListening`.
//!
//! # Limits
//!
//! * Standalone Redis (or a primary with replicas) only: the scripts touch keys they
//!   build from others (a code's owner's lease), which Redis Cluster does not allow.
//!   Redis 6.2 or newer (scripts use `TIME` with effect replication); tested with 7.0.
//! * Redis without persistence forgets every lease on restart: the link then registers
//!   afresh and emits `LeaseLost` (claims must be made again). A loss reported before
//!   the link could register again (Redis away or refusing for a whole lease) is
//!   followed by `LeaseRegained` once it has.
//! * A release Redis did not carry out is tried again after each successful heartbeat
//!   (at most 16,384 kept), so a room removed during an outage does not keep its code.
//! * `register_node` (fresh) and `release_all` walk the node's owned set in one script:
//!   O(owned keys), a few ms for ten thousand.
//! * A payload is at most `max_payload` bytes (default 1 MiB); Redis's
//!   `client-output-buffer-limit pubsub` cuts a subscriber that falls far behind, which
//!   shows up as `LinkBroken { from: None }`.
//! * A node id restarted within one lease of its previous process is refused
//!   (`NodeIdTaken`) unless `wait_for_redis` gives it time.

#![warn(missing_docs)]

mod directory;
mod error;
pub mod frame;
mod keys;
mod link;
mod settings;
mod stats;
pub mod testing;

pub use directory::{Directory, Heartbeat, Owner, Registration};
pub use error::LinkError;
pub use keys::{validate_node_id, Keys, MAX_NODE_ID_LEN};
pub use link::{LinkEvent, RedisLink, Reply, Request, Requester};
pub use settings::LinkSettings;
pub use stats::{LinkStats, LinkStatsSnapshot};

/// A random u64 (std's randomly keyed hasher over a counter, the time and the pid):
/// incarnation numbers and backoff jitter, nothing secret.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}
