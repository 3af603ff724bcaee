//! Read-only views of engine state for tools, simulators and reference models.

use uuid::Uuid;

use super::room::Presence;
use super::timers::Timer;
use super::Engine;
use crate::event::ConnId;
use crate::protocol::LobbyState;
use crate::Instant;

/// One room as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSummary {
    /// Game name.
    pub game: String,
    /// Room code.
    pub code: String,
    /// Room id.
    pub room_id: Uuid,
    /// Capacity.
    pub max_players: u8,
    /// Players in join order: id and connection (`None` while a seat is reserved).
    pub players: Vec<(Uuid, Option<ConnId>)>,
    /// Spectators in join order: id and connection.
    pub spectators: Vec<(Uuid, ConnId)>,
    /// Lobby state.
    pub lobby: LobbyState,
    /// Ready players in the order they readied.
    pub ready: Vec<Uuid>,
    /// Authority holder.
    pub authority: Option<Uuid>,
}

impl Engine {
    /// Every room, in creation order.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        self.rooms
            .values()
            .map(|room| RoomSummary {
                game: room.game.clone(),
                code: room.code.clone(),
                room_id: room.id,
                max_players: room.max_players,
                players: room
                    .seats
                    .iter()
                    .map(|s| {
                        let conn = match s.presence {
                            Presence::Here(conn) => Some(conn),
                            Presence::Away { .. } => None,
                        };
                        (s.player_id, conn)
                    })
                    .collect(),
                spectators: room.watchers.iter().map(|w| (w.spectator_id, w.conn)).collect(),
                lobby: room.lobby,
                ready: room.ready.clone(),
                authority: room.authority,
            })
            .collect()
    }

    /// Live connections in id order.
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Every pending timer, earliest first: its deadline and what it is for, in words
    /// (`liveness of c3`, `seat reservation of player <id>`, …). Some deadlines are re-armed
    /// lazily, so an entry may fire only to be scheduled again later; the first one is
    /// [`Engine::poll_timeout`].
    pub fn pending_timers(&self) -> Vec<(Instant, String)> {
        self.timers
            .iter()
            .map(|(at, timer)| {
                let what = match timer {
                    Timer::AuthDeadline(conn) => format!("authentication deadline of {conn}"),
                    Timer::Liveness(conn) => format!("liveness of {conn}"),
                    Timer::Reservation(player) => format!("seat reservation of player {player}"),
                    Timer::RoomExpiry(key) => match self.rooms.get(key) {
                        Some(room) => format!("expiry of room {}", room.code),
                        None => "expiry of a removed room".to_owned(),
                    },
                    Timer::IpWindow(ip) => format!("rate window of {ip}"),
                    Timer::Dashboard => "dashboard sample".to_owned(),
                };
                (*at, what)
            })
            .collect()
    }
}
