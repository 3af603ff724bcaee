//! One room for one round of a group: its code, its seats, how much each player sent,
//! and who drops, sends a malformed frame or abandons its seat.

use std::cell::Cell;
use std::time::Instant;

use event_listener::Event;

use super::shared::Shared;
use crate::context::RunContext;

/// One room for one round of a group.
pub(super) struct Session {
    pub(super) game: String,
    pub(super) code: String,
    pub(super) host: usize,
    /// Seat ids (the probe's sender) are `base + position`.
    pub(super) base: u32,
    pub(super) k: usize,
    pub(super) sent: Vec<Cell<u64>>,
    /// Still a member: cleared when a player's reconnect failed.
    pub(super) active: Vec<Cell<bool>>,
    pub(super) host_joined: Cell<bool>,
    pub(super) aborted: Cell<bool>,
    pub(super) game_end: Cell<Option<Instant>>,
    /// Players that asked the room to pause sending (a drop in progress).
    pub(super) quiet: Cell<u32>,
    pub(super) done_sending: Vec<Cell<bool>>,
    pub(super) changed: Event,
    /// Who drops and reconnects, sends a malformed frame, abandons its seat.
    pub(super) dropper: usize,
    pub(super) malformer: usize,
    pub(super) abandoner: Option<usize>,
}

impl Session {
    pub(super) fn new(sh: &Shared<'_>, round: usize, k: usize) -> Session {
        let room = sh.next_room.get();
        sh.next_room.set(room + 1);
        let base = sh.next_seat.get();
        sh.next_seat.set(base + k as u32);
        Session {
            game: sh.ctx.game_name(room),
            code: RunContext::room_code(room),
            host: round % k,
            base,
            k,
            sent: (0..k).map(|_| Cell::new(0)).collect(),
            active: (0..k).map(|_| Cell::new(true)).collect(),
            host_joined: Cell::new(false),
            aborted: Cell::new(false),
            game_end: Cell::new(None),
            quiet: Cell::new(0),
            done_sending: (0..k).map(|_| Cell::new(false)).collect(),
            changed: Event::new(),
            dropper: (round + 1) % k,
            malformer: (round + 2) % k,
            abandoner: (round % 4 == 1).then_some((round + 3) % k),
        }
    }

    pub(super) fn notify(&self) {
        self.changed.notify(usize::MAX);
    }

    pub(super) fn abort(&self) {
        self.aborted.set(true);
        self.notify();
    }

    pub(super) fn all_done_sending(&self) -> bool {
        (0..self.k).all(|p| !self.active[p].get() || self.done_sending[p].get())
    }
}
