//! Making a WebSocket reader yield to other tasks now and then.
//!
//! smol has no cooperative budget: a read with data ready completes at once, and a
//! reader loops as long as its socket has data. A client sending an endless stream of
//! frames that produce no message (empty continuation frames, say) would keep the
//! server's only executor thread to itself. After [`READ_BUDGET`] bytes read without
//! waiting, the reader yields once, so every other ready task runs first.

use smol::future::yield_now;

/// Bytes read in a row before the reader yields once.
pub(crate) const READ_BUDGET: usize = 64 * 1024;

/// Bytes one reader read since it last waited or yielded.
#[derive(Debug, Default)]
pub(crate) struct ReadBudget {
    read_since_yield: usize,
}

impl ReadBudget {
    /// Counts `bytes` read; yields once the budget is spent.
    pub(crate) async fn spend(&mut self, bytes: usize) {
        self.read_since_yield += bytes;
        if self.read_since_yield >= READ_BUDGET {
            self.read_since_yield = 0;
            yield_now().await;
        }
    }

    /// The reader waited for input: waiting is a yield too.
    pub(crate) fn waited(&mut self) {
        self.read_since_yield = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Whether `spend(bytes)` completes without yielding.
    fn completes_at_once(budget: &mut ReadBudget, bytes: usize) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(pin!(budget.spend(bytes)).poll(&mut cx), Poll::Ready(()))
    }

    #[test]
    fn yields_once_per_budget() {
        let mut budget = ReadBudget::default();
        let chunk = 16 * 1024;
        let yields = (0..READ_BUDGET * 3 / chunk).filter(|_| !completes_at_once(&mut budget, chunk)).count();
        assert_eq!(yields, 3);
        // Waiting resets the count.
        assert!(completes_at_once(&mut budget, READ_BUDGET - 1));
        budget.waited();
        assert!(completes_at_once(&mut budget, READ_BUDGET - 1));
        assert!(!completes_at_once(&mut budget, 1));
    }
}
