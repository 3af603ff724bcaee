//! Hosting the engine: the one correct way to route a step's actions to a transport.
//!
//! Every host (the smol server, the blocking example, an embedder's own) must do the
//! same things with what [`Engine::step`] returns, and one of them is easy to get wrong:
//! when a connection's outbound queue refuses a frame, the client is not reading, and the
//! engine must be told at once with [`Event::Backlogged`], carrying every frame the
//! transport never wrote (what was queued, then what was refused), in order. Frames the
//! engine sends that connection later in the same step must join that list, not the
//! queue, or they would overtake the refused ones. Stepping `Backlogged` closes the
//! connection, which can cascade (a replay buffer overflowing ends another seat), so it
//! runs until no connection is backlogged. [`Host::step`] does all of that; the host
//! supplies a [`Transport`] and then asks [`Engine::poll_timeout`] when to step
//! [`Event::Tick`].
//!
//! ```
//! use signal_fish_core::host::{Host, Transport};
//! use signal_fish_core::http::HttpResponse;
//! use signal_fish_core::{Config, ConnId, Endpoint, Engine, Event, Outbound, Instant};
//!
//! /// Frames per connection, at most 2 queued (a tiny queue, to show the backlog).
//! #[derive(Default)]
//! struct Queues(std::collections::BTreeMap<ConnId, Vec<Outbound>>);
//!
//! impl Transport for Queues {
//!     fn send(&mut self, conn: ConnId, frame: Outbound) -> Result<(), Outbound> {
//!         let queue = self.0.entry(conn).or_default();
//!         if queue.len() >= 2 {
//!             return Err(frame);
//!         }
//!         queue.push(frame);
//!         Ok(())
//!     }
//!     fn take_unsent(&mut self, conn: ConnId) -> Vec<Outbound> {
//!         self.0.remove(&conn).unwrap_or_default()
//!     }
//!     fn close(&mut self, conn: ConnId, _code: u16, _reason: &'static str) {
//!         self.0.remove(&conn);
//!     }
//!     fn respond(&mut self, _response: HttpResponse) {}
//! }
//!
//! let engine = Engine::new(Config::default(), [0; 32], Instant::ZERO, 0);
//! let mut host = Host::new(engine);
//! let mut queues = Queues::default();
//! let open = Event::Opened { conn: ConnId(1), peer_ip: "127.0.0.1".parse().unwrap(), target: "/v2/ws".into(), endpoint: Endpoint::V2 };
//! host.step(open, Instant::ZERO, &mut queues);
//! let ping = || Event::Text { conn: ConnId(1), text: r#"{"type":"Ping"}"#.into() };
//! host.step(ping(), Instant::ZERO, &mut queues);
//! host.step(ping(), Instant::ZERO, &mut queues);
//! // The third Pong does not fit: the engine is told and closes the connection.
//! host.step(ping(), Instant::ZERO, &mut queues);
//! assert_eq!(host.engine().connection_count(), 0);
//! assert_eq!(host.engine().counters().slow_consumers_closed_total, 1);
//! ```

use crate::event::{Action, ConnId, Event, Outbound};
use crate::http::HttpResponse;
use crate::{Engine, Instant};

/// Where a host's connections are; what [`Host::step`] routes actions to.
pub trait Transport {
    /// Queues `frame` for `conn`. `Err(frame)` when the connection's queue is full (its
    /// client is not reading); a connection the transport no longer has may drop the
    /// frame and return `Ok`.
    fn send(&mut self, conn: ConnId, frame: Outbound) -> Result<(), Outbound>;

    /// Takes back every frame queued for `conn` and not written yet, oldest first. Called
    /// once, for a connection whose queue refused a frame, just before the engine closes
    /// it. A transport that cannot take frames back returns none: they are then written
    /// before the close (but not replayed after a reconnect).
    fn take_unsent(&mut self, conn: ConnId) -> Vec<Outbound>;

    /// Closes `conn` with `code` and `reason` after what is queued for it.
    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str);

    /// Answers an HTTP request.
    fn respond(&mut self, response: HttpResponse);

    /// Carries a cluster action ([`Action::Query`], [`Action::Publish`],
    /// [`Action::ToNode`]) to the directory or another node. An engine emits them only
    /// in cluster mode (`cluster.redis_url` set), so a host that never runs one may keep
    /// this default, which refuses them loudly.
    fn cluster(&mut self, action: Action) {
        panic!("a cluster action reached a host without a cluster: {action:?}");
    }
}

/// Sees every step a [`Host`] takes, in order, including the [`Event::Backlogged`] steps
/// the host adds itself: what a flight recorder needs to reproduce the engine
/// (`crate::recording`). `()` observes nothing.
pub trait StepObserver {
    /// Called before `engine` steps `event` at `now` (between steps, so `engine` may be
    /// checkpointed).
    fn before_step(&mut self, engine: &Engine, event: &Event, now: Instant);

    /// Called with the actions of the step just taken, before they are routed.
    fn after_step(&mut self, actions: &[Action]);
}

impl StepObserver for () {
    #[inline]
    fn before_step(&mut self, _engine: &Engine, _event: &Event, _now: Instant) {}

    #[inline]
    fn after_step(&mut self, _actions: &[Action]) {}
}

/// An engine and the routing state a step needs. See the module documentation.
pub struct Host {
    engine: Engine,
    /// Reused between steps.
    actions: Vec<Action>,
    /// Connections whose queue refused a frame during this step, with the frames the
    /// engine sent them since (refused ones first), in the order they overflowed.
    backlogged: Vec<(ConnId, Vec<Outbound>)>,
}

impl Host {
    /// Hosts `engine`.
    pub fn new(engine: Engine) -> Host {
        Host { engine, actions: Vec::with_capacity(64), backlogged: Vec::new() }
    }

    /// The engine, for queries ([`Engine::poll_timeout`], counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Steps `event` at `now` and routes every action to `transport`, then tells the
    /// engine about each connection whose queue overflowed (which closes it), until none
    /// is left.
    pub fn step(&mut self, event: Event, now: Instant, transport: &mut impl Transport) {
        self.step_observed(event, now, transport, &mut ());
    }

    /// [`Host::step`], showing every engine step (the backlog steps too) to `observer`.
    pub fn step_observed(
        &mut self,
        event: Event,
        now: Instant,
        transport: &mut impl Transport,
        observer: &mut impl StepObserver,
    ) {
        self.step_once(event, now, transport, observer);
        // Each round closes the connections it handles, and every connection is closed
        // at most once, so this ends.
        while !self.backlogged.is_empty() {
            let backlogged = std::mem::take(&mut self.backlogged);
            for (conn, refused) in backlogged {
                let mut unsent = transport.take_unsent(conn);
                unsent.extend(refused);
                self.step_once(Event::Backlogged { conn, unsent }, now, transport, observer);
            }
        }
    }

    fn step_once(
        &mut self,
        event: Event,
        now: Instant,
        transport: &mut impl Transport,
        observer: &mut impl StepObserver,
    ) {
        let mut actions = std::mem::take(&mut self.actions);
        observer.before_step(&self.engine, &event, now);
        self.engine.step_into(event, now, &mut actions);
        observer.after_step(&actions);
        for action in actions.drain(..) {
            match action {
                Action::Send { conn, message: frame } => {
                    if let Some((_, refused)) = self.backlogged.iter_mut().find(|(c, _)| *c == conn) {
                        refused.push(frame);
                    } else if let Err(frame) = transport.send(conn, frame) {
                        self.backlogged.push((conn, vec![frame]));
                    }
                }
                Action::Close { conn, code, reason } => {
                    // A connection closed in the step that overflowed it needs no backlog.
                    self.backlogged.retain(|(c, _)| *c != conn);
                    transport.close(conn, code, reason);
                }
                Action::Http(response) => transport.respond(response),
                cluster @ (Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. }) => {
                    transport.cluster(cluster)
                }
            }
        }
        self.actions = actions;
    }
}
