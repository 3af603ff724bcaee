//! Room state: seats, spectators, lobby, authority.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admission::AdmissionWindow;
use super::replay::ReplayBuffer;

use crate::event::ConnId;
use crate::protocol::{ConnectionInfo, LobbyState, ProtocolVersion, Stamp};
use crate::time::UnixMicros;
use crate::Instant;

/// Internal handle of a room (never on the wire; ordered by creation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct RoomKey(pub u64);

/// Whether a seated player is connected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Presence {
    /// Connected on this connection.
    Here(ConnId),
    /// Disconnected; the seat is reserved until `deadline` (DECISIONS D16).
    Away {
        /// When the reservation ends.
        deadline: Instant,
        /// What it missed, replayed on `Reconnect`.
        missed: ReplayBuffer,
    },
}

/// A player's seat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Seat {
    pub player_id: Uuid,
    pub name: String,
    pub joined_at: UnixMicros,
    pub connection_info: Option<ConnectionInfo>,
    /// Secret for `Reconnect`; rotated on every successful reconnect.
    pub token: String,
    pub presence: Presence,
    /// The version of the connection that holds or last held the seat: what it is sent,
    /// and buffered for replay, is in that version.
    pub version: ProtocolVersion,
    /// The player's epoch in this seat and the game data it relayed in it.
    pub stamp: Stamp,
}

/// A spectator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Watcher {
    pub spectator_id: Uuid,
    pub conn: ConnId,
    pub name: String,
    pub joined_at: UnixMicros,
    /// The version of its connection.
    pub version: ProtocolVersion,
}

/// One room of one game.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Room {
    pub id: Uuid,
    pub code: String,
    pub game: String,
    pub max_players: u8,
    pub supports_authority: bool,
    pub relay_type: String,
    /// In join order.
    pub seats: Vec<Seat>,
    /// In join order.
    pub watchers: Vec<Watcher>,
    pub authority: Option<Uuid>,
    pub lobby: LobbyState,
    /// Ready players in the order they readied.
    pub ready: Vec<Uuid>,
    pub last_activity: Instant,
    /// When the expiry timer entry is set.
    pub expiry_at: Instant,
    /// The app (index into `authorized_apps`) whose client created it.
    pub creator_app: Option<usize>,
    /// Spectators admitted in the current rate window (`rate_limit.max_spectator_joins_per_room`).
    pub spectator_admissions: AdmissionWindow,
    /// Players admitted in the current rate window (`rate_limit.max_player_joins_per_room`).
    pub player_admissions: AdmissionWindow,
}

impl Room {
    pub(crate) fn seat(&self, player_id: Uuid) -> Option<&Seat> {
        self.seats.iter().find(|s| s.player_id == player_id)
    }

    pub(crate) fn seat_mut(&mut self, player_id: Uuid) -> Option<&mut Seat> {
        self.seats.iter_mut().find(|s| s.player_id == player_id)
    }

    /// Full in the lobby sense: every seat taken. A single-seat room is full as soon as
    /// it exists, so a solo player can ready up and get `GameStarting` too (the
    /// documented behaviour; 0.2.0 left such rooms waiting forever).
    pub(crate) fn is_full_lobby(&self) -> bool {
        self.seats.len() == usize::from(self.max_players)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.seats.len() >= usize::from(self.max_players)
    }
}
