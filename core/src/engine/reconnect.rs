//! `Reconnect`: resuming a reserved seat (BEHAVIOUR §12, DECISIONS D15–D16).
//!
//! A seat whose connection still looks alive (a half-open socket the server has not
//! noticed yet) can be taken over with its token too: the old connection is closed and
//! the new one resumes, with nothing missed.

use std::time::Duration;

use super::cluster::Resolution;
use super::connection::Role;
use super::replay::ReplayBuffer;
use super::room::Presence;
use super::timers::Timer;
use super::{close_code, Engine, TombstoneReason};
use crate::cluster::DirectoryQuery;
use crate::event::{Action, ConnId};
use crate::protocol::{ErrorCode, RawJson, Reconnect, ServerMessage, Stamp};

impl Engine {
    pub(super) fn on_reconnect(&mut self, conn: ConnId, request: Reconnect, out: &mut Vec<Action>) {
        if let Err((reason, code)) = self.try_reconnect(conn, request, out) {
            self.counters.reconnection_validation_failures_total += 1;
            self.send(
                conn,
                &ServerMessage::ReconnectionFailed { reason: reason.to_owned(), error_code: code },
                out,
            );
        }
    }

    fn try_reconnect(
        &mut self,
        conn: ConnId,
        request: Reconnect,
        out: &mut Vec<Action>,
    ) -> Result<(), (&'static str, ErrorCode)> {
        if !self.config.server.enable_reconnection {
            return Err(("Reconnection is not enabled", ErrorCode::ReconnectionFailed));
        }
        let c = &self.conns[&conn];
        if c.role != Role::Idle {
            if c.player_id == request.player_id {
                return Err(("Player is already connected", ErrorCode::PlayerAlreadyConnected));
            }
            return Err(("Already in a room", ErrorCode::AlreadyInRoom));
        }
        if self.clustered() && !self.seat_index.contains_key(&request.player_id) {
            match self.resolution_for(conn) {
                Some(Resolution::Unavailable) => {
                    return Err((
                        "The room directory is unreachable; try again shortly",
                        ErrorCode::ServiceUnavailable,
                    ))
                }
                // No other node has the room: answered as a single server would.
                Some(_) => {}
                None => {
                    let query = DirectoryQuery::FindRoom { room_id: request.room_id };
                    return self.ask_directory(conn, query, out).map_err(|_| {
                        (
                            "This connection has moved between nodes too often; reconnect",
                            ErrorCode::ServiceUnavailable,
                        )
                    });
                }
            }
        }
        let Some(&key) = self.seat_index.get(&request.player_id) else {
            let window = Duration::from_secs(self.config.server.reconnection_window);
            let now = self.clock.now;
            let buried =
                self.reservations.tombstones.iter().rev().find(|t| {
                    t.player_id == request.player_id && now.saturating_duration_since(t.at) < window
                });
            return Err(match buried.map(|t| t.reason) {
                Some(TombstoneReason::Expired) => {
                    ("Reconnection window has expired", ErrorCode::ReconnectionExpired)
                }
                Some(TombstoneReason::BufferOverflow) => (
                    "Too many room events were missed while disconnected; the seat was released",
                    ErrorCode::ReconnectionExpired,
                ),
                Some(TombstoneReason::RoomGone) => ("Room no longer exists", ErrorCode::RoomNotFound),
                None => ("No disconnection record found", ErrorCode::ReconnectionFailed),
            });
        };
        let room = &self.rooms[&key];
        let seat = room.seat(request.player_id).expect("indexed seats exist");
        if !constant_time_eq(seat.token.as_bytes(), request.auth_token.as_bytes()) {
            return Err(("Invalid reconnection token", ErrorCode::ReconnectionTokenInvalid));
        }
        if room.id != request.room_id {
            return Err(("Reconnection token is invalid or expired", ErrorCode::ReconnectionExpired));
        }
        // What the seat missed was kept in the version it was taken with (v2 replays game
        // data, v3 stamps its control messages): only that version can be given it.
        if seat.version != self.conns[&conn].version {
            return Err((
                "The seat was taken with another protocol version; reconnect with the same one",
                ErrorCode::ReconnectionFailed,
            ));
        }

        // Take the seat over.
        let player_id = request.player_id;
        let new_token = self.rng.token();
        let room = self.rooms.get_mut(&key).expect("checked");
        let seat = room.seat_mut(player_id).expect("checked");
        seat.token = new_token;
        // A new epoch: what the player sends from now on is told apart from what it sent
        // before, by v3 recipients (DECISIONS D54).
        let version = self.conns[&conn].version;
        seat.stamp = Stamp { epoch: seat.stamp.epoch + 1, seq: 0 };
        seat.version = version;
        let epoch = seat.stamp.epoch;
        let previous = std::mem::replace(&mut seat.presence, Presence::Here(conn));
        let missed = match previous {
            Presence::Away { deadline, missed, .. } => {
                self.timers.cancel(deadline, Timer::Reservation(player_id));
                self.reporting.population.away_players -= 1;
                missed
            }
            Presence::Here(old) => {
                // The old connection is replaced: forget it without touching the seat.
                if let Some(old_conn) = self.conns.get_mut(&old) {
                    old_conn.role = Role::Idle;
                }
                self.close(old, close_code::POLICY, "session resumed on another connection", out);
                ReplayBuffer::default()
            }
        };
        let c = self.conns.get_mut(&conn).expect("checked");
        c.player_id = player_id;
        c.role = Role::Player(key);
        c.epoch = epoch;
        self.counters.reconnection_completions_total += 1;
        self.touch_room(key);

        let missed_events: Vec<RawJson> = missed
            .into_messages()
            .iter()
            .map(|frame| {
                let text = std::str::from_utf8(frame).expect("buffered frames are JSON text");
                RawJson::from_text(text.to_owned()).expect("buffered frames are JSON")
            })
            .collect();
        let room = &self.rooms[&key];
        let token = self.token_for(conn, room, player_id);
        let resumed =
            ServerMessage::Reconnected(Engine::reconnected(room, player_id, missed_events, token, version));
        self.send(conn, &resumed, out);
        let v2 = ServerMessage::PlayerReconnected { player_id, epoch: None };
        let v3 = ServerMessage::PlayerReconnected { player_id, epoch: Some(epoch) };
        self.deliver_by_version(key, &v2, &v3, Some(player_id), out);
        Ok(())
    }
}

/// Compares secrets without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
