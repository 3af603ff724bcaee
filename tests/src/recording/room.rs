//! One room's part of a recording: which connections are in it (read from
//! [`Engine::rooms`] around each step), and `replay --room`'s lines: every step whose
//! event comes from a connection that is (or was, at that step) a player or spectator of
//! the room, and every action to such connections.

use std::collections::{BTreeMap, BTreeSet};

use signal_fish_core::recording::{describe_action, describe_event};
use signal_fish_core::{Action, ConnId, Engine, Event, Instant};

use super::clock::Clock;
use super::walk::Visitor;

/// The connection an event comes from, if it comes from one.
pub fn event_conn(event: &Event) -> Option<ConnId> {
    match event {
        Event::Opened { conn, .. }
        | Event::Text { conn, .. }
        | Event::Binary { conn, .. }
        | Event::PongFrame { conn }
        | Event::PingFrame { conn }
        | Event::Closed { conn, .. }
        | Event::Backlogged { conn, .. }
        | Event::Answer { conn, .. } => Some(*conn),
        Event::Http(_) | Event::Tick | Event::Shutdown | Event::FromNode { .. } | Event::NodeLost { .. } => {
            None
        }
    }
}

/// The connection an action goes to, if it goes to one.
pub fn action_conn(action: &Action) -> Option<ConnId> {
    match action {
        Action::Send { conn, .. } | Action::Close { conn, .. } => Some(*conn),
        Action::Http(_) | Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => None,
    }
}

/// Who is in a room at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// Connections of its players and spectators.
    pub connected: BTreeSet<ConnId>,
    /// The last connections of players whose seats are reserved (they dropped and may
    /// reconnect), when known.
    pub reserved: BTreeSet<ConnId>,
    /// Reserved players whose connection was never seen in the room.
    pub reserved_unknown: BTreeSet<String>,
}

/// Follows the membership of the room(s) with one code.
#[derive(Clone, Debug)]
pub struct RoomWatch {
    code: String,
    /// The last connection each of the room's players was seen on.
    conn_of_player: BTreeMap<String, ConnId>,
    /// Whether a room with the code was ever seen.
    seen: bool,
}

impl RoomWatch {
    /// Follows rooms whose code is `code` (compared without regard to case).
    pub fn new(code: &str) -> RoomWatch {
        RoomWatch { code: code.to_owned(), conn_of_player: BTreeMap::new(), seen: false }
    }

    /// The room code followed.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether a room with the code existed at any moment looked at.
    pub fn seen(&self) -> bool {
        self.seen
    }

    /// Who is in the room now.
    pub fn members(&mut self, engine: &Engine) -> Members {
        let mut members = Members::default();
        for room in engine.rooms().into_iter().filter(|r| r.code.eq_ignore_ascii_case(&self.code)) {
            self.seen = true;
            for (player, conn) in &room.players {
                let player = player.to_string();
                match conn {
                    Some(conn) => {
                        self.conn_of_player.insert(player, *conn);
                        members.connected.insert(*conn);
                    }
                    None => match self.conn_of_player.get(&player) {
                        Some(conn) => {
                            members.reserved.insert(*conn);
                        }
                        None => {
                            members.reserved_unknown.insert(player);
                        }
                    },
                }
            }
            members.connected.extend(room.spectators.iter().map(|(_, conn)| *conn));
        }
        members
    }
}

/// `replay --room`: collects the room's lines as the replay goes.
pub struct RoomLines {
    watch: RoomWatch,
    clock: Clock,
    before: BTreeSet<ConnId>,
    /// The lines so far.
    pub lines: Vec<String>,
    /// `until`: stop before the first step after it.
    until: Option<Instant>,
}

impl RoomLines {
    /// Lines of the room `code`, up to `until` when given.
    pub fn new(code: &str, clock: Clock, until: Option<Instant>) -> RoomLines {
        RoomLines { watch: RoomWatch::new(code), clock, before: BTreeSet::new(), lines: Vec::new(), until }
    }

    /// Whether the room existed at any point of the replay.
    pub fn room_seen(&self) -> bool {
        self.watch.seen()
    }
}

impl Visitor for RoomLines {
    fn before(&mut self, engine: &Engine, at: Instant, _event: &Event) -> bool {
        if self.until.is_some_and(|until| at > until) {
            return false;
        }
        self.before = self.watch.members(engine).connected;
        true
    }

    fn after(&mut self, engine: &Engine, at: Instant, event: &Event, actions: &[Action]) {
        let mut members = std::mem::take(&mut self.before);
        members.extend(self.watch.members(engine).connected);
        let from_member = event_conn(event).is_some_and(|c| members.contains(&c));
        let to_members: Vec<&Action> =
            actions.iter().filter(|a| action_conn(a).is_some_and(|c| members.contains(&c))).collect();
        if !from_member && to_members.is_empty() {
            return;
        }
        let time = self.clock.since_start(at);
        self.lines.push(format!("{time}  {}", describe_event(event)));
        for action in to_members {
            self.lines.push(format!("{time}    {}", describe_action(action)));
        }
    }
}
