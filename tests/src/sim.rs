//! The simulator: one engine on the shared virtual-time driver
//! ([`signal_fish_core::testkit::VirtualHost`]), named virtual connections and faults.
//!
//! Time only moves when asked ([`Sim::advance_to`]); every deadline on the way fires with
//! its own `Tick` at exactly its instant, in order. Each input is delivered
//! [`Sim::spacing`] after the previous one (1 ms by default) so that distinct events get
//! distinct timestamps, as on a real server.
//!
//! Besides the driver's checks after every step (no panic, the engine's invariants, no
//! output for a closed or unknown connection, every HTTP request answered in its step, no
//! timer left due), the simulator checks its own view of the wire: every frame is a
//! well-formed server message in canonical form, every binary frame the game-data
//! envelope.
//!
//! Broken rules are collected, not panicked on, so a run can be reported and shrunk.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use signal_fish_core::http::HttpRequest;
use signal_fish_core::protocol::{MeshEvent, ServerMessage};
use signal_fish_core::testkit::VirtualHost;
pub use signal_fish_core::testkit::{ConnState, RuleBreak};
use signal_fish_core::{Action, CloseCause, Config, ConnId, Endpoint, Engine, Event, Instant, Outbound};

use crate::duration::format_secs;
use crate::frames::{parse_binary_game_data, to_hex};
use crate::observe::Observation;
use crate::rng::engine_seed;

/// Most deadline jumps in one `stabilize`.
const MAX_STABILIZE_STEPS: usize = 1_000_000;

/// A misuse of the simulator by its caller (a scenario or workload error, not an engine
/// bug): an unknown or closed connection name, a duplicate name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError(pub String);

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every event and action of a run, for comparing two runs of the same input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// FNV-1a hash of everything recorded.
    pub hash: u64,
    /// Entries recorded.
    pub entries: u64,
    /// The entries themselves, when kept.
    pub lines: Option<Vec<String>>,
}

impl Trace {
    fn record(&mut self, line: String) {
        let mut hash = if self.entries == 0 { 0xcbf2_9ce4_8422_2325 } else { self.hash };
        for b in line.as_bytes().iter().chain(b"\n") {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.hash = hash;
        self.entries += 1;
        if let Some(lines) = &mut self.lines {
            lines.push(line);
        }
    }

    /// The first entry where two traces differ, as a readable message.
    pub fn first_difference(&self, other: &Trace) -> Option<String> {
        if self.hash == other.hash && self.entries == other.entries {
            return None;
        }
        if let (Some(a), Some(b)) = (&self.lines, &other.lines) {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    return Some(format!("entry {}: first run `{x}`, second run `{y}`", i + 1));
                }
            }
            return Some(format!("first run has {} entries, second run {}", a.len(), b.len()));
        }
        Some(format!("trace hashes differ ({:016x} vs {:016x})", self.hash, other.hash))
    }
}

/// A simulated world: the engine on its virtual host and the clients around it.
pub struct Sim {
    host: VirtualHost,
    spacing: Duration,
    /// Connection names by id, in opening order.
    conns: BTreeMap<ConnId, String>,
    names: BTreeMap<String, ConnId>,
    /// Connections opened on the mesh port (their frames are matchbox events).
    mesh_conns: BTreeSet<ConnId>,
    next_conn: u64,
    observations: Vec<Observation>,
    trace: Trace,
    next_http: u64,
    /// Methods of HTTP requests in flight (a `HEAD` reply has no body on the wire).
    http_methods: BTreeMap<u64, String>,
}

impl Sim {
    /// A world at virtual time zero. `seed` is expanded to the engine's 32-byte seed;
    /// `unix_ms` is the wall-clock time at the start. `keep_trace` keeps every trace
    /// entry (for readable determinism reports) rather than only its hash.
    pub fn new(config: Config, seed: u64, unix_ms: u64, keep_trace: bool) -> Result<Sim, String> {
        let engine = Engine::try_new(config, engine_seed(seed), Instant::ZERO, unix_ms)
            .map_err(|e| format!("invalid configuration:\n{e}"))?;
        Ok(Sim {
            host: VirtualHost::new(engine, Instant::ZERO),
            spacing: Duration::from_millis(1),
            conns: BTreeMap::new(),
            names: BTreeMap::new(),
            mesh_conns: BTreeSet::new(),
            next_conn: 1,
            observations: Vec::new(),
            trace: Trace { lines: keep_trace.then(Vec::new), ..Trace::default() },
            next_http: 1,
            http_methods: BTreeMap::new(),
        })
    }

    /// The engine (read-only: everything that changes it goes through the simulator).
    pub fn engine(&self) -> &Engine {
        self.host.engine()
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.host.elapsed()
    }

    /// Virtual time between consecutive inputs.
    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    /// Sets the virtual time between consecutive inputs (zero delivers them at once).
    pub fn set_spacing(&mut self, spacing: Duration) {
        self.spacing = spacing;
    }

    /// Rules broken so far.
    pub fn violations(&self) -> &[RuleBreak] {
        self.host.rule_breaks()
    }

    /// Whether the engine panicked (nothing more is stepped).
    pub fn is_broken(&self) -> bool {
        self.host.is_broken()
    }

    /// Shows every later step to `observer` (before and after it), as a real host shows
    /// them to its flight recorder: record a simulated run with a
    /// [`signal_fish_core::recording::RecordingEncoder`].
    pub fn observe(&mut self, observer: Box<dyn signal_fish_core::host::StepObserver>) {
        self.host.observe(observer);
    }

    /// The record of every event and action so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.host.steps()
    }

    /// Takes what was observed since the last call.
    pub fn take_observations(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.observations)
    }

    /// A connection's state by name.
    pub fn conn_state(&self, name: &str) -> Option<&ConnState> {
        self.names.get(name).and_then(|id| self.host.conn_state(*id))
    }

    /// A connection's id by name.
    pub fn conn_id(&self, name: &str) -> Option<ConnId> {
        self.names.get(name).copied()
    }

    /// Names of all connections ever opened, in opening order.
    pub fn conn_names(&self) -> Vec<String> {
        self.conns.values().cloned().collect()
    }

    /// Opens a WebSocket connection named `name` from `ip` on `target`
    /// (`/v2/ws`, or `/v2/ws?reconnection_token=true`).
    pub fn connect(&mut self, name: &str, ip: IpAddr, target: &str) -> Result<(), SimError> {
        self.connect_on(name, ip, target, Endpoint::V2)
    }

    /// Opens a connection on `endpoint`: `/v2/ws` of the main port, or a matchbox
    /// full-mesh room (`/ROOM?next=N`) on the mesh port.
    pub fn connect_on(
        &mut self,
        name: &str,
        ip: IpAddr,
        target: &str,
        endpoint: Endpoint,
    ) -> Result<(), SimError> {
        if self.names.contains_key(name) {
            return Err(SimError(format!("connection `{name}` already exists; use a new name")));
        }
        self.pass_time();
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.names.insert(name.to_owned(), conn);
        self.conns.insert(conn, name.to_owned());
        if endpoint == Endpoint::Mesh {
            self.mesh_conns.insert(conn);
        }
        self.step(Event::Opened { conn, peer_ip: ip, target: target.to_owned(), endpoint });
        Ok(())
    }

    /// A text frame from `name`.
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), SimError> {
        self.pass_time();
        let conn = self.open_conn(name)?;
        self.step(Event::Text { conn, text: text.to_owned() });
        Ok(())
    }

    /// A binary frame from `name`.
    pub fn binary(&mut self, name: &str, data: Vec<u8>) -> Result<(), SimError> {
        self.pass_time();
        let conn = self.open_conn(name)?;
        self.step(Event::Binary { conn, data: Bytes::from(data) });
        Ok(())
    }

    /// A WebSocket-level Pong frame from `name`.
    pub fn pong(&mut self, name: &str) -> Result<(), SimError> {
        self.pass_time();
        let conn = self.open_conn(name)?;
        self.step(Event::PongFrame { conn });
        Ok(())
    }

    /// The client closes cleanly (close frame).
    pub fn close(&mut self, name: &str) -> Result<(), SimError> {
        self.client_gone(name, CloseCause::ClientClosed)
    }

    /// The connection drops abruptly (reset, no close frame).
    pub fn drop_conn(&mut self, name: &str) -> Result<(), SimError> {
        self.client_gone(name, CloseCause::TransportError)
    }

    /// The client sent a frame above the transport's hard cap; the shell closed it.
    pub fn oversize(&mut self, name: &str) -> Result<(), SimError> {
        self.client_gone(name, CloseCause::FrameTooLarge)
    }

    /// The client stops reading: frames for it stay in its writer, unobserved.
    pub fn stall(&mut self, name: &str) -> Result<(), SimError> {
        let conn = self.open_conn(name)?;
        self.host.stall(conn);
        Ok(())
    }

    /// The connection's outbound queue hit its byte bound (the client stopped reading);
    /// frames held since `stall` go back to the engine as never written.
    pub fn backlog(&mut self, name: &str) -> Result<(), SimError> {
        self.pass_time();
        let conn = self.open_conn(name)?;
        self.trace.record(format!("{} Backlogged {conn}", self.host.now().as_micros()));
        self.observations.push(Observation::Input);
        let actions = self.host.backlog(conn);
        self.apply_all(actions);
        Ok(())
    }

    /// A frame that was in flight when the engine closed the connection: the engine
    /// must ignore it. Allowed only for connections the server closed.
    pub fn late_text(&mut self, name: &str, text: &str) -> Result<(), SimError> {
        self.pass_time();
        let conn = *self.names.get(name).ok_or_else(|| unknown(name))?;
        if !matches!(self.host.conn_state(conn), Some(ConnState::ClosedByServer(_))) {
            return Err(SimError(format!("`{name}` was not closed by the server")));
        }
        let before = self.observations.len();
        self.step(Event::Text { conn, text: text.to_owned() });
        if self.observations[before..].iter().any(|o| !o.is_marker()) {
            self.violate(format!("a late frame from closed connection `{name}` produced output"));
        }
        Ok(())
    }

    /// An HTTP request (not a WebSocket upgrade).
    pub fn http(&mut self, method: &str, target: &str, headers: Vec<(String, String)>) {
        self.pass_time();
        let id = self.next_http;
        self.next_http += 1;
        self.http_methods.insert(id, method.to_owned());
        let request = HttpRequest {
            id,
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            host: Default::default(),
        };
        self.step(Event::Http(request));
    }

    /// Server shutdown (SIGTERM).
    pub fn shutdown(&mut self) {
        self.pass_time();
        self.step(Event::Shutdown);
    }

    /// Moves the clock forward by `by`, firing every deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.host.now() + by);
    }

    /// Jumps to the next deadline and fires it (and everything due with it).
    pub fn advance_to_next_deadline(&mut self) {
        if let Some(at) = self.engine().poll_timeout() {
            self.advance_to(at.max(self.host.now()));
        }
    }

    /// Moves the clock to `target`, firing each deadline up to it at its own instant.
    pub fn advance_to(&mut self, target: Instant) {
        let mut fired = Vec::new();
        self.host.advance_to(target, &mut |at, actions| fired.push((at, actions)));
        for (at, actions) in fired {
            self.observations.push(Observation::Wake { at: Duration::from_micros(at.as_micros()) });
            self.trace.record(format!("{} Tick", at.as_micros()));
            self.apply_all(actions);
        }
    }
    /// Lets time run with every client silent until nothing has happened for longer
    /// than the longest configured timeout (so every pending timeout has played out).
    /// The periodic dashboard sample alone does not count as something happening.
    pub fn stabilize(&mut self) {
        let horizon = self.stabilize_horizon();
        let mut last_change = self.host.now();
        let mut shape = self.shape();
        for _ in 0..MAX_STABILIZE_STEPS {
            let Some(due) = self.engine().poll_timeout() else { return };
            if due > last_change + horizon || self.is_broken() {
                return;
            }
            let before = self.observations.len();
            self.advance_to(due.max(self.host.now()));
            let observed = self.observations[before..].iter().any(|o| !o.is_marker());
            let now_shape = self.shape();
            if observed || now_shape != shape {
                last_change = self.host.now();
                shape = now_shape;
            }
        }
        self.violate(format!("stabilize did not settle within {MAX_STABILIZE_STEPS} deadlines"));
    }

    /// One line summarising the engine's state.
    pub fn state_line(&self) -> String {
        let g = self.engine().gauges();
        format!(
            "state now={} connections={} rooms={} players={} away={} spectators={}",
            format_secs(self.elapsed()),
            g.connections_active,
            g.rooms_active,
            g.players_active,
            g.reconnection_sessions_active,
            g.spectators_active
        )
    }

    /// Records a `state` reply as an observation.
    pub fn observe_state(&mut self) {
        let line = self.state_line();
        self.observations.push(Observation::State(line));
    }

    /// Records a violation found by a caller's own checks.
    pub fn violate(&mut self, message: String) {
        self.host.break_rule(message);
    }

    fn stabilize_horizon(&self) -> Duration {
        let c = self.engine().config();
        let secs = [
            c.server.ping_timeout,
            c.websocket.auth_timeout_secs,
            c.server.empty_room_timeout,
            c.server.inactive_room_timeout,
            c.server.reconnection_window,
            c.rate_limit.time_window,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Duration::from_secs(secs + 1)
    }

    /// What changes when something happens (the dashboard sample changes nothing here).
    fn shape(&self) -> (u64, u64, u64, u64, u64) {
        let g = self.engine().gauges();
        (
            g.connections_active,
            g.rooms_active,
            g.players_active,
            g.reconnection_sessions_active,
            g.spectators_active,
        )
    }

    fn open_conn(&self, name: &str) -> Result<ConnId, SimError> {
        let conn = *self.names.get(name).ok_or_else(|| unknown(name))?;
        match self.host.conn_state(conn) {
            Some(ConnState::Open) | None => Ok(conn),
            Some(ConnState::ClosedByServer(code)) => {
                Err(SimError(format!("connection `{name}` was closed by the server ({code})")))
            }
            Some(ConnState::ClosedByClient) => {
                Err(SimError(format!("connection `{name}` is already closed")))
            }
        }
    }

    fn client_gone(&mut self, name: &str, cause: CloseCause) -> Result<(), SimError> {
        self.pass_time();
        let conn = self.open_conn(name)?;
        self.step(Event::Closed { conn, cause });
        Ok(())
    }

    /// Lets `spacing` pass before an input (timers due meanwhile fire first, so the
    /// input may find its connection already closed by the server).
    fn pass_time(&mut self) {
        self.advance_to(self.host.now() + self.spacing);
    }

    fn step(&mut self, event: Event) {
        if self.is_broken() {
            return;
        }
        if !matches!(event, Event::Tick) {
            self.observations.push(Observation::Input);
        }
        self.trace.record(format!("{} {}", self.host.now().as_micros(), describe_event(&event)));
        let actions = self.host.step(event);
        self.apply_all(actions);
    }

    /// Records and observes what clients saw (the host already checked where it went).
    fn apply_all(&mut self, actions: Vec<Action>) {
        for action in actions {
            self.trace.record(describe_action(&action));
            self.apply(action);
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Send { conn, message: frame } => {
                let name = self.conns[&conn].clone();
                let problem = if self.mesh_conns.contains(&conn) {
                    mesh_frame_problem(&frame)
                } else {
                    frame_problem(&frame)
                };
                if let Some(problem) = problem {
                    self.violate(format!("malformed frame to `{name}`: {problem}"));
                }
                self.observations.push(Observation::Message { conn: name, message: frame });
            }
            Action::Close { conn, code, reason } => {
                let name = self.conns[&conn].clone();
                self.observations.push(Observation::Closed { conn: name, code, reason: reason.to_owned() });
            }
            Action::Http(response) => {
                let method = self.http_methods.remove(&response.id).unwrap_or_default();
                self.observations.push(Observation::Http { method, response });
            }
            cluster @ (Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. }) => self.violate(
                format!("a cluster action in a single-server scenario: {}", describe_action(&cluster)),
            ),
        }
    }
}

fn unknown(name: &str) -> SimError {
    SimError(format!("no connection named `{name}` (connect it first)"))
}

/// Why a frame is not what a client may receive, if it is not.
fn frame_problem(frame: &Outbound) -> Option<String> {
    match frame {
        Outbound::Text(bytes) => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Some("text frame is not UTF-8".to_owned());
            };
            match ServerMessage::decode(text) {
                Err(e) => Some(format!("not a server message ({e}): {text}")),
                Ok(message) if message.to_json() != text => {
                    Some(format!("not in canonical form: {text} (canonical: {})", message.to_json()))
                }
                Ok(_) => None,
            }
        }
        Outbound::Binary(bytes) => match parse_binary_game_data(bytes) {
            Some(frame) if frame.encoding == "message_pack" => None,
            _ => Some(format!("binary frame is not the game-data envelope: {}", to_hex(bytes))),
        },
    }
}

/// Why a frame is not what a mesh peer may receive (a matchbox `PeerEvent` in the form
/// the server writes), if it is not.
fn mesh_frame_problem(frame: &Outbound) -> Option<String> {
    let Some(text) = frame.as_text() else {
        return Some("a mesh peer got a binary frame".to_owned());
    };
    MeshEvent::decode(text).err().map(|e| format!("not a mesh event ({e}): {text}"))
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Binary { conn, data } => format!("Binary {conn} {}", to_hex(data)),
        other => format!("{other:?}"),
    }
}

fn describe_action(action: &Action) -> String {
    match action {
        Action::Send { conn, message: Outbound::Text(b) } => {
            format!("Send {conn} {}", String::from_utf8_lossy(b))
        }
        Action::Send { conn, message: Outbound::Binary(b) } => format!("Send {conn} binary {}", to_hex(b)),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn join_and_liveness_close() {
        let mut sim = Sim::new(Config::default(), 1, 1_772_366_400_000, true).unwrap();
        sim.connect("alice", ip(), "/v2/ws").unwrap();
        sim.text("alice", r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"Alice"}}"#).unwrap();
        let seen: Vec<Observation> = sim.take_observations().into_iter().filter(|o| !o.is_marker()).collect();
        assert!(matches!(&seen[0], Observation::Message { conn, .. } if conn == "alice"), "{seen:?}");
        sim.advance(Duration::from_secs(31));
        let seen = sim.take_observations();
        assert!(seen.iter().any(|o| matches!(o, Observation::Closed { code: 1001, .. })), "{seen:?}");
        assert_eq!(sim.conn_state("alice"), Some(&ConnState::ClosedByServer(1001)));
        assert!(sim.text("alice", "{}").is_err());
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }

    #[test]
    fn same_inputs_same_trace() {
        let run = || {
            let mut sim = Sim::new(Config::default(), 9, 0, false).unwrap();
            sim.connect("a", ip(), "/v2/ws").unwrap();
            sim.text("a", r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"A"}}"#).unwrap();
            sim.stabilize();
            sim.trace().clone()
        };
        assert_eq!(run().first_difference(&run()), None);
    }
}
