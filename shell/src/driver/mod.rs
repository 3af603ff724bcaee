//! The driver: the one task that owns the [`Engine`] and the only caller of `step`.
//!
//! Connection tasks send [`Inbound`] messages on a bounded channel. On every wake-up the
//! driver takes every message that is ready (up to a bound), steps the engine for each,
//! and routes the actions: frames to per-connection outboxes, closes to their writers,
//! HTTP responses to the waiting request tasks (`signal_fish_core::host`), and arms its
//! single timer for the engine's `poll_timeout`.
//!
//! This folder is the engine's side of the server and what every other task reaches it
//! through: the inbox connections send on (`inbox.rs`), the outboxes the driver pushes
//! frames into (`outbox.rs`), the state all tasks share (`shared.rs`), the transport's
//! byte counters (`stats.rs`), and the clock and seed the engine runs on (`clock.rs`,
//! `seed.rs`).

pub(crate) mod clock;
pub(crate) mod inbox;
pub(crate) mod outbox;
pub(crate) mod seed;
pub(crate) mod shared;
pub(crate) mod stats;

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use signal_fish_core::host::{Host, Transport};
use signal_fish_core::http::HttpResponse;
use signal_fish_core::metrics::{Histogram, HostReport};
use signal_fish_core::{ConnId, Engine, Event, Instant, Outbound};
use smol::channel::{Receiver, Sender};
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::cluster::ClusterLink;
use crate::recorder::{self, Recorder};
use clock::Clock;
use inbox::Inbound;
use outbox::{Outbox, Push};
use shared::Shared;

/// Messages processed per wake-up before timers are looked at again.
const MAX_DRAIN: usize = 1024;
/// How long connections get to flush and close after `Shutdown` (DECISIONS D23).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How often the driver looks whether every connection is gone while shutting down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(20);

enum Wake {
    Message(Inbound),
    Timer,
    Stop,
    ShutdownPoll,
    /// Recorded bytes have waited long enough for the recorder's writer.
    RecorderDue,
    /// Cluster mode: Redis answered or reported something.
    Cluster(signal_fish_redis::LinkEvent),
}

/// See the module documentation.
pub(crate) struct Driver {
    host: Host,
    clock: Clock,
    inbox: Receiver<Inbound>,
    shared: Arc<Shared>,
    routes: Routes,
    /// The deadline the timer is armed for (the engine's latest `poll_timeout`).
    wake_at: Option<Instant>,
    timer: Timer,
    shutdown_deadline: Option<std::time::Instant>,
    /// When the current step started: the end of the previous one, or the wake-up.
    step_start: std::time::Instant,
    /// How long steps took (with the routing of their actions), for the metrics.
    step_latency: Histogram,
    /// The flight recorder, when `recorder.enabled`.
    recorder: Option<Recorder>,
}

/// Where the engine's actions go: the connections' outboxes and the HTTP requests
/// waiting for an answer.
struct Routes {
    conns: HashMap<ConnId, Arc<Outbox>>,
    http: HashMap<u64, Sender<HttpResponse>>,
    /// Cluster mode: the directory and the other nodes.
    cluster: Option<ClusterLink>,
}

impl Transport for Routes {
    fn send(&mut self, conn: ConnId, frame: Outbound) -> Result<(), Outbound> {
        match self.conns.get(&conn).map(|outbox| outbox.push(frame)) {
            Some(Push::Full(frame)) => Err(frame),
            // Queued, or the connection is closing or gone (its end reaches the engine).
            _ => Ok(()),
        }
    }

    fn take_unsent(&mut self, conn: ConnId) -> Vec<Outbound> {
        self.conns.get(&conn).map(|outbox| outbox.take_queued()).unwrap_or_default()
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str) {
        if let Some(outbox) = self.conns.remove(&conn) {
            tracing::debug!(%conn, code, reason, "closing websocket");
            outbox.close(code, reason);
        }
    }

    fn respond(&mut self, response: HttpResponse) {
        if let Some(reply) = self.http.remove(&response.id) {
            // The request task may have given up (timeout); nothing to do then.
            let _ = reply.try_send(response);
        }
    }

    fn cluster(&mut self, action: signal_fish_core::Action) {
        match &mut self.cluster {
            Some(link) => link.carry(action),
            None => unreachable!("the engine is in cluster mode only when the server started a cluster link"),
        }
    }
}

impl Driver {
    pub(crate) fn new(
        engine: Engine,
        clock: Clock,
        inbox: Receiver<Inbound>,
        shared: Arc<Shared>,
        recorder: Option<Recorder>,
        cluster: Option<ClusterLink>,
    ) -> Driver {
        let mut driver = Driver {
            host: Host::new(engine),
            clock,
            inbox,
            shared,
            routes: Routes { conns: HashMap::new(), http: HashMap::new(), cluster },
            wake_at: None,
            timer: Timer::never(),
            shutdown_deadline: None,
            step_start: std::time::Instant::now(),
            step_latency: Histogram::default(),
            recorder,
        };
        // The engine has timers from birth (dashboard sampling); arm the first one.
        driver.rearm();
        driver
    }

    /// Runs until shutdown has completed (every connection closed, or the grace period
    /// is over).
    pub(crate) async fn run(mut self) {
        // Created once and kept: waiting costs no allocation and no new registrations.
        let stopping = self.shared.stopping.clone();
        let mut stop = pin!(stopping.wait());
        let mut stop_seen = false;
        let mut shutdown_poll = Timer::never();
        let mut recorder_due = Timer::never();
        let mut recorder_armed = false;
        // The receiver as a stream keeps its registration across waits.
        let mut messages = pin!(self.inbox.clone());
        let mut cluster_events = self.routes.cluster.as_ref().map(|link| Box::pin(link.events()));
        let cluster_queue = self.routes.cluster.as_ref().map(ClusterLink::events);
        loop {
            let wake = poll_fn(|cx| {
                if let Poll::Ready(Some(message)) = messages.as_mut().poll_next(cx) {
                    return Poll::Ready(Wake::Message(message));
                }
                if let Some(events) = cluster_events.as_mut() {
                    if let Poll::Ready(Some(event)) = events.as_mut().poll_next(cx) {
                        return Poll::Ready(Wake::Cluster(event));
                    }
                }
                // (`None`: every sender is gone, and nothing more can happen but timers.)
                if Pin::new(&mut self.timer).poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
                if !stop_seen && stop.as_mut().poll(cx).is_ready() {
                    stop_seen = true;
                    return Poll::Ready(Wake::Stop);
                }
                if Pin::new(&mut shutdown_poll).poll(cx).is_ready() {
                    return Poll::Ready(Wake::ShutdownPoll);
                }
                if recorder_armed && Pin::new(&mut recorder_due).poll(cx).is_ready() {
                    return Poll::Ready(Wake::RecorderDue);
                }
                Poll::Pending
            })
            .await;
            self.step_start = std::time::Instant::now();
            match wake {
                Wake::Message(message) => self.handle(message),
                Wake::Stop => {
                    self.begin_shutdown();
                    shutdown_poll.set_interval(SHUTDOWN_POLL);
                }
                Wake::RecorderDue => recorder_armed = false,
                Wake::Cluster(event) => self.on_cluster_event(event),
                Wake::Timer | Wake::ShutdownPoll => {}
            }
            for _ in 0..MAX_DRAIN {
                match self.inbox.try_recv() {
                    Ok(message) => self.handle(message),
                    Err(_) => break,
                }
            }
            // Cluster events get their share of every pass: behind a busy inbox they would
            // wait, and a full event queue holds up the link's threads (and heartbeats).
            if let Some(queue) = &cluster_queue {
                for _ in 0..MAX_DRAIN {
                    let Ok(event) = queue.try_recv() else { break };
                    self.on_cluster_event(event);
                }
            }
            if self.wake_at.is_some_and(|at| self.now() >= at) {
                self.step(Event::Tick);
            }
            if let Some(recorder) = &mut self.recorder {
                recorder.hand_over_due(self.step_start);
                if !recorder_armed && recorder.has_waiting_bytes() {
                    recorder_due.set_after(recorder::HANDOVER_INTERVAL);
                    recorder_armed = true;
                }
            }
            if let Some(deadline) = self.shutdown_deadline {
                if self.shared.live_connections() == 0 || self.step_start >= deadline {
                    break;
                }
            }
        }
        // Anyone still waiting for an HTTP answer gets none; their tasks answer 503.
        self.routes.http.clear();
        if let Some(mut recorder) = self.recorder.take() {
            // Waits for the disk: off the executor's thread.
            smol::unblock(move || recorder.finish("shutdown")).await;
        }
        if let Some(link) = self.routes.cluster.take() {
            // Codes and rooms are released at once, not after the lease (blocking).
            smol::unblock(move || link.leave()).await;
        }
    }

    /// What Redis reported, as engine events.
    fn on_cluster_event(&mut self, event: signal_fish_redis::LinkEvent) {
        // Claims are void after a lost lease and hold again once the lease is regained
        // (at once, when the loss is found at re-registration). After an outage the
        // subscription may be back before the directory connection has noticed it was
        // cut: claiming then makes it notice (and register) before other nodes take
        // this node's codes.
        let reclaim = matches!(
            event,
            signal_fish_redis::LinkEvent::LeaseLost
                | signal_fish_redis::LinkEvent::LeaseRegained
                | signal_fish_redis::LinkEvent::RedisUp
        );
        let Some(link) = self.routes.cluster.as_mut() else { return };
        let events = link.translate(event);
        if reclaim {
            let rooms = self.host.engine().rooms();
            if let Some(link) = self.routes.cluster.as_mut() {
                link.reclaim(&rooms);
            }
        }
        for event in events {
            self.step(event);
        }
    }

    /// The core time of the latest clock reading (the end of the latest step).
    fn now(&self) -> Instant {
        self.clock.to_core(self.step_start)
    }

    fn handle(&mut self, message: Inbound) {
        match message {
            Inbound::Opened { conn, peer_ip, target, endpoint, outbox } => {
                tracing::debug!(%conn, %peer_ip, %target, ?endpoint, "websocket opened");
                self.routes.conns.insert(conn, outbox);
                self.step(Event::Opened { conn, peer_ip, target, endpoint });
            }
            // The credit goes back (dropped) once the engine has processed the input.
            Inbound::Received { conn, input, credit: _credit } => {
                // Input still in flight from a connection the engine closed is moot.
                if self.routes.conns.contains_key(&conn) {
                    self.step(input.into_event(conn));
                }
            }
            Inbound::Closed { conn, cause } => {
                if self.routes.conns.remove(&conn).is_some() {
                    tracing::debug!(%conn, ?cause, "websocket closed by transport");
                    self.step(Event::Closed { conn, cause });
                }
            }
            Inbound::Http { mut request, reply } => {
                // What only the host measures travels in the event, so the response is
                // a function of the events stepped (a replay reproduces it).
                request.host = Box::new(HostReport {
                    transport: self.shared.counters.snapshot(self.shared.unfinished.total()),
                    step_latency: self.step_latency.clone(),
                    recorder: self.recorder.as_ref().map(Recorder::stats).unwrap_or_default(),
                    cluster: self.routes.cluster.as_ref().map(ClusterLink::host_stats),
                });
                self.routes.http.insert(request.id, reply);
                self.step(Event::Http(request));
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        tracing::info!(connections = self.routes.conns.len(), "shutting down: closing connections with 1001");
        self.shutdown_deadline = Some(std::time::Instant::now() + SHUTDOWN_GRACE);
        self.step(Event::Shutdown);
    }

    /// Steps the engine and routes its actions (telling it about every connection whose
    /// outbox overflowed: `Host::step`), then re-arms the timer for its next deadline.
    /// One clock reading per step: a step starts when the previous one ended (or at the
    /// wake-up), so its recorded latency covers the engine and the routing of its actions.
    fn step(&mut self, event: Event) {
        let started = self.step_start;
        let now = self.clock.to_core(started);
        match self.recorder.as_mut().and_then(Recorder::encoder) {
            Some(encoder) => self.host.step_observed(event, now, &mut self.routes, encoder),
            None => self.host.step(event, now, &mut self.routes),
        }
        // Cluster mode: a request the link could not queue is answered now (bounded: each
        // answer is for a query or message of the steps just taken).
        for _ in 0..MAX_DRAIN {
            let Some(event) = self.routes.cluster.as_mut().and_then(ClusterLink::take_immediate) else {
                break;
            };
            match self.recorder.as_mut().and_then(Recorder::encoder) {
                Some(encoder) => self.host.step_observed(event, now, &mut self.routes, encoder),
                None => self.host.step(event, now, &mut self.routes),
            }
        }
        self.rearm();
        let ended = std::time::Instant::now();
        self.step_latency.record(ended.saturating_duration_since(started));
        self.step_start = ended;
    }

    /// Arms the timer for the engine's `poll_timeout`, when it changed (re-arming costs a
    /// reactor registration).
    fn rearm(&mut self) {
        let next = self.host.engine().poll_timeout();
        if next != self.wake_at {
            self.set_wake(next);
        }
    }

    fn set_wake(&mut self, at: Option<Instant>) {
        self.wake_at = at;
        match at {
            Some(at) => self.timer.set_at(self.clock.to_std(at)),
            None => self.timer = Timer::never(),
        }
    }
}
