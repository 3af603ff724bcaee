//! Protocol versions and what protocol v3 adds to v2 for relay clients (PROTOCOL §12,
//! DECISIONS D53–D56): per-sender stamps, delivery classes, replay completeness.
//!
//! A connection speaks one version, settled when it authenticates. v2 recipients get
//! exactly the v2 bytes; the v3 fields below are optional on the wire and present only
//! in what v3 recipients get.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The protocol version a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProtocolVersion {
    /// Protocol v2: the original's wire format, byte for byte.
    #[default]
    V2,
    /// Protocol v3, relay subset: v2 plus accountability stamps and token-based
    /// reconnection without an opt-in.
    V3,
}

impl ProtocolVersion {
    /// The oldest version this server speaks.
    pub const OLDEST: ProtocolVersion = ProtocolVersion::V2;
    /// The newest version this server speaks.
    pub const NEWEST: ProtocolVersion = ProtocolVersion::V3;

    /// Its number on the wire and in the configuration.
    pub const fn number(self) -> u16 {
        match self {
            ProtocolVersion::V2 => 2,
            ProtocolVersion::V3 => 3,
        }
    }

    /// The version with this number, if this server speaks it.
    pub const fn from_number(number: u16) -> Option<ProtocolVersion> {
        match number {
            2 => Some(ProtocolVersion::V2),
            3 => Some(ProtocolVersion::V3),
            _ => None,
        }
    }

    /// Whether recipients of this version get stamps and the v3 fields.
    pub const fn is_v3(self) -> bool {
        matches!(self, ProtocolVersion::V3)
    }
}

/// A sender's incarnation and its position in it. `epoch` grows on every join and every
/// reconnect and never repeats for a player id; `seq` counts the game data the sender had
/// relayed in that epoch (the first message is 1, a newcomer is at 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The incarnation, from 1.
    pub epoch: u32,
    /// Messages relayed in this epoch.
    pub seq: u64,
}

/// How a v3 sender asks its game data to be delivered. This server delivers every class
/// reliably (DECISIONS D55) and tells v3 recipients the class the sender asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryClass {
    /// Every message, in order (the default when absent).
    Reliable,
    /// Only the newest value per `key` matters to the sender.
    Latest,
    /// The sender tolerates loss.
    Volatile,
}

/// Whether `Reconnected.missed_events` holds every room event the player missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayCompleteness {
    /// Every replayable event is there.
    Complete,
    /// Some were lost.
    Truncated,
    /// The server keeps none.
    Unavailable,
}

/// Where a sender stood when a reconnecting v3 player got its snapshot: the next game
/// data from it is `seq + 1` of `epoch` (or seq 1 of a later, announced epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderWatermark {
    /// The sender.
    pub player_id: Uuid,
    /// Its epoch.
    pub epoch: u32,
    /// Its last relayed seq in that epoch.
    pub seq: u64,
}

/// Counts of one delivery class in a `DeliveryReport`: cumulative per connection, never
/// decreasing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReliableCounts {
    /// Delivered messages (not counted by this server: always 0, which never decreases).
    pub delivered: u64,
    /// Messages given up on.
    pub abandoned: u64,
    /// Messages this recipient could not be given in its encoding.
    pub unsupported_format: u64,
}

/// `latest` class counts of a `DeliveryReport` (this server never supersedes or drops).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestCounts {
    /// Delivered.
    pub delivered: u64,
    /// Replaced by a newer value before delivery.
    pub superseded: u64,
    /// Dropped because the queue was full.
    pub dropped_full: u64,
    /// Given up on.
    pub abandoned: u64,
    /// Not deliverable in the recipient's encoding.
    pub unsupported_format: u64,
}

/// `volatile` class counts of a `DeliveryReport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolatileCounts {
    /// Delivered.
    pub delivered: u64,
    /// Dropped.
    pub dropped: u64,
    /// Given up on.
    pub abandoned: u64,
    /// Not deliverable in the recipient's encoding.
    pub unsupported_format: u64,
}

/// The per-class counts of a `DeliveryReport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Reliable.
    pub reliable: ReliableCounts,
    /// Latest.
    pub latest: LatestCounts,
    /// Volatile.
    pub volatile: VolatileCounts,
}

/// Why a v3 recipient will not get some of a sender's seqs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// A MessagePack payload with no JSON form, for a JSON recipient (the only reason
    /// this server reports).
    UnsupportedFormat,
}

/// A range of a sender's seqs a v3 recipient will not get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryGap {
    /// The sender.
    pub from_player: Uuid,
    /// Its epoch.
    pub epoch: u32,
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq.
    pub to_seq: u64,
    /// Why.
    pub reason: GapReason,
}
