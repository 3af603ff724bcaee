//! Growth of a steady-state series (RSS, fds): endpoints and least-squares fit, per hour.

use serde_json::{json, Value};

use super::sampling::Sample;

/// Least-squares slope of `(t, y)` per hour.
fn per_hour(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum::<f64>();
    if var <= 0.0 {
        return None;
    }
    let cov = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_y)).sum::<f64>();
    Some(cov / var * 3600.0)
}

/// First and last steady-state values, the growth per hour between them and the
/// least-squares growth per hour over every steady sample.
pub(super) fn growth(steady: &[&Sample], value: impl Fn(&Sample) -> Option<u64>) -> Value {
    let points: Vec<(f64, f64)> = steady.iter().filter_map(|s| value(s).map(|v| (s.t, v as f64))).collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Value::Null };
    let span = last.0 - first.0;
    json!({
        "start": first.1 as u64,
        "start_at_secs": (first.0 * 10.0).round() / 10.0,
        "end": last.1 as u64,
        "end_at_secs": (last.0 * 10.0).round() / 10.0,
        "growth_per_hour_endpoints": (span > 0.0).then(|| ((last.1 - first.1) / span * 3600.0).round()),
        "growth_per_hour_fit": per_hour(&points).map(f64::round),
        "samples": points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_per_hour() {
        assert_eq!(per_hour(&[(0.0, 100.0), (3600.0, 200.0)]), Some(100.0));
        assert_eq!(per_hour(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)]), Some(0.0));
        assert_eq!(per_hour(&[(1.0, 5.0)]), None);
    }
}
