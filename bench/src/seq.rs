//! Per (receiver, sender) sequence checking: which deliveries were lost, duplicated or
//! arrived out of order.

use std::collections::BTreeSet;

/// Gaps remembered per pair; a gap beyond this is counted as lost without being
/// remembered (a later arrival of it then counts as a duplicate).
const MAX_REMEMBERED_GAPS: usize = 4096;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next expected sequence number, or one after a gap.
    New,
    /// A sequence number skipped earlier, arriving now (reordered).
    Late,
    /// A sequence number seen before.
    Duplicate,
}

/// Lost, duplicated and reordered deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// Sent but never received.
    pub lost: u64,
    /// Received more than once (extra copies).
    pub duplicated: u64,
    /// Received after a later sequence number.
    pub reordered: u64,
}

impl Anomalies {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: Anomalies) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }

    /// Whether every count is zero.
    pub fn is_clean(&self) -> bool {
        *self == Anomalies::default()
    }
}

/// Tracks the sequence numbers one receiver got from one sender (numbers start at 0).
#[derive(Debug, Default)]
pub struct SeqTracker {
    next: u64,
    missing: BTreeSet<u64>,
    forgotten_gaps: u64,
    duplicated: u64,
    reordered: u64,
}

impl SeqTracker {
    /// A tracker for a receiver that starts listening mid-stream: `seq` is the first
    /// number it expects (earlier ones are not owed).
    pub fn starting_at(seq: u64) -> SeqTracker {
        SeqTracker { next: seq, ..SeqTracker::default() }
    }

    /// One past the highest sequence number seen (or the start).
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// Records the arrival of `seq`.
    pub fn observe(&mut self, seq: u64) -> Arrival {
        if seq >= self.next {
            let gap = seq - self.next;
            let room = (MAX_REMEMBERED_GAPS - self.missing.len()) as u64;
            let remembered = gap.min(room);
            self.missing.extend(self.next..self.next + remembered);
            self.forgotten_gaps += gap - remembered;
            self.next = seq + 1;
            Arrival::New
        } else if self.missing.remove(&seq) {
            self.reordered += 1;
            Arrival::Late
        } else {
            self.duplicated += 1;
            Arrival::Duplicate
        }
    }

    /// The anomalies once the sender is known to have sent `sent` messages (0..sent).
    pub fn finish(&self, sent: u64) -> Anomalies {
        Anomalies {
            lost: self.missing.len() as u64 + self.forgotten_gaps + sent.saturating_sub(self.next),
            duplicated: self.duplicated,
            reordered: self.reordered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_is_clean() {
        let mut t = SeqTracker::default();
        for q in 0..100 {
            assert_eq!(t.observe(q), Arrival::New);
        }
        assert!(t.finish(100).is_clean());
        assert_eq!(t.finish(103).lost, 3);
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(0), Arrival::New);
        assert_eq!(t.observe(3), Arrival::New);
        assert_eq!(t.observe(1), Arrival::Late);
        assert_eq!(t.observe(1), Arrival::Duplicate);
        assert_eq!(t.observe(3), Arrival::Duplicate);
        assert_eq!(t.finish(5), Anomalies { lost: 2, duplicated: 2, reordered: 1 });
    }

    #[test]
    fn a_tracker_may_start_mid_stream() {
        let mut t = SeqTracker::starting_at(10);
        assert_eq!(t.observe(10), Arrival::New);
        assert_eq!(t.observe(12), Arrival::New);
        assert_eq!(t.next_expected(), 13);
        assert_eq!(t.observe(9), Arrival::Duplicate);
        assert_eq!(t.finish(t.next_expected()), Anomalies { lost: 1, duplicated: 1, reordered: 0 });
    }

    #[test]
    fn huge_gaps_stay_bounded() {
        let mut t = SeqTracker::default();
        t.observe(1_000_000_000);
        assert_eq!(t.missing.len(), MAX_REMEMBERED_GAPS);
        assert_eq!(t.finish(1_000_000_001).lost, 1_000_000_000);
    }
}
