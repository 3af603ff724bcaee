//! Read-only views of engine state for tools, simulators and reference models.

use uuid::Uuid;

use super::room::Presence;
use super::Engine;
use crate::event::ConnId;
use crate::protocol::LobbyState;

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
}
