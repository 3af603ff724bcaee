//! `RedisLink`: the directory and the carrier on two named std threads, bridged to smol
//! by `async_channel`.
//!
//! * `sf-redis-worker` owns the directory connection (which also PUBLISHes). It takes
//!   [`Request`]s from a bounded queue, answers each with [`LinkEvent::Answer`], renews
//!   the lease every `heartbeat_interval` and polls the live nodes then. While Redis is
//!   unreachable it answers every request at once with `LinkError::Unavailable` and
//!   reconnects with capped exponential backoff.
//! * `sf-redis-sub` owns the subscription connection to this node's inbox, checks each
//!   frame's link sequence number and emits [`LinkEvent::NodeMessage`] and
//!   [`LinkEvent::LinkBroken`]. It PINGs when the inbox is quiet for a heartbeat
//!   interval, so a dead connection is noticed.
//!
//! Answers and node messages come from different threads: their relative order is not
//! defined. Events of one kind from one thread keep their order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender, TrySendError};

use crate::directory::{open_connection, Directory, Heartbeat, Owner, Registration};
use crate::error::LinkError;
use crate::frame::{self, InboundLinks, Verdict};
use crate::keys::{validate_node_id, Keys};
use crate::settings::{Backoff, LinkSettings};
use crate::stats::LinkStats;

/// Most queued requests handled per wake-up (and so most sends in one pipeline).
const MAX_BATCH: usize = 512;
/// Releases that failed (Redis down or refusing) kept to be tried again; past this the
/// oldest is given up, with a warning (its key then lives until the node's lease ends).
const MAX_PENDING_RELEASES: usize = 16_384;

/// The subscription connection's read timeout: how often its thread looks at the
/// shutdown flag while the inbox is quiet.
const SUB_POLL: Duration = Duration::from_millis(100);

/// What the caller asks the worker to do. Each is answered by one
/// [`LinkEvent::Answer`] carrying the caller's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// [`Directory::claim_code`] → [`Reply::Owner`].
    ClaimCode {
        /// Game name (any string).
        game: String,
        /// Room code.
        code: String,
    },
    /// [`Directory::find_code`] → [`Reply::Found`].
    FindCode {
        /// Game name.
        game: String,
        /// Room code.
        code: String,
    },
    /// [`Directory::release_code`] → [`Reply::Released`]. One that Redis did not carry
    /// out (down, or an error reply) is answered with the error and also tried again
    /// after the link's next successful heartbeat or reconnect.
    ReleaseCode {
        /// Game name.
        game: String,
        /// Room code.
        code: String,
    },
    /// [`Directory::publish_room`] → [`Reply::Owner`].
    PublishRoom {
        /// Room id (a UUID string).
        room_id: String,
    },
    /// [`Directory::find_room`] → [`Reply::Found`].
    FindRoom {
        /// Room id.
        room_id: String,
    },
    /// [`Directory::release_room`] → [`Reply::Released`]; tried again like
    /// [`Request::ReleaseCode`] when Redis did not carry it out.
    ReleaseRoom {
        /// Room id.
        room_id: String,
    },
    /// [`Directory::live_nodes`] → [`Reply::Nodes`].
    LiveNodes,
    /// Sends an opaque payload to another node's inbox → [`Reply::Sent`], or
    /// `LinkError::NotListening` if no one received it.
    Send {
        /// Target node id.
        to: String,
        /// Opaque payload, at most `LinkSettings::max_payload` bytes.
        payload: Vec<u8>,
    },
}

/// A successful answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Who owns the claimed code or room now.
    Owner(Owner),
    /// The live owner found, if any.
    Found(Option<String>),
    /// Whether this node's key was deleted.
    Released(bool),
    /// The live node ids.
    Nodes(Vec<String>),
    /// The frame reached the target's subscription.
    Sent,
}

/// What the link tells the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The answer to request `id`.
    Answer {
        /// The id the caller gave the request.
        id: u64,
        /// Its outcome.
        result: Result<Reply, LinkError>,
    },
    /// A payload from another node, in link order.
    NodeMessage {
        /// The sending node.
        from: String,
        /// The opaque payload.
        payload: Vec<u8>,
    },
    /// Messages were lost: from one node (`Some`: a sequence gap, or that node
    /// restarted), or from every node (`None`: the subscription connection was lost).
    /// Close every forwarded connection that depends on the affected links.
    LinkBroken {
        /// The sender whose link broke, or `None` for all of them.
        from: Option<String>,
    },
    /// The set of live nodes changed (polled at each heartbeat; sorted).
    NodesChanged {
        /// Live node ids, this one included.
        live: Vec<String>,
    },
    /// This node's lease ran out (no successful heartbeat for a lease, or Redis lost
    /// it): treat every claim it made as lost. The link registers again by itself (a
    /// fresh lease without the old claims) as soon as Redis answers: `LeaseRegained`
    /// says when.
    LeaseLost,
    /// After a `LeaseLost`, the node holds a fresh lease again: claims made from now on
    /// hold, so make again those the node still needs.
    LeaseRegained,
    /// Redis became unreachable (emitted once per change of state): requests fail with
    /// `Unavailable` until `RedisUp`.
    RedisDown {
        /// What failed first.
        error: LinkError,
    },
    /// Redis is reachable again: the node is registered and subscribed again.
    RedisUp,
}

/// The worker's last word: the result of its `release_all`.
type WorkerDone = mpsc::Receiver<Result<u64, LinkError>>;

#[derive(Debug)]
struct Envelope {
    id: u64,
    request: Request,
}

struct HealthState {
    dir_ok: bool,
    sub_ok: bool,
    up: bool,
}

/// What both threads and the handle share.
struct Shared {
    shutdown: AtomicBool,
    events: Sender<LinkEvent>,
    health: Mutex<HealthState>,
    stats: Arc<LinkStats>,
}

#[derive(Clone, Copy)]
enum Part {
    Directory,
    Subscription,
}

impl Shared {
    fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Hands an event to the caller. When the queue is full it waits for room (the
    /// caller's backpressure), until the link shuts down.
    fn emit(&self, mut event: LinkEvent) {
        loop {
            match self.events.try_send(event) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(back)) => {
                    if self.shutting_down() {
                        return;
                    }
                    event = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// Records one part's state; emits `RedisDown`/`RedisUp` when the whole changes.
    fn set(&self, part: Part, ok: bool, error: Option<&LinkError>) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match part {
            Part::Directory => h.dir_ok = ok,
            Part::Subscription => h.sub_ok = ok,
        }
        let up = h.dir_ok && h.sub_ok;
        if up == h.up {
            return;
        }
        h.up = up;
        if up {
            tracing::info!("redis link up again");
            self.emit(LinkEvent::RedisUp);
        } else {
            let error =
                error.cloned().unwrap_or(LinkError::Unavailable { op: "link", detail: "unknown".to_owned() });
            tracing::warn!(%error, "redis link down");
            self.emit(LinkEvent::RedisDown { error });
        }
    }
}

/// A clonable handle that queues requests for the worker.
#[derive(Clone)]
pub struct Requester {
    tx: Sender<Envelope>,
    stats: Arc<LinkStats>,
    max_payload: usize,
    capacity: usize,
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester").field("queued", &self.tx.len()).finish_non_exhaustive()
    }
}

impl Requester {
    fn check(&self, request: &Request) -> Result<(), LinkError> {
        if let Request::Send { payload, .. } = request {
            if payload.len() > self.max_payload {
                self.stats.payload_refused();
                return Err(LinkError::PayloadTooLarge { size: payload.len(), max: self.max_payload });
            }
        }
        Ok(())
    }

    /// Queues `request` without waiting. `Err` means it was not queued and will not be
    /// answered: `Overloaded` (queue full), `PayloadTooLarge`, `ShuttingDown`.
    pub fn try_request(&self, id: u64, request: Request) -> Result<(), LinkError> {
        self.check(&request)?;
        self.tx.try_send(Envelope { id, request }).map_err(|e| match e {
            TrySendError::Full(_) => LinkError::Overloaded { capacity: self.capacity },
            TrySendError::Closed(_) => LinkError::ShuttingDown,
        })
    }

    /// Queues `request`, waiting for room in the queue.
    pub async fn request(&self, id: u64, request: Request) -> Result<(), LinkError> {
        self.check(&request)?;
        self.tx.send(Envelope { id, request }).await.map_err(|_| LinkError::ShuttingDown)
    }
}

/// The Redis side of cluster mode: a directory worker thread and a subscription thread.
/// Stop it with [`RedisLink::shutdown`] (dropping it does the same, ignoring the result).
pub struct RedisLink {
    requester: Requester,
    shared: Arc<Shared>,
    node_id: String,
    op_timeout: Duration,
    worker: Option<(JoinHandle<()>, WorkerDone)>,
    subscriber: Option<(JoinHandle<()>, mpsc::Receiver<()>)>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Connects, registers the node (see `LinkSettings::wait_for_redis`), subscribes to
    /// its inbox and starts the threads. Returns the handle and the event stream. The
    /// worker's first event is `NodesChanged` with the live nodes (the subscriber's may
    /// come before it: a node message, a broken link, Redis down).
    pub fn start(settings: LinkSettings) -> Result<(RedisLink, Receiver<LinkEvent>), LinkError> {
        settings.validate()?;
        let keys = settings.keys()?;
        let stats = Arc::new(LinkStats::default());
        let incarnation = crate::random_u64();
        let token = format!("{incarnation:016x}");
        let mut dir = connect_and_register(&settings, &token, &stats)?;

        let (events_tx, events_rx) = async_channel::bounded(settings.max_queued_events);
        let (requests_tx, requests_rx) = async_channel::bounded(settings.max_queued_requests);
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            events: events_tx,
            health: Mutex::new(HealthState { dir_ok: true, sub_ok: true, up: true }),
            stats: stats.clone(),
        });

        let (ready_tx, ready_rx) = mpsc::channel();
        let (sub_done_tx, sub_done_rx) = mpsc::channel();
        let subscriber = Subscriber {
            client: redis::Client::open(settings.redis_url.as_str())
                .map_err(|e| LinkError::invalid("redis url", e.to_string()))?,
            channel: keys.inbox(keys.node_id()),
            settings: settings.clone(),
            shared: shared.clone(),
            links: InboundLinks::new(),
        };
        let sub_handle = spawn("sf-redis-sub", move || {
            subscriber.run(ready_tx);
            let _ = sub_done_tx.send(());
        })?;
        let ready =
            ready_rx.recv_timeout(settings.op_timeout * 3 + Duration::from_secs(1)).unwrap_or_else(|_| {
                Err(LinkError::Unavailable {
                    op: "subscribe",
                    detail: "the subscription did not start in time".to_owned(),
                })
            });
        if let Err(e) = ready {
            shared.shutdown.store(true, Ordering::Release);
            if sub_done_rx.recv_timeout(SUB_POLL * 3 + settings.op_timeout).is_ok() {
                let _ = sub_handle.join();
            }
            if let Err(release) = dir.release_all() {
                tracing::warn!(%release, "could not release the node's lease after a failed start");
            }
            return Err(e);
        }

        let (worker_done_tx, worker_done_rx) = mpsc::channel();
        let now = Instant::now();
        let worker = Worker {
            backoff: Backoff::new(settings.reconnect_backoff_min, settings.reconnect_backoff_max),
            next_heartbeat: now + settings.heartbeat_interval,
            next_reconnect: now,
            last_lease_ok: now,
            lease_lost_reported: false,
            pending_releases: VecDeque::new(),
            last_live: None,
            send_seq: HashMap::new(),
            dir,
            rx: requests_rx,
            shared: shared.clone(),
            keys,
            incarnation,
            settings: settings.clone(),
        };
        let worker_handle = match spawn("sf-redis-worker", move || {
            let result = worker.run();
            let _ = worker_done_tx.send(result);
        }) {
            Ok(h) => h,
            Err(e) => {
                shared.shutdown.store(true, Ordering::Release);
                return Err(e);
            }
        };

        let link = RedisLink {
            requester: Requester {
                tx: requests_tx,
                stats,
                max_payload: settings.max_payload,
                capacity: settings.max_queued_requests,
            },
            shared,
            node_id: settings.node_id.clone(),
            op_timeout: settings.op_timeout,
            worker: Some((worker_handle, worker_done_rx)),
            subscriber: Some((sub_handle, sub_done_rx)),
        };
        Ok((link, events_rx))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The link's counters (round-trip latency, errors, carrier counts).
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.requester.stats
    }

    /// A clonable handle for queuing requests from other tasks.
    pub fn requester(&self) -> Requester {
        self.requester.clone()
    }

    /// Queues `request` without waiting (see [`Requester::try_request`]).
    pub fn try_request(&self, id: u64, request: Request) -> Result<(), LinkError> {
        self.requester.try_request(id, request)
    }

    /// Queues `request`, waiting for room (see [`Requester::request`]).
    pub async fn request(&self, id: u64, request: Request) -> Result<(), LinkError> {
        self.requester.request(id, request).await
    }

    /// Stops taking requests (those still queued are answered `ShuttingDown`), releases
    /// every code and room of this node and its lease (`release_all`), and joins both
    /// threads. Bounded: about four `op_timeout`s plus a second at worst; a thread
    /// still busy then is left to finish on its own. Returns how many code and room
    /// keys were released.
    pub fn shutdown(mut self) -> Result<u64, LinkError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<u64, LinkError> {
        self.shared.shutdown.store(true, Ordering::Release);
        self.requester.tx.close();
        let bound = self.op_timeout * 4 + Duration::from_secs(1);
        let started = Instant::now();
        let mut result = Err(LinkError::ShuttingDown);
        if let Some((handle, done)) = self.worker.take() {
            result = match done.recv_timeout(bound) {
                Ok(r) => {
                    let _ = handle.join();
                    r
                }
                Err(_) => Err(LinkError::Unavailable {
                    op: "shutdown",
                    detail: format!("the worker did not finish within {bound:?}"),
                }),
            };
        }
        if let Some((handle, done)) = self.subscriber.take() {
            let left = (bound + SUB_POLL * 2).saturating_sub(started.elapsed()).max(SUB_POLL * 2);
            if done.recv_timeout(left).is_ok() {
                let _ = handle.join();
            } else {
                tracing::warn!("the redis subscription thread did not stop in time; left to finish");
            }
        }
        result
    }
}

impl Drop for RedisLink {
    fn drop(&mut self) {
        if self.worker.is_some() || self.subscriber.is_some() {
            if let Err(e) = self.stop() {
                tracing::warn!(error = %e, "redis link dropped: release_all failed");
            }
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, LinkError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| LinkError::Unavailable { op: "spawn thread", detail: format!("{name}: {e}") })
}

/// Connects and registers, retrying within `wait_for_redis` if set.
fn connect_and_register(
    settings: &LinkSettings,
    token: &str,
    stats: &Arc<LinkStats>,
) -> Result<Directory, LinkError> {
    let started = Instant::now();
    let deadline = settings.wait_for_redis.map(|d| started + d);
    let mut backoff = Backoff::new(settings.reconnect_backoff_min, settings.reconnect_backoff_max);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt = Directory::connect(settings, token, stats.clone()).and_then(|mut dir| {
            dir.register_node()?;
            Ok(dir)
        });
        let err = match attempt {
            Ok(dir) => return Ok(dir),
            Err(e @ (LinkError::Unavailable { .. } | LinkError::NodeIdTaken { .. })) => e,
            Err(e) => return Err(e),
        };
        let Some(deadline) = deadline else {
            return Err(err);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(match err {
                LinkError::Unavailable { op, detail } => LinkError::Unavailable {
                    op,
                    detail: format!(
                        "{detail} (gave up after {attempts} attempts in {:?})",
                        started.elapsed()
                    ),
                },
                other => other,
            });
        }
        tracing::warn!(error = %err, attempts, "redis not ready at start, retrying");
        std::thread::sleep(backoff.next_delay().min(left));
    }
}

enum Woke {
    Request(Envelope),
    Deadline,
    Closed,
}

struct Worker {
    dir: Directory,
    rx: Receiver<Envelope>,
    shared: Arc<Shared>,
    settings: LinkSettings,
    keys: Keys,
    incarnation: u64,
    send_seq: HashMap<String, u64>,
    backoff: Backoff,
    next_heartbeat: Instant,
    next_reconnect: Instant,
    last_lease_ok: Instant,
    lease_lost_reported: bool,
    /// Releases to try again (oldest first): a claim whose release failed would
    /// otherwise be renewed by every heartbeat for the rest of the node's life.
    pending_releases: VecDeque<Request>,
    last_live: Option<Vec<String>>,
}

impl Worker {
    fn run(mut self) -> Result<u64, LinkError> {
        self.poll_live();
        while !self.shared.shutting_down() {
            self.timers();
            match self.wait() {
                Woke::Request(envelope) => self.handle_with_followers(envelope),
                Woke::Deadline => {}
                Woke::Closed => break,
            }
        }
        // Still queued after the close: not carried out.
        while let Ok(envelope) = self.rx.try_recv() {
            self.shared.emit(LinkEvent::Answer { id: envelope.id, result: Err(LinkError::ShuttingDown) });
        }
        if !self.dir.is_connected() {
            let _ = self.dir.reconnect();
        }
        let released = self.dir.release_all();
        match &released {
            Ok(n) => tracing::info!(released = n, "released the node's codes, rooms and lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the node's claims at shutdown"),
        }
        released
    }

    /// The next request, or nothing when the next deadline passes.
    fn wait(&self) -> Woke {
        let deadline = if self.dir.is_connected() { self.next_heartbeat } else { self.next_reconnect };
        let timeout = deadline.saturating_duration_since(Instant::now());
        let received = if timeout.is_zero() {
            match self.rx.try_recv() {
                Ok(e) => Some(Ok(e)),
                Err(async_channel::TryRecvError::Empty) => None,
                Err(async_channel::TryRecvError::Closed) => Some(Err(())),
            }
        } else {
            async_io::block_on(futures_lite::future::or(
                async { Some(self.rx.recv().await.map_err(drop)) },
                async {
                    async_io::Timer::after(timeout).await;
                    None
                },
            ))
        };
        match received {
            Some(Ok(envelope)) => Woke::Request(envelope),
            Some(Err(())) => Woke::Closed,
            None => Woke::Deadline,
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if !self.dir.is_connected() {
            if now >= self.next_reconnect {
                self.reconnect();
            }
        } else if now >= self.next_heartbeat {
            self.heartbeat();
        }
        if !self.lease_lost_reported && self.last_lease_ok.elapsed() >= self.settings.lease {
            self.lease_lost();
        }
    }

    fn lease_lost(&mut self) {
        if !self.lease_lost_reported {
            self.lease_lost_reported = true;
            tracing::warn!("the node's lease is lost: its claims are void");
            self.shared.emit(LinkEvent::LeaseLost);
        }
    }

    fn reconnect(&mut self) {
        match self.dir.reconnect().and_then(|()| self.register()) {
            Ok(()) => {
                self.shared.stats.reconnected();
                self.backoff.reset();
                self.next_heartbeat = Instant::now() + self.settings.heartbeat_interval;
                self.shared.set(Part::Directory, true, None);
                self.poll_live();
                self.retry_releases();
            }
            // An error reply too (LOADING, READONLY, NOPERM…): the node is not
            // registered, so the directory stays down and the link tries again later.
            Err(e) => self.connection_down(e),
        }
    }

    /// Registers again. After a reported lease loss the old claims are dropped first,
    /// so Redis agrees with what the caller was told.
    fn register(&mut self) -> Result<(), LinkError> {
        let started = Instant::now();
        let loss_reported = self.lease_lost_reported;
        if loss_reported {
            self.dir.release_all()?;
        }
        match self.dir.register_node()? {
            Registration::Fresh { released } => {
                // Redis had no lease for us (it lost it, or it ran out): the claims are gone.
                if released > 0 {
                    tracing::info!(released, "dropped the claims of the expired lease");
                }
                // Releasing what Redis no longer holds for this node is moot.
                self.pending_releases.clear();
                self.lease_lost();
            }
            Registration::Renewed => {}
        }
        if loss_reported {
            // The loss was told while claims could not be made: now they can.
            tracing::info!("registered again with a fresh lease");
            self.shared.emit(LinkEvent::LeaseRegained);
        }
        self.lease_lost_reported = false;
        self.last_lease_ok = started;
        Ok(())
    }

    fn heartbeat(&mut self) {
        let started = Instant::now();
        self.next_heartbeat = started + self.settings.heartbeat_interval;
        match self.dir.heartbeat() {
            Ok(Heartbeat::Alive) => {
                self.last_lease_ok = started;
                self.poll_live();
                self.retry_releases();
            }
            Ok(Heartbeat::Expired | Heartbeat::TakenOver) => {
                self.lease_lost();
                match self.register() {
                    Ok(()) => self.poll_live(),
                    Err(e) => self.failed(e),
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn poll_live(&mut self) {
        match self.dir.live_nodes() {
            Ok(mut live) => {
                live.sort();
                if self.last_live.as_ref() != Some(&live) {
                    self.last_live = Some(live.clone());
                    self.shared.emit(LinkEvent::NodesChanged { live });
                }
            }
            Err(e) => self.failed(e),
        }
    }

    /// An operation failed: on a lost connection (or a node id held by someone else)
    /// drop the connection, report the link down and schedule a reconnect.
    fn failed(&mut self, error: LinkError) {
        match error {
            LinkError::Unavailable { .. } | LinkError::NodeIdTaken { .. } => self.connection_down(error),
            LinkError::LeaseLost { .. } => {
                self.lease_lost();
                self.next_heartbeat = Instant::now();
            }
            other => tracing::warn!(error = %other, "redis operation failed"),
        }
    }

    /// Drops the directory connection, reports it down and schedules a reconnect.
    fn connection_down(&mut self, error: LinkError) {
        self.dir.disconnect();
        let delay = self.backoff.next_delay();
        self.next_reconnect = Instant::now() + delay;
        tracing::debug!(%error, ?delay, "redis directory connection lost, reconnecting later");
        self.shared.set(Part::Directory, false, Some(&error));
    }

    /// Keeps a release that Redis did not carry out, to try it again after the next
    /// successful heartbeat or reconnect.
    fn keep_release(&mut self, request: Request, error: &LinkError) {
        if !matches!(error, LinkError::Unavailable { .. } | LinkError::Redis { .. }) {
            return;
        }
        if self.pending_releases.len() == MAX_PENDING_RELEASES {
            if let Some(given_up) = self.pending_releases.pop_front() {
                tracing::warn!(?given_up, "too many failed releases kept: the oldest is given up");
            }
        }
        self.pending_releases.push_back(request);
    }

    /// Tries the kept releases again, oldest first, until one fails to reach Redis.
    fn retry_releases(&mut self) {
        while let Some(request) = self.pending_releases.pop_front() {
            let result = match &request {
                Request::ReleaseCode { game, code } => self.dir.release_code(game, code),
                Request::ReleaseRoom { room_id } => self.dir.release_room(room_id),
                _ => unreachable!("only releases are kept"),
            };
            match result {
                Ok(_) => {}
                Err(e @ LinkError::Unavailable { .. }) => {
                    self.pending_releases.push_front(request);
                    return self.failed(e);
                }
                Err(e @ LinkError::Redis { .. }) => {
                    // Still refused: keep it, and wait for the next heartbeat.
                    tracing::debug!(error = %e, "a kept release was refused again");
                    self.pending_releases.push_front(request);
                    return;
                }
                Err(e) => tracing::warn!(error = %e, ?request, "a kept release failed for good"),
            }
        }
    }

    /// Handles `first` and whatever else is queued already, in order: consecutive sends
    /// go out as one pipelined round trip (a busy room sends many messages at once; one
    /// round trip each would cap the carrier at a few thousand a second).
    fn handle_with_followers(&mut self, first: Envelope) {
        let mut sends: Vec<Envelope> = Vec::new();
        let mut next = Some(first);
        for _ in 0..MAX_BATCH {
            let Some(envelope) = next.take() else { break };
            if matches!(envelope.request, Request::Send { .. }) {
                sends.push(envelope);
            } else {
                self.send_batch(std::mem::take(&mut sends));
                self.handle(envelope);
            }
            // After `shutdown` the rest is answered `ShuttingDown`, not carried out; a
            // heartbeat that falls due goes first (slow round trips must not starve it).
            let heartbeat_due = self.dir.is_connected() && Instant::now() >= self.next_heartbeat;
            next = if self.shared.shutting_down() || heartbeat_due { None } else { self.rx.try_recv().ok() };
        }
        self.send_batch(sends);
        if let Some(envelope) = next {
            self.handle(envelope);
        }
    }

    /// Sends queued `Send` requests in one pipeline and answers each.
    fn send_batch(&mut self, sends: Vec<Envelope>) {
        if sends.is_empty() {
            return;
        }
        if sends.len() == 1 {
            return sends.into_iter().for_each(|e| self.handle(e));
        }
        let was_connected = self.dir.is_connected();
        let mut framed: Vec<(u64, String, String, Vec<u8>)> = Vec::with_capacity(sends.len());
        for envelope in sends {
            let Request::Send { to, payload } = envelope.request else {
                unreachable!("only sends are batched")
            };
            if let Err(e) = self.check_send(&to, &payload) {
                self.shared.emit(LinkEvent::Answer { id: envelope.id, result: Err(e) });
                continue;
            }
            let seq = self.send_seq.entry(to.clone()).or_insert(0);
            *seq += 1;
            let frame = frame::encode(self.keys.node_id(), self.incarnation, *seq, &payload);
            framed.push((envelope.id, to.clone(), self.keys.inbox(&to), frame));
        }
        let frames: Vec<(String, Vec<u8>)> =
            framed.iter().map(|(_, _, ch, f)| (ch.clone(), f.clone())).collect();
        match self.dir.publish_many(&frames) {
            Ok(counts) => {
                for ((id, to, _, _), count) in framed.into_iter().zip(counts) {
                    let result = if count == 0 {
                        self.shared.stats.not_listening();
                        Err(LinkError::NotListening { node_id: to })
                    } else {
                        self.shared.stats.sent();
                        Ok(Reply::Sent)
                    };
                    self.shared.emit(LinkEvent::Answer { id, result });
                }
            }
            Err(e) => {
                for (id, ..) in framed {
                    self.shared.emit(LinkEvent::Answer { id, result: Err(e.clone()) });
                }
                if matches!(e, LinkError::Unavailable { .. }) && was_connected {
                    self.failed(e);
                }
            }
        }
    }

    /// Whether a send may go out: its size, its target's name, the connection.
    fn check_send(&self, to: &str, payload: &[u8]) -> Result<(), LinkError> {
        if payload.len() > self.settings.max_payload {
            self.shared.stats.payload_refused();
            return Err(LinkError::PayloadTooLarge { size: payload.len(), max: self.settings.max_payload });
        }
        validate_node_id(to)?;
        if !self.dir.is_connected() {
            return Err(LinkError::Unavailable {
                op: "publish",
                detail: "not connected to redis (reconnecting)".to_owned(),
            });
        }
        Ok(())
    }

    fn handle(&mut self, envelope: Envelope) {
        let was_connected = self.dir.is_connected();
        let release = matches!(envelope.request, Request::ReleaseCode { .. } | Request::ReleaseRoom { .. })
            .then(|| envelope.request.clone());
        let dir = &mut self.dir;
        let result = match envelope.request {
            Request::ClaimCode { game, code } => dir.claim_code(&game, &code).map(Reply::Owner),
            Request::FindCode { game, code } => dir.find_code(&game, &code).map(Reply::Found),
            Request::ReleaseCode { game, code } => dir.release_code(&game, &code).map(Reply::Released),
            Request::PublishRoom { room_id } => dir.publish_room(&room_id).map(Reply::Owner),
            Request::FindRoom { room_id } => dir.find_room(&room_id).map(Reply::Found),
            Request::ReleaseRoom { room_id } => dir.release_room(&room_id).map(Reply::Released),
            Request::LiveNodes => dir.live_nodes().map(Reply::Nodes),
            Request::Send { to, payload } => self.send(&to, &payload),
        };
        // A request that broke the connection, or found the lease gone, takes the same
        // path as a failed heartbeat (not one answered at once while disconnected).
        let failure = match &result {
            Err(e @ LinkError::Unavailable { .. }) if was_connected => Some(e.clone()),
            Err(e @ LinkError::LeaseLost { .. }) => Some(e.clone()),
            _ => None,
        };
        if let (Some(release), Err(e)) = (release, &result) {
            self.keep_release(release, e);
        }
        self.shared.emit(LinkEvent::Answer { id: envelope.id, result });
        if let Some(e) = failure {
            self.failed(e);
        }
    }

    fn send(&mut self, to: &str, payload: &[u8]) -> Result<Reply, LinkError> {
        self.check_send(to, payload)?;
        let stats = &self.shared.stats;
        // The sequence number is spent even if the PUBLISH fails: the receiver then
        // sees a gap and closes what depended on the lost frame.
        let seq = self.send_seq.entry(to.to_owned()).or_insert(0);
        *seq += 1;
        let frame = frame::encode(self.keys.node_id(), self.incarnation, *seq, payload);
        match self.dir.publish(&self.keys.inbox(to), &frame)? {
            0 => {
                stats.not_listening();
                Err(LinkError::NotListening { node_id: to.to_owned() })
            }
            _ => {
                stats.sent();
                Ok(Reply::Sent)
            }
        }
    }
}

struct Subscriber {
    client: redis::Client,
    channel: String,
    settings: LinkSettings,
    shared: Arc<Shared>,
    links: InboundLinks,
}

impl Subscriber {
    fn run(mut self, ready: mpsc::Sender<Result<(), LinkError>>) {
        let mut ready = Some(ready);
        let mut backoff =
            Backoff::new(self.settings.reconnect_backoff_min, self.settings.reconnect_backoff_max);
        while !self.shared.shutting_down() {
            let mut subscribed = false;
            let error = self.session(&mut ready, &mut subscribed, &mut backoff);
            if self.shared.shutting_down() {
                return;
            }
            if let Some(ready) = ready.take() {
                // The first subscription failed: the start fails.
                let _ = ready.send(Err(error));
                return;
            }
            if subscribed {
                self.shared.stats.subscription_lost();
                self.links.subscription_lost();
                tracing::warn!(%error, "redis subscription lost: every inbound link is broken");
                self.shared.emit(LinkEvent::LinkBroken { from: None });
            }
            self.shared.set(Part::Subscription, false, Some(&error));
            // Sleep the backoff, looking at the shutdown flag now and then.
            let until = Instant::now() + backoff.next_delay();
            while !self.shared.shutting_down() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(20)));
            }
        }
    }

    /// One connection's life: connect, subscribe, read until it fails. Returns why.
    fn session(
        &mut self,
        ready: &mut Option<mpsc::Sender<Result<(), LinkError>>>,
        subscribed: &mut bool,
        backoff: &mut Backoff,
    ) -> LinkError {
        let mut conn = match open_connection(&self.client, &self.settings) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut pubsub = conn.as_pubsub();
        if let Err(e) = pubsub.subscribe(&self.channel) {
            return LinkError::from_redis("subscribe", &e);
        }
        if let Err(e) = pubsub.set_read_timeout(Some(SUB_POLL)) {
            return LinkError::from_redis("subscribe", &e);
        }
        *subscribed = true;
        backoff.reset();
        match ready.take() {
            Some(ready) => {
                let _ = ready.send(Ok(()));
            }
            None => self.shared.stats.reconnected(),
        }
        self.shared.set(Part::Subscription, true, None);
        let mut last_traffic = Instant::now();
        loop {
            if self.shared.shutting_down() {
                return LinkError::ShuttingDown;
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    last_traffic = Instant::now();
                    self.on_frame(msg.get_payload_bytes());
                }
                Err(e) if e.is_timeout() => {
                    if last_traffic.elapsed() < self.settings.heartbeat_interval {
                        continue;
                    }
                    // Quiet for a heartbeat interval: make sure the connection is alive.
                    let ping = pubsub
                        .set_read_timeout(Some(self.settings.op_timeout))
                        .and_then(|()| pubsub.ping::<redis::Value>())
                        .and_then(|_| pubsub.set_read_timeout(Some(SUB_POLL)));
                    if let Err(e) = ping {
                        return LinkError::from_redis("subscription ping", &e);
                    }
                    last_traffic = Instant::now();
                }
                Err(e) => return LinkError::from_redis("subscription", &e),
            }
        }
    }

    fn on_frame(&mut self, bytes: &[u8]) {
        let stats = &self.shared.stats;
        let Some(frame) = frame::decode(bytes) else {
            stats.malformed();
            tracing::warn!(len = bytes.len(), "dropped a malformed carrier frame");
            return;
        };
        let verdict = self.links.check(frame.from, frame.incarnation, frame.seq);
        if verdict == Verdict::Duplicate {
            stats.duplicate();
            return;
        }
        if frame.payload.len() > self.settings.max_payload {
            // Dropped: a loss on that link.
            stats.payload_refused();
            stats.gap();
            tracing::warn!(
                from = frame.from,
                len = frame.payload.len(),
                "dropped an oversized carrier frame"
            );
            self.shared.emit(LinkEvent::LinkBroken { from: Some(frame.from.to_owned()) });
            return;
        }
        if verdict == Verdict::GapThenDeliver {
            stats.gap();
            tracing::warn!(from = frame.from, seq = frame.seq, "carrier link gap: frames were lost");
            self.shared.emit(LinkEvent::LinkBroken { from: Some(frame.from.to_owned()) });
        }
        stats.received();
        self.shared
            .emit(LinkEvent::NodeMessage { from: frame.from.to_owned(), payload: frame.payload.to_vec() });
    }
}
