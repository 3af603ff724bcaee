//! Spectators (BEHAVIOUR §11, DECISIONS D14).
//!
//! Failures to join are answered with `SpectatorJoinFailed` (the documented message):
//! the official SDKs only release a pending spectator join on `SpectatorJoined` or
//! `SpectatorJoinFailed`, so an `Error` there would wedge them.

use std::time::Duration;

use uuid::Uuid;

use super::connection::Role;
use super::limits::RoomOperation;
use super::room::{RoomKey, Watcher};
use super::Engine;
use crate::cluster::DirectoryQuery;
use crate::event::{Action, ConnId};
use crate::protocol::{
    ErrorCode, JoinAsSpectator, ServerMessage, SpectatorInfo, SpectatorJoinedPayload,
    SpectatorStateChangeReason,
};
use crate::validation::{normalize_room_code, validate_game_name, validate_player_name};

impl Engine {
    pub(super) fn on_join_as_spectator(
        &mut self,
        conn: ConnId,
        request: JoinAsSpectator,
        out: &mut Vec<Action>,
    ) {
        match self.try_join_as_spectator(conn, request, out) {
            Ok(()) => {}
            Err((reason, code)) => {
                if code == ErrorCode::InvalidPlayerName {
                    self.counters.validation_errors_total += 1;
                }
                self.send(conn, &ServerMessage::SpectatorJoinFailed { reason, error_code: Some(code) }, out);
            }
        }
    }

    fn try_join_as_spectator(
        &mut self,
        conn: ConnId,
        request: JoinAsSpectator,
        out: &mut Vec<Action>,
    ) -> Result<(), (String, ErrorCode)> {
        validate_player_name(&request.spectator_name, &self.config.protocol)
            .map_err(|r| (r, ErrorCode::InvalidPlayerName))?;
        let c = &self.conns[&conn];
        if c.role != Role::Idle {
            return Err(("Already in a room".to_owned(), ErrorCode::AlreadyInRoom));
        }
        let (spectator_id, ip) = (c.player_id, c.ip);
        if self.clustered() {
            let code = request.room_code.to_ascii_uppercase();
            // A name or code no join accepts is no room's on any node: nothing to ask (and
            // no client's junk becomes a Redis key); it is "Room not found" below.
            let protocol = &self.config.protocol;
            let could_exist = validate_game_name(&request.game_name, protocol.max_game_name_length).is_ok()
                && normalize_room_code(&code, protocol.room_code_length).is_ok();
            if could_exist && !self.directory.by_code.contains_key(&(request.game_name.clone(), code.clone()))
            {
                match self.resolution_for(conn) {
                    Some(resolution) => {
                        if let Some(refusal) = Engine::refusal_of(&resolution) {
                            return Err(refusal);
                        }
                    }
                    None => {
                        let query = DirectoryQuery::FindCode { game: request.game_name.clone(), code };
                        return self.ask_directory(conn, query, out);
                    }
                }
            }
        }
        // Every spectator join counts against the IP's join attempts, and every admission
        // against the room's own window, so no one (however many addresses they have)
        // can flood a room's members with spectator announcements (DECISIONS D18).
        self.check_rate_limit(ip, RoomOperation::Join).map_err(|r| (r, ErrorCode::RateLimitExceeded))?;
        let code = request.room_code.to_ascii_uppercase();
        let Some(&key) = self.directory.by_code.get(&(request.game_name, code)) else {
            return Err(("Room not found".to_owned(), ErrorCode::RoomNotFound));
        };
        let cap = self.config.server.max_spectators_per_room;
        let window = Duration::from_secs(self.config.rate_limit.time_window);
        let max_admissions = self.config.rate_limit.max_spectator_joins_per_room;
        let (now, joined_at) = (self.clock.now, self.unix_now());
        let room = self.rooms.get_mut(&key).expect("indexed rooms exist");
        if room.watchers.len() >= cap {
            return Err(("Spectator limit reached".to_owned(), ErrorCode::TooManySpectators));
        }
        if let Err(seconds_left) = room.spectator_admissions.admit(now, window, max_admissions) {
            self.counters.rate_limit_rejections_total += 1;
            let reason = format!(
                "Too many spectators joined this room recently. Try again in {seconds_left} seconds."
            );
            return Err((reason, ErrorCode::RateLimitExceeded));
        }
        let version = self.conns[&conn].version;
        room.watchers.push(Watcher { spectator_id, conn, name: request.spectator_name, joined_at, version });
        self.reporting.population.spectators += 1;
        self.conns.get_mut(&conn).expect("checked").role = Role::Spectator(key);

        let room = &self.rooms[&key];
        let spectators = Engine::spectator_infos(room);
        let me = spectators.last().cloned().expect("just added");
        let joined = ServerMessage::SpectatorJoined(SpectatorJoinedPayload {
            room_id: room.id,
            room_code: room.code.clone(),
            spectator_id,
            game_name: room.game.clone(),
            current_players: Engine::player_infos(room, version),
            current_spectators: spectators.clone(),
            lobby_state: room.lobby,
            reason: Some(SpectatorStateChangeReason::Joined),
        });
        self.send(conn, &joined, out);
        let announce = ServerMessage::NewSpectatorJoined {
            spectator: me,
            current_spectators: spectators,
            reason: Some(SpectatorStateChangeReason::Joined),
        };
        self.deliver_message(key, &announce, Some(spectator_id), out);
        Ok(())
    }

    pub(super) fn on_leave_spectator(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let c = &self.conns[&conn];
        let Role::Spectator(key) = c.role else {
            let text = "You are not currently spectating a room";
            self.send(conn, &ServerMessage::error(text, ErrorCode::NotASpectator), out);
            return;
        };
        let spectator_id = c.player_id;
        self.conns.get_mut(&conn).expect("checked").role = Role::Idle;
        self.detach_spectator(key, spectator_id, SpectatorStateChangeReason::VoluntaryLeave, Some(conn), out);
    }

    /// Removes a spectator: `SpectatorLeft` to it (when still connected), then
    /// `SpectatorDisconnected` to the room.
    pub(super) fn detach_spectator(
        &mut self,
        key: RoomKey,
        spectator_id: Uuid,
        reason: SpectatorStateChangeReason,
        leaver: Option<ConnId>,
        out: &mut Vec<Action>,
    ) {
        let Some(room) = self.rooms.get_mut(&key) else { return };
        let before = room.watchers.len();
        room.watchers.retain(|w| w.spectator_id != spectator_id);
        self.reporting.population.spectators -= before - room.watchers.len();
        let remaining: Vec<SpectatorInfo> = Engine::spectator_infos(room);
        let (room_id, room_code) = (room.id, room.code.clone());
        if let Some(conn) = leaver {
            let left = ServerMessage::SpectatorLeft {
                room_id: Some(room_id),
                room_code: Some(room_code),
                reason: Some(reason),
                current_spectators: remaining.clone(),
            };
            self.send(conn, &left, out);
        }
        let gone = ServerMessage::SpectatorDisconnected {
            spectator_id,
            reason: Some(reason),
            current_spectators: remaining,
        };
        self.deliver_message(key, &gone, None, out);
    }
}
