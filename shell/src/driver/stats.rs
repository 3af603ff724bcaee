//! Byte counters only the transport knows; the driver reports them to the engine before
//! each metrics request.

use std::sync::atomic::{AtomicU64, Ordering};

use signal_fish_core::metrics::TransportStats;

/// Shared by every connection task and the driver.
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    queued_bytes: AtomicU64,
    written_bytes: AtomicU64,
    read_bytes: AtomicU64,
    unfinished_evictions: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

impl TransportCounters {
    pub(crate) fn queued(&self, bytes: usize) {
        self.queued_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes leave the queue, either written (`written = true`) or discarded with a
    /// connection that is gone.
    pub(crate) fn dequeued(&self, bytes: usize, written: bool) {
        self.queued_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
        if written {
            self.written_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn read(&self, bytes: usize) {
        self.read_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A connection was closed by the budget for unfinished messages.
    pub(crate) fn unfinished_evicted(&self) {
        self.unfinished_evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS handshake completed (`true`) or failed, stalled or was evicted.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn tls_handshake(&self, completed: bool) {
        let counter = if completed { &self.tls_handshakes } else { &self.tls_handshake_failures };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures as of now; `unfinished_bytes` comes from the budget.
    pub(crate) fn snapshot(&self, unfinished_bytes: usize) -> TransportStats {
        TransportStats {
            outbound_queue_bytes: self.queued_bytes.load(Ordering::Relaxed),
            bytes_written_total: self.written_bytes.load(Ordering::Relaxed),
            bytes_read_total: self.read_bytes.load(Ordering::Relaxed),
            unfinished_message_bytes: unfinished_bytes as u64,
            unfinished_evictions_total: self.unfinished_evictions.load(Ordering::Relaxed),
            tls_handshakes_total: self.tls_handshakes.load(Ordering::Relaxed),
            tls_handshake_failures_total: self.tls_handshake_failures.load(Ordering::Relaxed),
        }
    }
}
