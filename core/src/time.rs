//! The core's own notion of time.
//!
//! The engine never reads a clock. Callers pass an [`Instant`] with every event; the shell
//! maps `std::time::Instant` onto it and the simulator starts at zero. Wall-clock values
//! that appear on the wire (`connected_at`) are derived from the `unix_ms_at_now` given to
//! [`crate::Engine::new`] plus elapsed core time.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in core time: microseconds since an arbitrary origin chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Instant(u64);

impl Instant {
    /// The origin of core time.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let micros = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000;
        let micros = self.0 % 1_000_000;
        write!(f, "{secs}.{micros:06}s")
    }
}

/// Wall-clock time: microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixMicros(pub u64);

impl UnixMicros {
    /// RFC 3339 in UTC with a `Z` suffix and 0, 3 or 6 fractional digits (trailing zero
    /// groups dropped), the form PROTOCOL §3 gives for `connected_at`.
    pub fn to_rfc3339_z(self) -> String {
        let mut out = String::with_capacity(27);
        self.write_rfc3339(&mut out, "Z", false);
        out
    }

    /// RFC 3339 in UTC with a `+00:00` offset and nanosecond digits, the form the JSON
    /// metrics use (OPERATIONS §4).
    pub fn to_rfc3339_offset(self) -> String {
        let mut out = String::with_capacity(35);
        self.write_rfc3339(&mut out, "+00:00", true);
        out
    }

    /// Whole seconds since the Unix epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    fn write_rfc3339(self, out: &mut String, suffix: &str, full_nanos: bool) {
        use std::fmt::Write;
        let secs = self.0 / 1_000_000;
        let micros = self.0 % 1_000_000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days as i64);
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
        if full_nanos {
            let _ = write!(out, ".{:09}", micros * 1000);
        } else if micros != 0 {
            if micros % 1000 == 0 {
                let _ = write!(out, ".{:03}", micros / 1000);
            } else {
                let _ = write!(out, ".{micros:06}");
            }
        }
        out.push_str(suffix);
    }
}

/// Converts days since 1970-01-01 to a (year, month, day) civil date (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_fraction_groups() {
        assert_eq!(UnixMicros(0).to_rfc3339_z(), "1970-01-01T00:00:00Z");
        // 2026-03-01T12:00:00Z = 1772366400
        let base = 1_772_366_400_000_000;
        assert_eq!(UnixMicros(base).to_rfc3339_z(), "2026-03-01T12:00:00Z");
        assert_eq!(UnixMicros(base + 123_000).to_rfc3339_z(), "2026-03-01T12:00:00.123Z");
        assert_eq!(UnixMicros(base + 123_456).to_rfc3339_z(), "2026-03-01T12:00:00.123456Z");
        assert_eq!(UnixMicros(base + 500_000).to_rfc3339_z(), "2026-03-01T12:00:00.500Z");
        assert_eq!(UnixMicros(base + 1).to_rfc3339_offset(), "2026-03-01T12:00:00.000001000+00:00");
    }

    #[test]
    fn leap_years_and_month_ends() {
        // 2024-02-29T23:59:59Z = 1709251199
        assert_eq!(UnixMicros(1_709_251_199_000_000).to_rfc3339_z(), "2024-02-29T23:59:59Z");
        // 2000-12-31T00:00:00Z = 978220800
        assert_eq!(UnixMicros(978_220_800_000_000).to_rfc3339_z(), "2000-12-31T00:00:00Z");
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_micros(5);
        assert_eq!(t + Duration::from_micros(10), Instant::from_micros(15));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
    }
}
