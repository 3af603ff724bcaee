//! `LinkStats`: counters the caller reads for its metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Redis round-trip latency and error counters, shared (`Arc`) between the link's
/// threads and the caller. Every field is a relaxed atomic: read them with
/// [`LinkStats::snapshot`].
#[derive(Debug, Default)]
pub struct LinkStats {
    ops: AtomicU64,
    op_errors: AtomicU64,
    unavailable: AtomicU64,
    rtt_total_us: AtomicU64,
    rtt_max_us: AtomicU64,
    rtt_last_us: AtomicU64,
    reconnects: AtomicU64,
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
    send_not_listening: AtomicU64,
    payload_refused: AtomicU64,
    duplicates_dropped: AtomicU64,
    gaps: AtomicU64,
    malformed_frames: AtomicU64,
    subscription_losses: AtomicU64,
}

/// A copy of [`LinkStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStatsSnapshot {
    /// Redis commands and scripts that got an answer (successful round trips).
    pub ops: u64,
    /// Operations that failed (any `LinkError` from Redis, including `unavailable`).
    pub op_errors: u64,
    /// Of `op_errors`: Redis unreachable, connection broken or timed out.
    pub unavailable: u64,
    /// Sum of the round-trip times of `ops`, in microseconds (mean = total / ops).
    pub rtt_total_us: u64,
    /// The longest round trip seen, in microseconds.
    pub rtt_max_us: u64,
    /// The latest round trip, in microseconds.
    pub rtt_last_us: u64,
    /// Successful reconnections (directory and subscription) after a loss.
    pub reconnects: u64,
    /// Carrier frames published that reached their target.
    pub messages_sent: u64,
    /// Carrier frames delivered to the caller.
    pub messages_received: u64,
    /// Sends that reached no subscriber (`LinkError::NotListening`).
    pub send_not_listening: u64,
    /// Sends refused or frames dropped for being over the payload bound.
    pub payload_refused: u64,
    /// Frames dropped because their sequence number was already seen.
    pub duplicates_dropped: u64,
    /// Sequence gaps seen (each one reported as `LinkBroken`).
    pub gaps: u64,
    /// Frames that could not be decoded (dropped).
    pub malformed_frames: u64,
    /// Times the subscription connection was lost.
    pub subscription_losses: u64,
}

impl LinkStats {
    /// All counters now.
    pub fn snapshot(&self) -> LinkStatsSnapshot {
        LinkStatsSnapshot {
            ops: self.ops.load(Relaxed),
            op_errors: self.op_errors.load(Relaxed),
            unavailable: self.unavailable.load(Relaxed),
            rtt_total_us: self.rtt_total_us.load(Relaxed),
            rtt_max_us: self.rtt_max_us.load(Relaxed),
            rtt_last_us: self.rtt_last_us.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            messages_sent: self.messages_sent.load(Relaxed),
            messages_received: self.messages_received.load(Relaxed),
            send_not_listening: self.send_not_listening.load(Relaxed),
            payload_refused: self.payload_refused.load(Relaxed),
            duplicates_dropped: self.duplicates_dropped.load(Relaxed),
            gaps: self.gaps.load(Relaxed),
            malformed_frames: self.malformed_frames.load(Relaxed),
            subscription_losses: self.subscription_losses.load(Relaxed),
        }
    }

    pub(crate) fn record_rtt(&self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.ops.fetch_add(1, Relaxed);
        self.rtt_total_us.fetch_add(us, Relaxed);
        self.rtt_last_us.store(us, Relaxed);
        self.rtt_max_us.fetch_max(us, Relaxed);
    }

    pub(crate) fn record_error(&self, unavailable: bool) {
        self.op_errors.fetch_add(1, Relaxed);
        if unavailable {
            self.unavailable.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }
    pub(crate) fn sent(&self) {
        self.messages_sent.fetch_add(1, Relaxed);
    }
    pub(crate) fn received(&self) {
        self.messages_received.fetch_add(1, Relaxed);
    }
    pub(crate) fn not_listening(&self) {
        self.send_not_listening.fetch_add(1, Relaxed);
    }
    pub(crate) fn payload_refused(&self) {
        self.payload_refused.fetch_add(1, Relaxed);
    }
    pub(crate) fn duplicate(&self) {
        self.duplicates_dropped.fetch_add(1, Relaxed);
    }
    pub(crate) fn gap(&self) {
        self.gaps.fetch_add(1, Relaxed);
    }
    pub(crate) fn malformed(&self) {
        self.malformed_frames.fetch_add(1, Relaxed);
    }
    pub(crate) fn subscription_lost(&self) {
        self.subscription_losses.fetch_add(1, Relaxed);
    }
}
