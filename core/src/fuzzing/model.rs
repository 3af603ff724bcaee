//! A reference model of room membership: who is a player or spectator of which room.
//!
//! It knows far less than the engine (no names, lobby, authority or timers other than
//! liveness) and is checked against the engine after every step.

use std::collections::BTreeMap;

/// What a connection slot is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelRole {
    Idle,
    Player(u8),
    Spectator(u8),
}

#[derive(Clone, Debug)]
pub(crate) struct ModelConn {
    pub role: ModelRole,
    pub last_inbound_micros: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ModelRoom {
    pub max_players: u8,
    pub players: Vec<u8>,
    pub spectators: Vec<u8>,
}

/// Membership by slot; rooms by code index.
#[derive(Default, Debug)]
pub(crate) struct Model {
    pub conns: BTreeMap<u8, ModelConn>,
    pub rooms: BTreeMap<u8, ModelRoom>,
}

impl Model {
    pub fn open(&mut self, slot: u8, now: u64) {
        self.conns.insert(slot, ModelConn { role: ModelRole::Idle, last_inbound_micros: now });
    }

    pub fn heard_from(&mut self, slot: u8, now: u64) {
        if let Some(c) = self.conns.get_mut(&slot) {
            c.last_inbound_micros = now;
        }
    }

    pub fn join(&mut self, slot: u8, code: u8, max_players: u8) -> bool {
        let Some(c) = self.conns.get(&slot) else { return false };
        if c.role != ModelRole::Idle {
            return false;
        }
        let room =
            self.rooms.entry(code).or_insert_with(|| ModelRoom { max_players, ..ModelRoom::default() });
        if room.players.len() >= usize::from(room.max_players) {
            return false;
        }
        room.players.push(slot);
        self.conns.get_mut(&slot).expect("checked").role = ModelRole::Player(code);
        true
    }

    pub fn spectate(&mut self, slot: u8, code: u8, cap: usize) {
        let Some(c) = self.conns.get(&slot) else { return };
        if c.role != ModelRole::Idle {
            return;
        }
        let Some(room) = self.rooms.get_mut(&code) else { return };
        if room.spectators.len() >= cap {
            return;
        }
        room.spectators.push(slot);
        self.conns.get_mut(&slot).expect("checked").role = ModelRole::Spectator(code);
    }

    /// Leaves the room or stops spectating, as asked (`player` = LeaveRoom).
    pub fn leave(&mut self, slot: u8, player: bool) {
        let Some(c) = self.conns.get_mut(&slot) else { return };
        match (c.role, player) {
            (ModelRole::Player(code), true) => {
                c.role = ModelRole::Idle;
                self.remove_player(code, slot);
            }
            (ModelRole::Spectator(code), false) => {
                c.role = ModelRole::Idle;
                if let Some(room) = self.rooms.get_mut(&code) {
                    room.spectators.retain(|s| *s != slot);
                }
            }
            _ => {}
        }
    }

    pub fn close(&mut self, slot: u8) {
        let Some(c) = self.conns.remove(&slot) else { return };
        match c.role {
            ModelRole::Idle => {}
            ModelRole::Player(code) => self.remove_player(code, slot),
            ModelRole::Spectator(code) => {
                if let Some(room) = self.rooms.get_mut(&code) {
                    room.spectators.retain(|s| *s != slot);
                }
            }
        }
    }

    /// Empty rooms vanish at once (the harness sets `empty_room_timeout` to 0); their
    /// spectators are let go.
    fn remove_player(&mut self, code: u8, slot: u8) {
        let Some(room) = self.rooms.get_mut(&code) else { return };
        room.players.retain(|p| *p != slot);
        if room.players.is_empty() {
            let room = self.rooms.remove(&code).expect("present");
            for spectator in room.spectators {
                if let Some(c) = self.conns.get_mut(&spectator) {
                    c.role = ModelRole::Idle;
                }
            }
        }
    }

    /// Slots silent for `timeout` at `now`, in slot order.
    pub fn silent_since(&self, now: u64, timeout: u64) -> Vec<u8> {
        self.conns.iter().filter(|(_, c)| c.last_inbound_micros + timeout <= now).map(|(s, _)| *s).collect()
    }
}
