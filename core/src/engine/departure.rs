//! Leaving: `LeaveRoom`, disconnects (with seat reservation, DECISIONS D16), reservation
//! expiry, and room removal (D10, D11, D13).

use std::time::Duration;

use uuid::Uuid;

use super::connection::Role;
use super::replay::ReplayBuffer;
use super::room::{Presence, RoomKey};
use super::timers::Timer;
use super::{Engine, TombstoneReason};
use crate::cluster::DirectoryUpdate;
use crate::event::{Action, CloseCause, ConnId};
use crate::protocol::{LobbyState, ServerMessage, SpectatorStateChangeReason};
use crate::Instant;

impl Engine {
    pub(super) fn on_leave_room(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let c = &self.conns[&conn];
        let Role::Player(key) = c.role else { return };
        let player_id = c.player_id;
        self.remove_player(key, player_id, Some(conn), out);
    }

    /// Forgets a connection: releases its IP slot and timers; a spectator is detached; a
    /// player keeps its seat when it speaks v3 or opted in to reconnection, else leaves
    /// for good.
    pub(super) fn drop_connection(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        self.drop_connection_because(conn, CloseCause::ClientClosed, out);
    }

    /// [`Engine::drop_connection`], with why the socket ended (which a forwarded
    /// connection's owner is told, in cluster mode).
    pub(super) fn drop_connection_because(&mut self, conn: ConnId, cause: CloseCause, out: &mut Vec<Action>) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.counters.disconnections_total += 1;
        if let Some(at) = c.auth_deadline {
            self.timers.cancel(at, Timer::AuthDeadline(conn));
        }
        self.timers.cancel(c.liveness_at, Timer::Liveness(conn));
        self.release_ip(c.ip);
        match c.role {
            Role::Idle | Role::Resolving | Role::Forwarded => {}
            Role::Mesh(key) => self.mesh_leave(key, c.player_id, out),
            Role::Spectator(key) => {
                self.detach_spectator(key, c.player_id, SpectatorStateChangeReason::Disconnected, None, out)
            }
            Role::Player(key) => {
                if c.keeps_seat() && self.config.server.enable_reconnection {
                    self.reserve_seat(key, c.player_id);
                } else {
                    self.remove_player(key, c.player_id, None, out);
                }
            }
        }
        if self.clustered() {
            self.drop_cluster_role(conn, c.role, Some(cause), out);
        }
    }

    fn reserve_seat(&mut self, key: RoomKey, player_id: Uuid) {
        let deadline = self.clock.now + Duration::from_secs(self.config.server.reconnection_window);
        let room = self.rooms.get_mut(&key).expect("seated players have rooms");
        let seat = room.seat_mut(player_id).expect("seated players have seats");
        seat.presence = Presence::Away { deadline, missed: ReplayBuffer::default() };
        self.reporting.population.away_players += 1;
        self.timers.schedule(deadline, Timer::Reservation(player_id));
        self.counters.reconnection_tokens_issued_total += 1;
    }

    pub(super) fn on_reservation_deadline(&mut self, player_id: Uuid, at: Instant, out: &mut Vec<Action>) {
        let Some(&key) = self.seat_index.get(&player_id) else { return };
        let due = matches!(
            self.rooms[&key].seat(player_id).map(|s| &s.presence),
            Some(Presence::Away { deadline, .. }) if *deadline == at
        );
        if due {
            self.end_reservation(player_id, TombstoneReason::Expired, out);
        }
    }

    /// The away player leaves for good; a later `Reconnect` learns why.
    pub(super) fn end_reservation(&mut self, player_id: Uuid, why: TombstoneReason, out: &mut Vec<Action>) {
        let Some(&key) = self.seat_index.get(&player_id) else { return };
        let room = &self.rooms[&key];
        if !matches!(room.seat(player_id).map(|s| &s.presence), Some(Presence::Away { .. })) {
            return;
        }
        self.remove_player(key, player_id, None, out);
        self.bury(player_id, why);
    }

    /// Removes a player from its room for good. `leaver` is the connection that asked
    /// (it gets `RoomLeft`). Others get `PlayerLeft`, then `AuthorityChanged{null}` if it
    /// held authority (D13), then `LobbyStateChanged{waiting}` if a lobby round ends (D9).
    pub(super) fn remove_player(
        &mut self,
        key: RoomKey,
        player_id: Uuid,
        leaver: Option<ConnId>,
        out: &mut Vec<Action>,
    ) {
        let room = self.rooms.get_mut(&key).expect("seated players have rooms");
        let Some(index) = room.seats.iter().position(|s| s.player_id == player_id) else { return };
        let seat = room.seats.remove(index);
        if let Presence::Away { deadline, .. } = seat.presence {
            self.timers.cancel(deadline, Timer::Reservation(player_id));
            self.reporting.population.away_players -= 1;
        }
        let held_authority = room.authority == Some(player_id);
        if held_authority {
            room.authority = None;
        }
        room.ready.retain(|p| *p != player_id);
        let lobby_ended = room.lobby != LobbyState::Waiting;
        if lobby_ended {
            room.lobby = LobbyState::Waiting;
            room.ready.clear();
        }
        self.seat_index.remove(&player_id);
        self.reservations.evictions.retain(|p| *p != player_id);
        self.counters.players_left_total += 1;
        if let Some(conn) = leaver {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.role = Role::Idle;
            }
            self.send(conn, &ServerMessage::RoomLeft, out);
        }
        let v2 = ServerMessage::PlayerLeft { player_id, epoch: None, final_seq: None };
        let v3 = ServerMessage::PlayerLeft {
            player_id,
            epoch: Some(seat.stamp.epoch),
            final_seq: Some(seat.stamp.seq),
        };
        self.deliver_by_version(key, &v2, &v3, None, out);
        if held_authority {
            self.counters.authority_transfers_total += 1;
            self.deliver_authority_changed(key, None, out);
        }
        if lobby_ended {
            let waiting = ServerMessage::LobbyStateChanged {
                lobby_state: LobbyState::Waiting,
                ready_players: Vec::new(),
                all_ready: false,
            };
            self.deliver_message(key, &waiting, None, out);
        }
        self.touch_room(key);
    }

    /// Records room activity (D11). The expiry deadline only moves earlier when the room
    /// has just emptied; then the timer is re-armed, otherwise it re-arms lazily.
    pub(super) fn touch_room(&mut self, key: RoomKey) {
        let now = self.clock.now;
        let room = self.rooms.get_mut(&key).expect("caller holds a live key");
        room.last_activity = now;
        let deadline = self.room_deadline(key);
        let room = self.rooms.get_mut(&key).expect("caller holds a live key");
        if deadline < room.expiry_at {
            self.timers.cancel(room.expiry_at, Timer::RoomExpiry(key));
            room.expiry_at = deadline;
            self.timers.schedule(deadline, Timer::RoomExpiry(key));
        }
    }

    fn room_deadline(&self, key: RoomKey) -> Instant {
        let room = &self.rooms[&key];
        let server = &self.config.server;
        let timeout =
            if room.seats.is_empty() { server.empty_room_timeout } else { server.inactive_room_timeout };
        room.last_activity + Duration::from_secs(timeout)
    }

    pub(super) fn on_room_expiry_timer(&mut self, key: RoomKey, at: Instant, out: &mut Vec<Action>) {
        let Some(room) = self.rooms.get(&key) else { return };
        if room.expiry_at != at {
            return;
        }
        let deadline = self.room_deadline(key);
        if deadline > self.clock.now {
            let room = self.rooms.get_mut(&key).expect("checked");
            room.expiry_at = deadline;
            self.timers.schedule(deadline, Timer::RoomExpiry(key));
            return;
        }
        if self.rooms[&key].seats.is_empty() {
            self.counters.cleanup_empty_rooms_total += 1;
        } else {
            self.counters.cleanup_inactive_rooms_total += 1;
        }
        self.delete_room(key, out);
    }

    /// Removes a room; members are told and unbound (D11): players get `RoomLeft`,
    /// spectators `SpectatorLeft{room_closed}`, away players lose their reservation.
    pub(super) fn delete_room(&mut self, key: RoomKey, out: &mut Vec<Action>) {
        let Some(room) = self.rooms.remove(&key) else { return };
        self.timers.cancel(room.expiry_at, Timer::RoomExpiry(key));
        for seat in &room.seats {
            self.seat_index.remove(&seat.player_id);
            self.reservations.evictions.retain(|p| *p != seat.player_id);
            self.counters.players_left_total += 1;
            match seat.presence {
                Presence::Here(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.role = Role::Idle;
                    }
                    self.send(conn, &ServerMessage::RoomLeft, out);
                }
                Presence::Away { deadline, .. } => {
                    self.timers.cancel(deadline, Timer::Reservation(seat.player_id));
                    self.reporting.population.away_players -= 1;
                    self.bury(seat.player_id, TombstoneReason::RoomGone);
                }
            }
        }
        let closed = ServerMessage::SpectatorLeft {
            room_id: Some(room.id),
            room_code: Some(room.code.clone()),
            reason: Some(SpectatorStateChangeReason::RoomClosed),
            current_spectators: Vec::new(),
        };
        self.reporting.population.spectators -= room.watchers.len();
        for watcher in &room.watchers {
            if let Some(c) = self.conns.get_mut(&watcher.conn) {
                c.role = Role::Idle;
            }
            self.send(watcher.conn, &closed, out);
        }
        self.directory.by_code.remove(&(room.game.clone(), room.code.clone()));
        if let Some(count) = self.directory.per_game.get_mut(&room.game) {
            *count -= 1;
            if *count == 0 {
                self.directory.per_game.remove(&room.game);
            }
        }
        if let Some(app) = room.creator_app {
            if let Some(count) = self.directory.per_app.get_mut(&app) {
                *count -= 1;
                if *count == 0 {
                    self.directory.per_app.remove(&app);
                }
            }
        }
        self.counters.rooms_deleted_total += 1;
        let update = || DirectoryUpdate::RoomRemoved {
            game: room.game.clone(),
            code: room.code.clone(),
            room_id: Some(room.id),
        };
        self.publish(update, out);
        self.quarantine_code(room.game, room.code);
    }
}
