//! State every task of one server shares: the driver's inbox, id counters, limits, and
//! the executor new tasks are spawned on.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use signal_fish_core::{Config, ConnId};
use smol::channel::Sender;
use smol::{Executor, Task};

use super::inbox::Inbound;
use super::stats::TransportCounters;
use crate::forwarding::Forwarding;
use crate::limits::pending::PendingHeads;
use crate::limits::unfinished::UnfinishedBudget;
use crate::limits::TransportLimits;
use crate::sync::latch::Latch;

/// TCP connections (WebSocket or plain HTTP) beyond `server.max_connections` that may
/// be open at once: room for handshakes, metrics scrapes and the engine's own refusals.
const EXTRA_TCP_CONNECTIONS: usize = 256;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The driver's inbox (bounded: readers wait when the engine is busy).
    pub inbox: Sender<Inbound>,
    /// Transport byte counters.
    pub counters: Arc<TransportCounters>,
    /// The transport's hard cap on a message (`Config::hard_message_cap`; the echo
    /// server's may be larger), and the bytes of one connection's messages that may
    /// wait for the engine (limits/credit.rs), so one message of any accepted size fits.
    pub max_inbound_bytes: usize,
    /// `websocket.max_outbound_queue_bytes`.
    pub max_queue_bytes: usize,
    /// Frames per write: `websocket.batch_size` with batching on, else 1.
    pub batch_size: usize,
    /// Most TCP connections served at once.
    pub max_tcp: usize,
    /// Time a connection has to send a request head.
    pub head_timeout: Duration,
    /// Connections waiting for a request head.
    pub pending_heads: Arc<PendingHeads>,
    /// Trusted proxies: whose word on the client's address is taken.
    pub forwarding: Forwarding,
    /// `SO_SNDBUF` for accepted connections (`None`: the system's autotuning).
    pub send_buffer_bytes: Option<usize>,
    /// Set when the server starts shutting down.
    pub stopping: Latch,
    /// Bytes held in unfinished messages, across connections.
    pub unfinished: UnfinishedBudget,
    /// The server's executor (weak: the executor owns the tasks, which own this).
    executor: Weak<Executor<'static>>,
    next_conn: AtomicU64,
    next_http: AtomicU64,
    live: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(
        config: &Config,
        limits: &TransportLimits,
        message_cap: usize,
        inbox: Sender<Inbound>,
        stopping: Latch,
        executor: Weak<Executor<'static>>,
    ) -> Shared {
        let batch_size =
            if config.websocket.enable_batching { config.websocket.batch_size.max(1) } else { 1 };
        Shared {
            inbox,
            counters: Arc::default(),
            max_inbound_bytes: message_cap,
            max_queue_bytes: config.websocket.max_outbound_queue_bytes,
            batch_size,
            max_tcp: config.server.max_connections.saturating_add(EXTRA_TCP_CONNECTIONS),
            head_timeout: limits.head_timeout,
            pending_heads: Arc::new(PendingHeads::new(limits.max_pending_heads)),
            forwarding: Forwarding::new(&config.security),
            send_buffer_bytes: limits.send_buffer_bytes,
            stopping,
            unfinished: UnfinishedBudget::new(config.websocket.unfinished_message_budget_bytes),
            executor,
            next_conn: AtomicU64::new(1),
            next_http: AtomicU64::new(1),
            live: AtomicUsize::new(0),
        }
    }

    /// Spawns a task on the server's executor; `None` once the server has ended.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Option<Task<T>> {
        self.executor.upgrade().map(|executor| executor.spawn(future))
    }

    /// A connection id never used before by this server.
    pub(crate) fn new_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// An HTTP request id never used before by this server.
    pub(crate) fn new_http_id(&self) -> u64 {
        self.next_http.fetch_add(1, Ordering::Relaxed)
    }

    /// TCP connections being served.
    pub(crate) fn live_connections(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

/// Counts one served TCP connection for as long as it lives.
#[derive(Debug)]
pub(crate) struct LiveGuard(Arc<Shared>);

impl LiveGuard {
    /// Counts a connection, unless `max_tcp` are already being served.
    pub(crate) fn try_new(shared: &Arc<Shared>) -> Option<LiveGuard> {
        let counted = shared
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < shared.max_tcp).then_some(n + 1));
        counted.ok().map(|_| LiveGuard(shared.clone()))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}
