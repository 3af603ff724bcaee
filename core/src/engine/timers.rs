//! The timer table: every deadline of the engine in one ordered set.
//!
//! Entities remember when their timer is set so it can be removed exactly when they go
//! away. Frequently refreshed deadlines (liveness, room inactivity) are re-armed lazily:
//! the refresh only moves a field; when the stale entry fires, the handler sees the later
//! deadline and schedules it again.

use core::net::IpAddr;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::room::RoomKey;
use crate::event::ConnId;
use crate::Instant;

/// What a deadline is for. The derived order breaks ties between equal instants, so
/// timers due together always fire in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Timer {
    /// A connection must authenticate by now.
    AuthDeadline(ConnId),
    /// A connection silent since `ping_timeout` ago is closed.
    Liveness(ConnId),
    /// A disconnected player's seat is released.
    Reservation(Uuid),
    /// A room without activity is removed.
    RoomExpiry(RoomKey),
    /// A per-IP rate window ended; forget the IP if it has no connections.
    IpWindow(IpAddr),
    /// Take a dashboard sample for the JSON metrics.
    Dashboard,
}

/// All pending deadlines, earliest first.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct TimerTable {
    entries: BTreeSet<(Instant, Timer)>,
}

impl TimerTable {
    pub(crate) fn schedule(&mut self, at: Instant, timer: Timer) {
        self.entries.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, at: Instant, timer: Timer) {
        self.entries.remove(&(at, timer));
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        let first = *self.entries.first()?;
        if first.0 <= now {
            self.entries.pop_first()
        } else {
            None
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first().map(|(at, _)| *at)
    }

    /// Every pending deadline, earliest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Instant, Timer)> {
        self.entries.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains(&self, at: Instant, timer: Timer) -> bool {
        self.entries.contains(&(at, timer))
    }
}
