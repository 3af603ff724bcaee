//! A fixed-bucket latency histogram (cumulative buckets, Prometheus style).

use std::time::Duration;

/// Upper bounds of the buckets, in microseconds.
pub const BUCKET_BOUNDS_MICROS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000, 25_000, 100_000];

/// Counts of observed durations per bucket, plus sum and count.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    /// Observations `<=` each bound (non-cumulative); the last slot is `+Inf`.
    buckets: [u64; BUCKET_BOUNDS_MICROS.len() + 1],
    sum_micros: u64,
    count: u64,
    max_micros: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn record(&mut self, value: Duration) {
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        let slot =
            BUCKET_BOUNDS_MICROS.iter().position(|b| micros <= *b).unwrap_or(BUCKET_BOUNDS_MICROS.len());
        self.buckets[slot] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.count += 1;
        self.max_micros = self.max_micros.max(micros);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of observations in microseconds.
    pub fn sum_micros(&self) -> u64 {
        self.sum_micros
    }

    /// Largest observation in microseconds.
    pub fn max_micros(&self) -> u64 {
        self.max_micros
    }

    /// `(upper bound in µs or None for +Inf, cumulative count)` pairs.
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, n) in self.buckets.iter().enumerate() {
            total += n;
            out.push((BUCKET_BOUNDS_MICROS.get(i).copied(), total));
        }
        out
    }

    /// The smallest bucket bound below which at least `q` (0–1) of observations fall.
    pub fn quantile_bound_micros(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        self.cumulative().into_iter().find(|(_, c)| *c >= target).map(|(b, _)| b.unwrap_or(self.max_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.record(Duration::from_micros(1));
        h.record(Duration::from_micros(7));
        h.record(Duration::from_secs(1));
        let c = h.cumulative();
        assert_eq!(c[0], (Some(1), 1));
        assert_eq!(c[3], (Some(10), 2));
        assert_eq!(*c.last().unwrap(), (None, 3));
        assert_eq!(h.count(), 3);
        assert_eq!(h.sum_micros(), 1_000_008);
        assert_eq!(h.quantile_bound_micros(0.5), Some(10));
        assert_eq!(h.quantile_bound_micros(1.0), Some(1_000_000));
    }
}
