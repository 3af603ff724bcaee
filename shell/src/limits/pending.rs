//! Connections waiting for a request head, oldest first, at most a fixed number: when
//! one more arrives, the oldest is evicted ([`TransportLimits::max_pending_heads`]).
//!
//! [`TransportLimits::max_pending_heads`]: crate::TransportLimits::max_pending_heads

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::notify::Flag;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PendingHeads {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Waiting connections by arrival number (so the first entry is the oldest), each
    /// with the flag that evicts it.
    waiting: BTreeMap<u64, Arc<Flag>>,
    next: u64,
}

impl PendingHeads {
    /// At most `limit` (at least 1) connections wait at once.
    pub(crate) fn new(limit: usize) -> PendingHeads {
        PendingHeads { limit: limit.max(1), state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only plain data behind this lock; a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection that starts waiting for a head, evicting the oldest if the
    /// limit is reached. The returned guard unregisters it when dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Pending {
        let evicted = Arc::new(Flag::default());
        let mut state = self.lock();
        while state.waiting.len() >= self.limit {
            if let Some((_, oldest)) = state.waiting.pop_first() {
                oldest.set();
            }
        }
        let id = state.next;
        state.next += 1;
        state.waiting.insert(id, evicted.clone());
        Pending { heads: self.clone(), id, evicted }
    }

    /// Connections waiting now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().waiting.len()
    }
}

/// One waiting connection's place; see [`PendingHeads::enter`].
#[derive(Debug)]
pub(crate) struct Pending {
    heads: Arc<PendingHeads>,
    id: u64,
    evicted: Arc<Flag>,
}

impl Pending {
    /// Resolves when a newer connection took this one's place. Only the connection
    /// that entered waits for this.
    pub(crate) async fn evicted(&self) {
        self.evicted.wait().await
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.heads.lock().waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_evicted_and_leaving_frees_a_place() {
        let heads = Arc::new(PendingHeads::new(2));
        let first = heads.enter();
        let second = heads.enter();
        assert!(!first.evicted.is_set());
        let third = heads.enter();
        assert!(first.evicted.is_set() && !second.evicted.is_set());
        assert_eq!(heads.len(), 2);
        drop(first);
        drop(second);
        assert_eq!(heads.len(), 1);
        let fourth = heads.enter();
        assert!(!third.evicted.is_set() && !fourth.evicted.is_set());
        smol::block_on(async {
            let fifth = heads.enter();
            third.evicted().await;
            drop(fifth);
        });
    }
}
