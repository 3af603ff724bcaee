//! Recorded instants in readable form: seconds since the server started (engine instant
//! zero) and the UTC wall-clock time, from the header's `unix_ms_at_origin`.

use std::time::Duration;

use signal_fish_core::{Instant, UnixMicros};

use crate::duration::format_secs;

/// Turns recorded instants into text for one recording.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Unix milliseconds at engine instant zero.
    pub unix_ms_at_origin: u64,
}

impl Clock {
    /// Seconds since the server started: `90.5s`.
    pub fn since_start(&self, at: Instant) -> String {
        format_secs(Duration::from_micros(at.as_micros()))
    }

    /// UTC wall-clock time: `2026-03-01T12:01:30.5Z`.
    pub fn wall(&self, at: Instant) -> String {
        UnixMicros(self.unix_ms_at_origin.saturating_mul(1000).saturating_add(at.as_micros())).to_rfc3339_z()
    }

    /// Both: `90.5s (2026-03-01T12:01:30.5Z)`.
    pub fn both(&self, at: Instant) -> String {
        format!("{} ({})", self.since_start(at), self.wall(at))
    }
}

/// The instant `elapsed` after the server started.
pub fn instant_at(elapsed: Duration) -> Instant {
    Instant::ZERO + elapsed
}
