//! `JoinRoom`: validation, rate limit, resolution, creation (BEHAVIOUR §4, DECISIONS D7,
//! D8, D18).

use std::time::Duration;

use super::admission::AdmissionWindow;
use super::cluster::Resolution;
use super::connection::Role;
use super::limits::RoomOperation;
use super::room::{Presence, Room, RoomKey, Seat};
use super::timers::Timer;
use super::{Engine, CODE_QUARANTINE, MAX_QUARANTINED_CODES, ROOM_CODE_ATTEMPTS};
use crate::cluster::{DirectoryQuery, DirectoryUpdate};
use crate::event::{Action, ConnId};
use crate::protocol::{ErrorCode, JoinRoom, LobbyState, ProtocolVersion, ServerMessage, Stamp};
use crate::validation::{normalize_room_code, validate_game_name, validate_player_name};

/// A refused join: reason text and code for `RoomJoinFailed`.
type Refusal = (String, ErrorCode);

impl Engine {
    pub(super) fn on_join_room(&mut self, conn: ConnId, request: JoinRoom, out: &mut Vec<Action>) {
        match self.try_join_room(conn, request, out) {
            Ok(()) => {}
            Err((reason, code)) => {
                if matches!(
                    code,
                    ErrorCode::InvalidGameName
                        | ErrorCode::InvalidPlayerName
                        | ErrorCode::InvalidMaxPlayers
                        | ErrorCode::InvalidRoomCode
                ) {
                    self.counters.validation_errors_total += 1;
                }
                self.send(conn, &ServerMessage::RoomJoinFailed { reason, error_code: Some(code) }, out);
            }
        }
    }

    fn try_join_room(
        &mut self,
        conn: ConnId,
        request: JoinRoom,
        out: &mut Vec<Action>,
    ) -> Result<(), Refusal> {
        let protocol = &self.config.protocol;
        validate_game_name(&request.game_name, protocol.max_game_name_length)
            .map_err(|r| (r, ErrorCode::InvalidGameName))?;
        validate_player_name(&request.player_name, protocol)
            .map_err(|r| (r, ErrorCode::InvalidPlayerName))?;
        let c = &self.conns[&conn];
        let app_limit = c.app.and_then(|i| self.config.security.authorized_apps[i].max_players_per_room);
        // A client that asks for nothing gets the server default, within its app's limit.
        let default = self.config.server.default_max_players.min(app_limit.unwrap_or(u8::MAX));
        let max_players = request.max_players.unwrap_or(default);
        if max_players < 1 {
            return Err(("Max players must be at least 1".to_owned(), ErrorCode::InvalidMaxPlayers));
        }
        let limit = protocol.max_players_limit.min(app_limit.unwrap_or(u8::MAX));
        if max_players > limit {
            return Err((format!("Max players cannot exceed {limit}"), ErrorCode::InvalidMaxPlayers));
        }
        if c.role != Role::Idle {
            return Err(("Already in a room".to_owned(), ErrorCode::AlreadyInRoom));
        }
        let code = match &request.room_code {
            Some(code) => Some(
                normalize_room_code(code, protocol.room_code_length)
                    .map_err(|r| (r, ErrorCode::InvalidRoomCode))?,
            ),
            None => None,
        };
        let ip = c.ip;
        let mut code = code;
        let existing = code
            .as_ref()
            .and_then(|code| self.directory.by_code.get(&(request.game_name.clone(), code.clone())))
            .copied();
        if existing.is_none() && self.clustered() {
            // Not a room here: the code must be claimed cluster-wide first (a chosen code
            // another node holds hands the connection to that node).
            match self.resolution_for(conn) {
                Some(Resolution::Claimed { code: granted, .. }) => code = Some(granted),
                Some(other) => {
                    if let Some(refusal) = Engine::refusal_of(&other) {
                        return Err(refusal);
                    }
                }
                None => {
                    let claim = match &code {
                        Some(code) => code.clone(),
                        None => self.generate_room_code(&request.game_name)?,
                    };
                    let query = DirectoryQuery::Claim { game: request.game_name.clone(), code: claim };
                    return self.ask_directory(conn, query, out);
                }
            }
        }
        // A chosen code that names no room creates one, and counts as a creation: the
        // creation quota must not be sidestepped by picking codes (DECISIONS D18).
        let operation = if existing.is_some() { RoomOperation::Join } else { RoomOperation::Create };
        self.check_rate_limit(ip, operation).map_err(|r| (r, ErrorCode::RateLimitExceeded))?;

        match existing {
            Some(key) => self.join_existing(conn, key, request, out),
            None => {
                let code = match code {
                    Some(code) => code,
                    None => self.generate_room_code(&request.game_name)?,
                };
                self.create_room(conn, code, max_players, request, out)
            }
        }
    }

    fn join_existing(
        &mut self,
        conn: ConnId,
        key: RoomKey,
        request: JoinRoom,
        out: &mut Vec<Action>,
    ) -> Result<(), Refusal> {
        let room = &self.rooms[&key];
        let lowered = request.player_name.to_lowercase();
        if room.seats.iter().any(|s| s.name.to_lowercase() == lowered) {
            return Err(("Player name already exists in this room".to_owned(), ErrorCode::InvalidPlayerName));
        }
        if room.is_full() {
            return Err(("Room is full".to_owned(), ErrorCode::RoomFull));
        }
        let window = Duration::from_secs(self.config.rate_limit.time_window);
        let max_admissions = self.config.rate_limit.max_player_joins_per_room;
        let now = self.clock.now;
        let room = self.rooms.get_mut(&key).expect("looked up above");
        if let Err(seconds_left) = room.player_admissions.admit(now, window, max_admissions) {
            // Join and leave announcements go to every member: however many addresses
            // ask, a room hears a bounded number of them (DECISIONS D35).
            self.counters.rate_limit_rejections_total += 1;
            let reason =
                format!("Too many players joined this room recently. Try again in {seconds_left} seconds.");
            return Err((reason, ErrorCode::RateLimitExceeded));
        }
        let seat = self.new_seat(conn, request.player_name);
        let player_id = seat.player_id;
        let room = self.rooms.get_mut(&key).expect("looked up above");
        debug_assert_eq!(room.lobby, LobbyState::Waiting, "a room that is not full is waiting");
        room.seats.push(seat);
        self.seat_index.insert(player_id, key);
        self.conns.get_mut(&conn).expect("caller checked").role = Role::Player(key);
        self.touch_room(key);
        self.counters.rooms_joined_total += 1;
        self.counters.players_joined_total += 1;

        let room = &self.rooms[&key];
        let token = self.token_for(conn, room, player_id);
        let version = self.conns[&conn].version;
        let joined = ServerMessage::RoomJoined(Engine::room_joined(room, player_id, token, version));
        let seat = room.seat(player_id).expect("just seated");
        let announce =
            |version| ServerMessage::PlayerJoined { player: Engine::player_info(room, seat, version) };
        let (v2, v3) = (announce(ProtocolVersion::V2), announce(ProtocolVersion::V3));
        let now_full = room.is_full_lobby();
        self.send(conn, &joined, out);
        self.deliver_by_version(key, &v2, &v3, Some(player_id), out);
        if now_full {
            self.enter_lobby(key, out);
        }
        Ok(())
    }

    fn create_room(
        &mut self,
        conn: ConnId,
        code: String,
        max_players: u8,
        request: JoinRoom,
        out: &mut Vec<Action>,
    ) -> Result<(), Refusal> {
        let server = &self.config.server;
        if self.rooms.len() >= server.max_rooms {
            return Err((
                format!("Server room limit reached ({} rooms)", server.max_rooms),
                ErrorCode::RoomCreationFailed,
            ));
        }
        self.counters.room_cap_checks_total += 1;
        let in_game = self.directory.per_game.get(&request.game_name).copied().unwrap_or(0);
        if in_game >= server.max_rooms_per_game {
            self.counters.room_cap_denials_total += 1;
            return Err((
                format!(
                    "Game `{}` already has {in_game} rooms (limit {})",
                    request.game_name, server.max_rooms_per_game
                ),
                ErrorCode::MaxRoomsPerGameExceeded,
            ));
        }
        let app = self.conns[&conn].app;
        if let Some(index) = app {
            let entry = &self.config.security.authorized_apps[index];
            let in_app = self.directory.per_app.get(&index).copied().unwrap_or(0);
            if let Some(limit) = entry.max_rooms {
                if in_app >= limit as usize {
                    self.counters.room_cap_denials_total += 1;
                    return Err((
                        format!("App `{}` already has {in_app} rooms (limit {limit})", entry.app_id),
                        ErrorCode::MaxRoomsPerGameExceeded,
                    ));
                }
            }
        }

        let supports_authority = request.supports_authority.unwrap_or(true);
        let relay_type = self
            .config
            .relay_types
            .game_relay_mappings
            .get(&request.game_name)
            .unwrap_or(&self.config.relay_types.default_relay_type)
            .clone();
        let seat = self.new_seat(conn, request.player_name);
        let player_id = seat.player_id;
        let key = RoomKey(self.directory.next_key);
        self.directory.next_key += 1;
        let expiry_at = self.clock.now + Duration::from_secs(self.config.server.inactive_room_timeout);
        let room = Room {
            id: self.rng.uuid_v4(),
            code: code.clone(),
            game: request.game_name.clone(),
            max_players,
            supports_authority,
            relay_type,
            seats: vec![seat],
            watchers: Vec::new(),
            authority: supports_authority.then_some(player_id),
            lobby: LobbyState::Waiting,
            ready: Vec::new(),
            last_activity: self.clock.now,
            expiry_at,
            creator_app: app,
            spectator_admissions: AdmissionWindow::default(),
            player_admissions: AdmissionWindow::default(),
        };
        self.timers.schedule(expiry_at, Timer::RoomExpiry(key));
        let (game, room_id) = (&request.game_name, room.id);
        self.publish(
            || DirectoryUpdate::RoomCreated { game: game.clone(), code: code.clone(), room_id },
            out,
        );
        self.directory.by_code.insert((request.game_name.clone(), code), key);
        *self.directory.per_game.entry(request.game_name).or_default() += 1;
        if let Some(index) = app {
            *self.directory.per_app.entry(index).or_default() += 1;
        }
        self.rooms.insert(key, room);
        self.seat_index.insert(player_id, key);
        self.conns.get_mut(&conn).expect("caller checked").role = Role::Player(key);
        self.counters.rooms_created_total += 1;
        self.counters.players_joined_total += 1;

        let room = &self.rooms[&key];
        let token = self.token_for(conn, room, player_id);
        let version = self.conns[&conn].version;
        let joined = ServerMessage::RoomJoined(Engine::room_joined(room, player_id, token, version));
        let now_full = room.is_full_lobby();
        self.send(conn, &joined, out);
        if now_full {
            self.enter_lobby(key, out);
        }
        Ok(())
    }

    /// The room just filled: a new ready round starts (D9).
    fn enter_lobby(&mut self, key: RoomKey, out: &mut Vec<Action>) {
        let room = self.rooms.get_mut(&key).expect("caller holds a live key");
        room.lobby = LobbyState::Lobby;
        room.ready.clear();
        let changed = ServerMessage::LobbyStateChanged {
            lobby_state: LobbyState::Lobby,
            ready_players: Vec::new(),
            all_ready: false,
        };
        self.deliver_message(key, &changed, None, out);
    }

    /// The reconnection token to put on the wire: for v3 connections, and v2 ones that
    /// opted in (DECISIONS D15, D56).
    pub(super) fn token_for(&self, conn: ConnId, room: &Room, player_id: uuid::Uuid) -> Option<String> {
        if self.conns[&conn].keeps_seat() && self.config.server.enable_reconnection {
            room.seat(player_id).map(|s| s.token.clone())
        } else {
            None
        }
    }

    /// A seat for `conn`'s player, in the player's next epoch.
    fn new_seat(&mut self, conn: ConnId, name: String) -> Seat {
        let joined_at = self.unix_now();
        let token = self.rng.token();
        let c = self.conns.get_mut(&conn).expect("caller checked");
        c.epoch += 1;
        Seat {
            player_id: c.player_id,
            name,
            joined_at,
            connection_info: None,
            token,
            presence: Presence::Here(conn),
            version: c.version,
            stamp: Stamp { epoch: c.epoch, seq: 0 },
        }
    }

    /// A code unused by any live room of this game and not recently freed (D7).
    pub(super) fn generate_room_code(&mut self, game: &str) -> Result<String, Refusal> {
        self.purge_quarantine();
        let length = self.config.protocol.room_code_length;
        let prefix: String = self
            .config
            .server
            .room_code_prefix
            .as_deref()
            .map(|p| p.trim().to_ascii_uppercase())
            .unwrap_or_default();
        for _ in 0..ROOM_CODE_ATTEMPTS {
            let code = format!("{prefix}{}", self.rng.room_code(length - prefix.len()));
            let candidate = (game.to_owned(), code);
            if !self.directory.by_code.contains_key(&candidate)
                && !self.directory.quarantined.contains(&candidate)
            {
                return Ok(candidate.1);
            }
        }
        Err(("Could not generate a unique room code".to_owned(), ErrorCode::RoomCreationFailed))
    }

    /// Keeps a freed code out of generation for a while (bounded).
    pub(super) fn quarantine_code(&mut self, game: String, code: String) {
        self.purge_quarantine();
        if self.directory.quarantine.len() >= MAX_QUARANTINED_CODES {
            if let Some((_, g, c)) = self.directory.quarantine.pop_front() {
                self.directory.quarantined.remove(&(g, c));
            }
        }
        if self.directory.quarantined.insert((game.clone(), code.clone())) {
            self.directory.quarantine.push_back((self.clock.now + CODE_QUARANTINE, game, code));
        }
    }

    fn purge_quarantine(&mut self) {
        while self.directory.quarantine.front().is_some_and(|(until, _, _)| *until <= self.clock.now) {
            if let Some((_, g, c)) = self.directory.quarantine.pop_front() {
                self.directory.quarantined.remove(&(g, c));
            }
        }
    }
}
