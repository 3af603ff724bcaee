//! Maps the process clock onto the core's [`Instant`] (microseconds since server start).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signal_fish_core::Instant;

/// The server's clock: one monotonic origin taken at start-up, plus the wall-clock time
/// at that origin (for the engine's `connected_at` and metrics timestamps).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
    unix_ms_at_origin: u64,
}

impl Clock {
    /// A clock whose origin is now.
    pub(crate) fn start() -> Clock {
        let unix_ms_at_origin =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Clock { origin: std::time::Instant::now(), unix_ms_at_origin }
    }

    /// Unix milliseconds at core instant zero.
    pub(crate) fn unix_ms_at_origin(self) -> u64 {
        self.unix_ms_at_origin
    }

    /// The current core instant.
    pub(crate) fn now(self) -> Instant {
        self.to_core(std::time::Instant::now())
    }

    /// Converts a process instant to core time (instants before the origin map to zero).
    pub(crate) fn to_core(self, at: std::time::Instant) -> Instant {
        let micros = at.saturating_duration_since(self.origin).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// Converts a core instant back to a process instant, for timers.
    pub(crate) fn to_std(self, at: Instant) -> std::time::Instant {
        let offset = Duration::from_micros(at.as_micros());
        // Far-future deadlines saturate to a day ahead rather than overflow.
        self.origin
            .checked_add(offset)
            .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_core_time() {
        let clock = Clock::start();
        let later = std::time::Instant::now() + Duration::from_millis(1500);
        let core = clock.to_core(later);
        assert!(core.as_micros() >= 1_500_000);
        let back = clock.to_std(core);
        let diff = if back > later { back - later } else { later - back };
        assert!(diff < Duration::from_micros(2), "{diff:?}");
        assert!(clock.unix_ms_at_origin() > 1_600_000_000_000);
    }
}
