//! Room fan-out: the one place a message goes to every member of a room (DECISIONS D10,
//! D14, D16).
//!
//! Members are the seated players in join order (connected ones get a frame, away ones
//! get it buffered for replay, D16) and then the spectators in join order. The caller
//! chooses each member's frame: the same shared bytes for most messages, a personalised
//! one for `AuthorityChanged`, a rendering per game-data format for binary payloads, one
//! per protocol version for what v3 stamps (DECISIONS D54).
//!
//! What an away v3 player would get is buffered for replay only if it is a room-control
//! message (v3 replays no game data: its watermarks say what was missed, D56).

use bytes::Bytes;
use uuid::Uuid;

use super::replay::is_replayable_on_v3;
use super::room::{Presence, RoomKey};
use super::{buffer_for_away, Engine, ReplayLimits};
use crate::event::{Action, Outbound};
use crate::protocol::{GameDataEncoding, ProtocolVersion, ServerMessage};

/// One member of a room, as the fan-out asks about it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Member {
    /// A player or spectator with a live connection, the game-data format it chose and
    /// the protocol version it speaks.
    Connected { id: Uuid, format: GameDataEncoding, version: ProtocolVersion },
    /// A player whose seat is reserved: what it gets is buffered for replay, which is
    /// JSON text, so only [`Outbound::Text`] may be returned for it.
    Away { id: Uuid, version: ProtocolVersion },
}

impl Member {
    /// The protocol version the member's message must be in.
    pub(super) fn version(self) -> ProtocolVersion {
        match self {
            Member::Connected { version, .. } | Member::Away { version, .. } => version,
        }
    }
}

/// What a fan-out did.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FanOut {
    /// Frames sent to connected members.
    pub sent: u64,
    /// Connected members the caller had no frame for.
    pub skipped: u64,
}

impl Engine {
    /// Sends to every member of room `key` but `skip` the frame `message_for` chooses for
    /// it (`None`: nothing for that member). With `by_format` false every connected
    /// member is reported as JSON, and its connection is not looked up (the common case:
    /// one shared text frame).
    pub(super) fn fan_out(
        &mut self,
        key: RoomKey,
        skip: Option<Uuid>,
        by_format: bool,
        out: &mut Vec<Action>,
        mut message_for: impl FnMut(Member) -> Option<Outbound>,
    ) -> FanOut {
        let mut done = FanOut::default();
        let Some(room) = self.rooms.get_mut(&key) else { return done };
        let limits = ReplayLimits::of(&self.config);
        let conns = &self.conns;
        let format = |conn| match by_format {
            true => conns.get(&conn).map_or(GameDataEncoding::Json, |c| c.format),
            false => GameDataEncoding::Json,
        };
        for seat in &mut room.seats {
            if Some(seat.player_id) == skip {
                continue;
            }
            match &mut seat.presence {
                Presence::Here(conn) => {
                    let member = Member::Connected {
                        id: seat.player_id,
                        format: format(*conn),
                        version: seat.version,
                    };
                    match message_for(member) {
                        Some(frame) => {
                            done.sent += 1;
                            out.push(Action::Send { conn: *conn, message: frame });
                        }
                        None => done.skipped += 1,
                    }
                }
                Presence::Away { missed, .. } => {
                    match message_for(Member::Away { id: seat.player_id, version: seat.version }) {
                        Some(Outbound::Text(text)) if seat.version.is_v3() && !is_replayable_on_v3(&text) => {
                        }
                        Some(Outbound::Text(text)) => buffer_for_away(
                            seat.player_id,
                            missed,
                            text,
                            limits,
                            &mut self.counters,
                            &mut self.reservations.evictions,
                        ),
                        Some(Outbound::Binary(_)) => unreachable!("replay is JSON: away members get text"),
                        None => {}
                    }
                }
            }
        }
        for watcher in &room.watchers {
            if Some(watcher.spectator_id) == skip {
                continue;
            }
            let member = Member::Connected {
                id: watcher.spectator_id,
                format: format(watcher.conn),
                version: watcher.version,
            };
            match message_for(member) {
                Some(frame) => {
                    done.sent += 1;
                    out.push(Action::Send { conn: watcher.conn, message: frame });
                }
                None => done.skipped += 1,
            }
        }
        self.counters.frames_sent_total += done.sent;
        done
    }

    /// The connection of a connected member of room `key` (player or spectator).
    pub(super) fn member_conn(&self, key: RoomKey, id: Uuid) -> Option<crate::event::ConnId> {
        let room = self.rooms.get(&key)?;
        let seated = room.seat(id).and_then(|seat| match seat.presence {
            Presence::Here(conn) => Some(conn),
            Presence::Away { .. } => None,
        });
        seated.or_else(|| room.watchers.iter().find(|w| w.spectator_id == id).map(|w| w.conn))
    }

    /// Sends the same text frame to every member of room `key` but `skip`.
    pub(super) fn deliver(
        &mut self,
        key: RoomKey,
        frame: &Bytes,
        skip: Option<Uuid>,
        out: &mut Vec<Action>,
    ) -> FanOut {
        self.fan_out(key, skip, false, out, |_| Some(Outbound::Text(frame.clone())))
    }

    /// Sends `v2` to the v2 members of room `key` but `skip`, and `v3` to the v3 ones;
    /// each is serialised once, and only if some member needs it.
    pub(super) fn deliver_by_version(
        &mut self,
        key: RoomKey,
        v2: &ServerMessage,
        v3: &ServerMessage,
        skip: Option<Uuid>,
        out: &mut Vec<Action>,
    ) -> FanOut {
        let (mut v2_frame, mut v3_frame): (Option<Bytes>, Option<Bytes>) = (None, None);
        self.fan_out(key, skip, false, out, |member| {
            let (frame, message) = match member.version() {
                ProtocolVersion::V2 => (&mut v2_frame, v2),
                ProtocolVersion::V3 => (&mut v3_frame, v3),
            };
            Some(Outbound::Text(frame.get_or_insert_with(|| message.to_bytes()).clone()))
        })
    }
}
