//! The one virtual-time driver every harness steps the engine through: the simulator,
//! the swarm, the fuzz target, the property tests and the core behaviour tests.
//!
//! Time only moves when asked ([`VirtualHost::advance_to`]); every deadline on the way
//! fires with its own `Tick` at exactly its instant, in order, so no timer fires late or
//! inside another event's step. The host follows the engine's one deadline contract,
//! [`Engine::poll_timeout`], like a real host does.
//!
//! After every step it checks what any host could see:
//! * the engine did not panic (after a panic nothing more is stepped);
//! * [`Engine::check_invariants`] holds;
//! * no frame or close went to a connection the engine already closed, the client
//!   closed, or that was never opened;
//! * every HTTP request was answered in its step, exactly once;
//! * `poll_timeout()` lies in the future: no timer is left due.
//!
//! Broken rules are collected as [`RuleBreak`]s, not panicked on, so a run can be
//! reported and shrunk; harnesses that want a panic (the fuzz target) ask for
//! [`VirtualHost::rule_breaks`] and panic themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::host::StepObserver;
use crate::{Action, CloseCause, ConnId, Engine, Event, Instant, Outbound};

/// Most timers one advance may fire before the host calls it a timer storm.
pub const MAX_TICKS_PER_ADVANCE: usize = 1_000_000;

/// Where a connection stands, as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Open.
    Open,
    /// The engine closed it with this code.
    ClosedByServer(u16),
    /// The client closed or dropped it.
    ClosedByClient,
}

/// A broken rule, with when it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleBreak {
    /// Step number (1-based) during or after which it was seen.
    pub step: u64,
    /// Virtual time since the start.
    pub at: Duration,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for RuleBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} at {:.3}s: {}", self.step, self.at.as_secs_f64(), self.message)
    }
}

/// A connection as the host holds it.
#[derive(Clone, Debug)]
struct HostedConn {
    state: ConnState,
    /// Frames held by a writer whose client stopped reading (see [`VirtualHost::stall`]).
    held: Option<Vec<Outbound>>,
}

/// An engine on a virtual clock, with the checks every harness relies on.
pub struct VirtualHost {
    engine: Engine,
    now: Instant,
    start: Instant,
    conns: BTreeMap<ConnId, HostedConn>,
    http_pending: BTreeSet<u64>,
    rule_breaks: Vec<RuleBreak>,
    steps: u64,
    broken: bool,
    /// Sees every step (a flight recorder under test), when set.
    observer: Option<Box<dyn StepObserver>>,
}

impl VirtualHost {
    /// Hosts `engine`, whose clock starts at `start` (the `now` it was created with).
    pub fn new(engine: Engine, start: Instant) -> VirtualHost {
        VirtualHost {
            engine,
            now: start,
            start,
            conns: BTreeMap::new(),
            http_pending: BTreeSet::new(),
            rule_breaks: Vec::new(),
            steps: 0,
            broken: false,
            observer: None,
        }
    }

    /// A host in this one's state (clock, connections, frames held for stalled clients,
    /// HTTP requests pending, broken rules) hosting `engine` instead: for checkpoint
    /// tests, where `engine` is restored from a checkpoint of this host's engine and both
    /// must then see the same events.
    pub fn fork(&self, engine: Engine) -> VirtualHost {
        VirtualHost {
            engine,
            now: self.now,
            start: self.start,
            conns: self.conns.clone(),
            http_pending: self.http_pending.clone(),
            rule_breaks: self.rule_breaks.clone(),
            steps: self.steps,
            broken: self.broken,
            observer: None,
        }
    }

    /// The engine (read-only: everything that changes it goes through [`Self::step`]).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// Steps taken so far (ticks included).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Rules broken so far, in the order seen.
    pub fn rule_breaks(&self) -> &[RuleBreak] {
        &self.rule_breaks
    }

    /// Whether the engine panicked (nothing more is stepped).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// A connection's state, if it was ever opened.
    pub fn conn_state(&self, conn: ConnId) -> Option<&ConnState> {
        self.conns.get(&conn).map(|c| &c.state)
    }

    /// Records a broken rule found by a caller's own checks.
    pub fn break_rule(&mut self, message: String) {
        self.rule_breaks.push(RuleBreak { step: self.steps, at: self.elapsed(), message });
    }

    /// Shows every later step to `observer` (before and after it), as
    /// [`crate::host::Host::step_observed`] does in a real host.
    pub fn observe(&mut self, observer: Box<dyn StepObserver>) {
        self.observer = Some(observer);
    }

    /// Steps `event` at the current instant and returns the actions for the caller to
    /// observe. Frames for a stalled connection are held instead of returned; output for
    /// a connection that is not open is a broken rule and is dropped.
    pub fn step(&mut self, event: Event) -> Vec<Action> {
        if self.broken {
            return Vec::new();
        }
        match &event {
            Event::Opened { conn, .. } => {
                self.conns.insert(*conn, HostedConn { state: ConnState::Open, held: None });
            }
            Event::Closed { conn, .. } => {
                if let Some(c) = self.conns.get_mut(conn).filter(|c| c.state == ConnState::Open) {
                    c.state = ConnState::ClosedByClient;
                }
            }
            Event::Http(request) => {
                self.http_pending.insert(request.id);
            }
            _ => {}
        }
        self.steps += 1;
        let now = self.now;
        if let Some(observer) = &mut self.observer {
            observer.before_step(&self.engine, &event, now);
        }
        let engine = &mut self.engine;
        let actions = match catch_unwind(AssertUnwindSafe(|| engine.step(event, now))) {
            Ok(actions) => actions,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "non-text panic".to_owned());
                self.break_rule(format!("engine panicked: {message}"));
                self.broken = true;
                return Vec::new();
            }
        };
        if let Some(observer) = &mut self.observer {
            observer.after_step(&actions);
        }
        let delivered = actions.into_iter().filter_map(|action| self.route(action)).collect();
        if !self.http_pending.is_empty() {
            let ids: Vec<u64> = std::mem::take(&mut self.http_pending).into_iter().collect();
            self.break_rule(format!("HTTP requests {ids:?} were not answered in their step"));
        }
        if let Some(next) = self.engine.poll_timeout().filter(|next| *next <= self.now) {
            self.break_rule(format!("a timer due at {next} is still pending after the step at {}", self.now));
        }
        if let Err(violation) = self.engine.check_invariants() {
            self.break_rule(violation.to_string());
        }
        delivered
    }

    /// Moves the clock to `target`, firing each deadline up to it at its own instant;
    /// `on_tick` gets each tick's instant and actions.
    pub fn advance_to(&mut self, target: Instant, on_tick: &mut dyn FnMut(Instant, Vec<Action>)) {
        let mut ticks = 0;
        while let Some(due) = self.engine.poll_timeout() {
            if due > target || self.broken {
                break;
            }
            ticks += 1;
            if ticks > MAX_TICKS_PER_ADVANCE {
                self.break_rule(format!("more than {MAX_TICKS_PER_ADVANCE} timers fired in one advance"));
                break;
            }
            self.now = self.now.max(due);
            let actions = self.step(Event::Tick);
            on_tick(self.now, actions);
            if self.engine.poll_timeout().is_some_and(|next| next <= self.now) {
                // `step` recorded it; firing again would loop.
                break;
            }
        }
        self.now = self.now.max(target);
    }

    /// Moves the clock forward by `by`, firing every deadline on the way.
    pub fn advance_by(&mut self, by: Duration, on_tick: &mut dyn FnMut(Instant, Vec<Action>)) {
        self.advance_to(self.now + by, on_tick);
    }

    /// Jumps to the next deadline, if any, and fires it (and everything due with it).
    pub fn advance_to_next_deadline(&mut self, on_tick: &mut dyn FnMut(Instant, Vec<Action>)) {
        if let Some(at) = self.engine.poll_timeout() {
            self.advance_to(at.max(self.now), on_tick);
        }
    }

    /// The client stops reading: from now on frames for `conn` stay in its writer,
    /// unobserved, until [`Self::backlog`].
    pub fn stall(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.held.get_or_insert_with(Vec::new);
        }
    }

    /// The connection's outbound queue hit its bound: the frames held since
    /// [`Self::stall`] go back to the engine as never written.
    pub fn backlog(&mut self, conn: ConnId) -> Vec<Action> {
        let unsent = self.conns.get_mut(&conn).and_then(|c| c.held.take()).unwrap_or_default();
        self.step(Event::Backlogged { conn, unsent })
    }

    /// The client goes away (`cause` says how).
    pub fn client_gone(&mut self, conn: ConnId, cause: CloseCause) -> Vec<Action> {
        self.step(Event::Closed { conn, cause })
    }

    /// Checks one action against what the host knows; returns it if a client sees it.
    fn route(&mut self, action: Action) -> Option<Action> {
        match &action {
            Action::Send { conn, message: frame } => {
                let conn = *conn;
                if !self.deliverable(conn, "frame") {
                    return None;
                }
                let c = self.conns.get_mut(&conn).expect("checked");
                if let Some(held) = &mut c.held {
                    held.push(frame.clone());
                    return None;
                }
            }
            Action::Close { conn, code, .. } => {
                let (conn, code) = (*conn, *code);
                if !self.deliverable(conn, "close") {
                    return None;
                }
                self.conns.get_mut(&conn).expect("checked").state = ConnState::ClosedByServer(code);
            }
            // A cluster harness routes these (`testkit::cluster`).
            Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {}
            Action::Http(response) => {
                if !self.http_pending.remove(&response.id) {
                    self.break_rule(format!("HTTP response for unknown or answered request {}", response.id));
                    return None;
                }
            }
        }
        Some(action)
    }

    /// Whether `conn` is open; a broken rule if not.
    fn deliverable(&mut self, conn: ConnId, what: &str) -> bool {
        match self.conns.get(&conn).map(|c| c.state.clone()) {
            Some(ConnState::Open) => true,
            None => {
                self.break_rule(format!("{what} for unknown connection {conn}"));
                false
            }
            Some(ConnState::ClosedByServer(code)) => {
                self.break_rule(format!("{what} for {conn} after the server closed it ({code})"));
                false
            }
            Some(ConnState::ClosedByClient) => {
                self.break_rule(format!("{what} for {conn} after the client closed it"));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn host() -> VirtualHost {
        VirtualHost::new(Engine::new(Config::default(), [3; 32], Instant::ZERO, 0), Instant::ZERO)
    }

    fn open(host: &mut VirtualHost, conn: u64) -> Vec<Action> {
        host.step(Event::Opened {
            conn: ConnId(conn),
            peer_ip: "127.0.0.1".parse().unwrap(),
            target: "/v2/ws".into(),
            endpoint: crate::event::Endpoint::V2,
        })
    }

    #[test]
    fn each_deadline_fires_at_its_own_instant() {
        let mut host = host();
        open(&mut host, 1);
        let mut ticks = Vec::new();
        host.advance_by(Duration::from_secs(40), &mut |at, actions| ticks.push((at, actions)));
        // The liveness close (ping timeout 30 s) fires at exactly its deadline.
        let close_at = ticks
            .iter()
            .find(|(_, actions)| actions.iter().any(|a| matches!(a, Action::Close { .. })))
            .map(|(at, _)| *at)
            .expect("closed for silence");
        assert_eq!(close_at, Instant::ZERO + Duration::from_secs(30));
        assert_eq!(host.now(), Instant::ZERO + Duration::from_secs(40));
        assert_eq!(host.conn_state(ConnId(1)), Some(&ConnState::ClosedByServer(1001)));
        assert!(host.rule_breaks().is_empty(), "{:?}", host.rule_breaks());
    }

    #[test]
    fn stalled_frames_are_held_and_handed_back() {
        let mut host = host();
        open(&mut host, 1);
        host.stall(ConnId(1));
        let ping = host.step(Event::Text { conn: ConnId(1), text: r#"{"type":"Ping"}"#.into() });
        assert!(ping.is_empty(), "the Pong is held: {ping:?}");
        let after = host.backlog(ConnId(1));
        assert!(after.iter().any(|a| matches!(a, Action::Close { .. })), "{after:?}");
        assert!(host.rule_breaks().is_empty(), "{:?}", host.rule_breaks());
    }

    #[test]
    fn output_for_an_unknown_connection_is_a_broken_rule() {
        let mut host = host();
        host.route(Action::Close { conn: ConnId(9), code: 1000, reason: "" });
        assert_eq!(host.rule_breaks().len(), 1);
        assert!(host.rule_breaks()[0].message.contains("unknown connection"));
    }
}
