//! Fixed-window admission counting, for limits that are not per IP: spectators admitted
//! per room, metrics renders per second.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Instant;

/// Admissions counted in a fixed window that opens with the first one.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct AdmissionWindow {
    /// When the current window opened, if one is open.
    pub start: Option<Instant>,
    /// Admissions in it.
    pub count: u32,
}

impl AdmissionWindow {
    /// Counts one admission at `now` unless `max` were admitted in the window of length
    /// `window`; on refusal returns the whole seconds left in the window.
    pub(crate) fn admit(&mut self, now: Instant, window: Duration, max: u32) -> Result<(), u64> {
        match self.start {
            Some(start) if now.saturating_duration_since(start) < window => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        if self.count >= max {
            let start = self.start.unwrap_or(now);
            return Err((start + window).saturating_duration_since(now).as_secs());
        }
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_maximum_per_window() {
        let origin = Instant::ZERO;
        let window = Duration::from_secs(10);
        let mut admissions = AdmissionWindow::default();
        assert_eq!(admissions.admit(origin, window, 2), Ok(()));
        assert_eq!(admissions.admit(origin + Duration::from_secs(1), window, 2), Ok(()));
        assert_eq!(admissions.admit(origin + Duration::from_millis(2500), window, 2), Err(7));
        assert_eq!(admissions.admit(origin + Duration::from_secs(10), window, 2), Ok(()), "a new window");
    }
}
