//! Microseconds on one monotonic clock shared by every task of the process: senders
//! stamp game data with it and receivers subtract, so no clock sync is involved.

use std::sync::OnceLock;
use std::time::Instant;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}

/// Microseconds since the process first read this clock.
pub fn now_us() -> u64 {
    to_us(Instant::now())
}

/// `at` in this clock's microseconds (0 for instants before the origin).
pub fn to_us(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin()).as_micros()).unwrap_or(u64::MAX)
}
