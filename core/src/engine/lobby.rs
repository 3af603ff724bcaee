//! The lobby: ready toggles, game start, connection info (BEHAVIOUR §6, DECISIONS D9).

use super::connection::Role;
use super::Engine;
use crate::event::{Action, ConnId};
use crate::protocol::{ConnectionInfo, ErrorCode, LobbyState, ServerMessage};

impl Engine {
    pub(super) fn on_player_ready(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let c = &self.conns[&conn];
        let (Role::Player(key), player_id) = (c.role, c.player_id) else {
            self.send(conn, &ServerMessage::error("Not in a room", ErrorCode::NotInRoom), out);
            return;
        };
        let room = self.rooms.get_mut(&key).expect("players have rooms");
        if room.lobby != LobbyState::Lobby {
            let text =
                "Cannot change ready status. Room must be in lobby state (full with all players joined).";
            self.send(conn, &ServerMessage::error(text, ErrorCode::InvalidRoomState), out);
            return;
        }
        if let Some(at) = room.ready.iter().position(|p| *p == player_id) {
            room.ready.remove(at);
        } else {
            room.ready.push(player_id);
        }
        let all_ready = room.ready.len() == room.seats.len();
        if all_ready {
            room.lobby = LobbyState::Finalized;
        }
        let changed = ServerMessage::LobbyStateChanged {
            lobby_state: room.lobby,
            ready_players: room.ready.clone(),
            all_ready,
        };
        let starting = all_ready
            .then(|| ServerMessage::GameStarting { peer_connections: Engine::peer_connections(room) });
        self.touch_room(key);
        self.deliver_message(key, &changed, None, out);
        if let Some(starting) = starting {
            self.deliver_message(key, &starting, None, out);
        }
    }

    /// `StartGame` from SDKs written for newer servers: the game starts by itself when
    /// every player is ready (D9), so once it is starting the request is a silent no-op;
    /// before, it is refused.
    pub(super) fn on_start_game(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let Role::Player(key) = self.conns[&conn].role else {
            self.send(conn, &ServerMessage::error("Not in a room", ErrorCode::NotInRoom), out);
            return;
        };
        if self.rooms[&key].lobby != LobbyState::Finalized {
            let text = "Cannot start the game: it starts when every player is ready";
            self.send(conn, &ServerMessage::error(text, ErrorCode::InvalidRoomState), out);
        }
    }

    pub(super) fn on_provide_connection_info(
        &mut self,
        conn: ConnId,
        info: ConnectionInfo,
        out: &mut Vec<Action>,
    ) {
        let c = &self.conns[&conn];
        let (Role::Player(key), player_id) = (c.role, c.player_id) else {
            self.send(conn, &ServerMessage::error("Not in a room", ErrorCode::NotInRoom), out);
            return;
        };
        let room = self.rooms.get_mut(&key).expect("players have rooms");
        if let Some(seat) = room.seat_mut(player_id) {
            seat.connection_info = Some(info);
        }
        self.touch_room(key);
    }
}
