//! Join pacing: a sliding-window budget of room creations and join attempts per source
//! address, kept inside the server's default per-IP room-operation limits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::connection::{idle_until, Conn};
use super::shared::Shared;
use super::MAX_BUDGET_WAITS;

/// Sliding window the tool keeps per source address: the server's 60 s fixed windows
/// plus a margin, so that no server window ever sees more than the budget.
const RATE_WINDOW: Duration = Duration::from_secs(62);
/// The server's default `rate_limit.max_room_creations`.
const MAX_CREATIONS_PER_WINDOW: usize = 5;
/// The server's default `rate_limit.max_join_attempts`.
const MAX_JOINS_PER_WINDOW: usize = 20;

/// A per-source-address budget of room operations over a sliding window.
#[derive(Debug, Default)]
pub(super) struct Budget {
    creations: VecDeque<Instant>,
    joins: VecDeque<Instant>,
}

impl Budget {
    /// Takes one join attempt (and one creation if `creation`), or says when to retry.
    fn take(&mut self, now: Instant, creation: bool) -> Result<(), Instant> {
        for queue in [&mut self.creations, &mut self.joins] {
            while queue.front().is_some_and(|&at| now.duration_since(at) >= RATE_WINDOW) {
                queue.pop_front();
            }
        }
        let full = |queue: &VecDeque<Instant>, max: usize| {
            (queue.len() >= max).then(|| queue[queue.len() - max] + RATE_WINDOW)
        };
        let retry = [
            if creation { full(&self.creations, MAX_CREATIONS_PER_WINDOW) } else { None },
            full(&self.joins, MAX_JOINS_PER_WINDOW),
        ];
        if let Some(at) = retry.into_iter().flatten().max() {
            return Err(at);
        }
        if creation {
            self.creations.push_back(now);
        }
        self.joins.push_back(now);
        Ok(())
    }
}

/// Waits for the budget of `slot`'s address (reading `conn` meanwhile); false if it
/// would not be available before `deadline`.
pub(super) async fn acquire(
    sh: &Shared<'_>,
    slot: usize,
    creation: bool,
    conn: &mut Option<Conn>,
    deadline: Instant,
) -> bool {
    let ip = sh.ctx.sources.addr(slot);
    for _ in 0..MAX_BUDGET_WAITS {
        let verdict = sh.budgets.borrow_mut().entry(ip).or_default().take(Instant::now(), creation);
        match verdict {
            Ok(()) => return true,
            Err(at) if at > deadline => return false,
            Err(at) => {
                sh.count("budget_waits");
                idle_until(sh, conn, at).await;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stays_inside_every_server_window() {
        let mut b = Budget::default();
        let t0 = Instant::now();
        for i in 0..MAX_CREATIONS_PER_WINDOW {
            assert!(b.take(t0 + Duration::from_secs(i as u64), true).is_ok());
        }
        // A sixth creation waits until the first leaves the window; joins still pass.
        let retry = b.take(t0 + Duration::from_secs(10), true).unwrap_err();
        assert_eq!(retry, t0 + RATE_WINDOW);
        for _ in MAX_CREATIONS_PER_WINDOW..MAX_JOINS_PER_WINDOW {
            assert!(b.take(t0 + Duration::from_secs(10), false).is_ok());
        }
        assert_eq!(b.take(t0 + Duration::from_secs(11), false).unwrap_err(), t0 + RATE_WINDOW);
        assert!(b.take(t0 + RATE_WINDOW, false).is_ok());
    }
}
