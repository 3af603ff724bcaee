//! The server-wide budget for unfinished messages (`websocket.unfinished_message_budget_bytes`).
//!
//! Each connection may hold one incomplete data message of up to the hard cap while its
//! fragments arrive. Without a global bound, a crowd of connections that start large
//! messages and never finish them holds cap × connections bytes until the liveness
//! timeout. Every reader reports what its decoder holds; when the sum exceeds the
//! budget, the connections holding the most are told to close (1013, "try again later"),
//! largest first, until the rest fit. A reader never waits on the budget: it is a
//! bookkeeping lock held for a few map operations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use signal_fish_core::ConnId;

use crate::sync::notify::Flag;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct UnfinishedBudget {
    limit: usize,
    holders: Mutex<Holders>,
}

#[derive(Debug, Default)]
struct Holders {
    /// Sum of `bytes` over `by_conn`.
    total: usize,
    by_conn: HashMap<ConnId, Holder>,
}

#[derive(Debug)]
struct Holder {
    bytes: usize,
    /// Raised to tell this connection's reader to close.
    evict: Arc<Flag>,
}

impl UnfinishedBudget {
    /// A budget of `limit` bytes across all connections.
    pub(crate) fn new(limit: usize) -> UnfinishedBudget {
        UnfinishedBudget { limit, holders: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Holders> {
        // Plain counters behind the lock; a panic elsewhere leaves them usable.
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `conn` now holds `bytes` in unfinished messages (0 when it holds
    /// none or is gone). When that puts the total over the budget, the largest holders
    /// (possibly `conn` itself) get their `evict` flag raised and stop counting. Returns
    /// how many connections were evicted.
    pub(crate) fn hold(&self, conn: ConnId, bytes: usize, evict: &Arc<Flag>) -> usize {
        let mut holders = self.lock();
        let previous = match bytes {
            0 => holders.by_conn.remove(&conn).map_or(0, |h| h.bytes),
            _ => match holders.by_conn.get_mut(&conn) {
                Some(holder) => std::mem::replace(&mut holder.bytes, bytes),
                None => {
                    holders.by_conn.insert(conn, Holder { bytes, evict: evict.clone() });
                    0
                }
            },
        };
        holders.total = holders.total - previous + bytes;
        if holders.total <= self.limit {
            return 0;
        }
        let mut largest: Vec<(usize, ConnId)> = holders.by_conn.iter().map(|(c, h)| (h.bytes, *c)).collect();
        largest.sort_unstable_by(|a, b| b.cmp(a));
        let mut evicted = 0;
        for (bytes, conn) in largest {
            if holders.total <= self.limit {
                break;
            }
            if let Some(holder) = holders.by_conn.remove(&conn) {
                holder.evict.set();
                holders.total -= bytes;
                evicted += 1;
            }
        }
        evicted
    }

    /// Bytes held in unfinished messages by connections still counted.
    pub(crate) fn total(&self) -> usize {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_holders_are_evicted_first_until_the_rest_fit() {
        let budget = UnfinishedBudget::new(100);
        let flags: Vec<Arc<Flag>> = (0..4).map(|_| Arc::new(Flag::default())).collect();
        assert_eq!(budget.hold(ConnId(1), 30, &flags[1]), 0);
        assert_eq!(budget.hold(ConnId(2), 50, &flags[2]), 0);
        assert_eq!(budget.hold(ConnId(3), 20, &flags[3]), 0);
        assert_eq!(budget.total(), 100);
        // Connection 1 grows to 60: the total is 130; the largest (1, 60) goes.
        assert_eq!(budget.hold(ConnId(1), 60, &flags[1]), 1);
        assert!(flags[1].is_set() && !flags[2].is_set() && !flags[3].is_set());
        assert_eq!(budget.total(), 70);
        // An evicted connection reporting again (its reader ending) changes nothing.
        assert_eq!(budget.hold(ConnId(1), 0, &flags[1]), 0);
        assert_eq!(budget.total(), 70);
        // A newcomer far over the budget evicts itself only when it is the largest.
        assert_eq!(budget.hold(ConnId(0), 45, &flags[0]), 1);
        assert!(flags[2].is_set() && !flags[0].is_set());
        assert_eq!(budget.total(), 65);
    }

    #[test]
    fn finished_messages_release_their_bytes() {
        let budget = UnfinishedBudget::new(10);
        let flag = Arc::new(Flag::default());
        budget.hold(ConnId(7), 8, &flag);
        budget.hold(ConnId(7), 0, &flag);
        assert_eq!(budget.total(), 0);
        assert_eq!(budget.hold(ConnId(8), 10, &flag), 0);
        assert!(!flag.is_set());
    }
}
