//! The engine: every behaviour of protocol v2 as a deterministic state machine.
//!
//! [`Engine::step`] takes one [`Event`] and the current [`Instant`] and returns the
//! [`Action`]s to perform. Nothing else changes the engine's state, and the same
//! configuration, seed and events always give the same actions.
//!
//! Each concern lives in its own file: `auth` (Authenticate), `join` (JoinRoom), `lobby`
//! (ready and game start), `authority`, `relay` (game data), `spectators`, `departure`
//! (leave, disconnect, room removal), `reconnect`, `limits` (rate limits and connection
//! caps), `routes` (HTTP), `dashboard` (metrics history), `invariants`, `checkpoint`
//! (the whole state as a serde value: [`Engine::checkpoint`], [`Engine::restore`]).

mod admission;
mod auth;
mod authority;
mod checkpoint;
mod cluster;
mod connection;
mod dashboard;
mod departure;
mod fan_out;
mod inspect;
mod invariants;
mod join;
mod limits;
mod lobby;
mod mesh;
mod reconnect;
mod relay;
mod replay;
mod room;
mod routes;
mod snapshot;
mod spectators;
mod timers;

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cluster::ClientInput;
use crate::config::{Config, ConfigErrors};
use crate::event::{Action, CloseCause, ConnId, Event, Outbound};
use crate::http::CorsPolicy;
use crate::metrics::Counters;
use crate::protocol::{ClientMessage, ErrorCode, GameDataEncoding, ServerMessage};
use crate::rng::EngineRng;
use crate::time::UnixMicros;
use crate::Instant;

use admission::AdmissionWindow;
use connection::{Connection, Role};
use dashboard::Dashboard;
use limits::IpState;
use mesh::MeshRooms;
use replay::{ReplayBuffer, ReplayLimits};
use room::{Presence, Room, RoomKey};
use timers::{Timer, TimerTable};

pub use checkpoint::{EngineCheckpoint, RestoreError, CHECKPOINT_FORMAT};
pub use cluster::ClusterStats;
pub use inspect::RoomSummary;
pub use invariants::InvariantViolation;
#[cfg(feature = "testkit")]
pub(crate) use replay::V3_REPLAYABLE;

/// WebSocket close codes the engine uses.
pub mod close_code {
    /// Server shutting down, or the client went silent (liveness timeout).
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: authentication failures, slow consumers, connection caps.
    pub const POLICY: u16 = 1008;
    /// A mesh peer's message is above `security.max_message_size` (DECISIONS D52).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Cluster mode: another node could not take a connection over (DECISIONS D58).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The server is at its global connection cap.
    pub const TRY_AGAIN_LATER: u16 = 1013;

    /// Every close reason the engine gives. A close decided on another node of a
    /// cluster keeps its text through this list (`Action::Close` holds static text).
    pub const REASONS: &[&str] = &[
        "authentication required",
        "authentication timeout",
        "invalid app id",
        "mesh mode disabled",
        "mesh room full",
        "mesh room name too long",
        "mesh rooms at capacity",
        "message too large",
        "ping timeout",
        "room's node is gone",
        "server at capacity",
        "server shutting down",
        "slow consumer",
        "too many connections",
        "too many messages while joining",
        "hand-over not understood",
        "rate limit exceeded",
        "session resumed on another connection",
        "unsupported protocol version",
        "mesh next above max_peers_per_room",
        "mesh next must be at least 1",
    ];
}

/// How long a freed room code is kept out of generation (DECISIONS D7).
const CODE_QUARANTINE: Duration = Duration::from_secs(600);
/// Most freed codes remembered for quarantine.
const MAX_QUARANTINED_CODES: usize = 65_536;
/// Most expired reconnection records remembered (to answer `RECONNECTION_EXPIRED`).
const MAX_TOMBSTONES: usize = 16_384;
/// Attempts to find an unused room code before giving up.
const ROOM_CODE_ATTEMPTS: usize = 64;

/// The Signal Fish engine. See the module documentation.
///
/// Its state is grouped by what it serves (as quinn-proto groups a connection's), so
/// each behaviour file touches the parts it owns.
#[derive(Clone, Serialize, Deserialize)]
pub struct Engine {
    config: Config,
    /// Follows from `config` alone: rebuilt by [`Engine::restore`], never stored.
    #[serde(skip, default = "unset_cors")]
    cors: CorsPolicy,
    rng: EngineRng,
    clock: EngineClock,
    conns: BTreeMap<ConnId, Connection>,
    /// Per-source limits: client IPs and authenticated apps.
    sources: Sources,
    rooms: BTreeMap<RoomKey, Room>,
    /// Room of every seated player, present or away.
    seat_index: BTreeMap<Uuid, RoomKey>,
    /// Room codes and the room counts their limits need.
    directory: Directory,
    /// What seat reservations leave behind.
    reservations: Reservations,
    /// Matchbox full-mesh rooms and groups (`mesh.rs`).
    mesh: MeshRooms,
    timers: TimerTable,
    counters: Counters,
    /// Dashboard samples, live gauges and the metrics render budget.
    reporting: Reporting,
    shutting_down: bool,
    /// Cluster mode's hand-overs and directory queries (`cluster.rs`); empty otherwise.
    /// Last, and defaulted, so checkpoints written before cluster mode still restore.
    #[serde(default)]
    cluster: cluster::ClusterState,
}

/// The CORS policy of a deserialised engine until `restore` rebuilds it from the
/// configuration (no origin is allowed meanwhile).
fn unset_cors() -> CorsPolicy {
    CorsPolicy::List(Vec::new())
}

/// The engine's view of time: the latest `now` stepped, and how it maps to wall-clock time.
#[derive(Clone, Serialize, Deserialize)]
struct EngineClock {
    /// The instant the engine was created at.
    origin: Instant,
    /// Wall-clock microseconds at `origin`.
    unix_micros_at_origin: u64,
    /// The latest instant stepped (time never runs backwards inside the engine).
    now: Instant,
}

/// Limits kept per client source.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Sources {
    /// Connection counts and rate windows per client IP.
    ips: BTreeMap<IpAddr, IpState>,
    /// Successful authentication look-ups per app in the last minute.
    app_auth_log: BTreeMap<usize, VecDeque<Instant>>,
}

/// Room codes: which room a (game, code) names, the counts per game and per app, and
/// freed codes kept out of generation for a while (DECISIONS D7).
#[derive(Clone, Serialize, Deserialize)]
struct Directory {
    #[serde(with = "checkpoint::as_pairs")]
    by_code: BTreeMap<(String, String), RoomKey>,
    per_game: BTreeMap<String, usize>,
    per_app: BTreeMap<usize, usize>,
    /// Freed codes not to be generated again yet: (until, game, code), oldest first.
    quarantine: VecDeque<(Instant, String, String)>,
    quarantined: BTreeSet<(String, String)>,
    /// The next room's internal key.
    next_key: u64,
}

/// Reservations that ended: why (for a late `Reconnect`), and the away players whose
/// replay buffer overflowed during the current step.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Reservations {
    /// Ended without a reconnect, oldest first.
    tombstones: VecDeque<Tombstone>,
    /// Overflowed during this step; settled before the step ends.
    evictions: Vec<Uuid>,
}

/// What the metrics report beyond the counters.
#[derive(Clone, Serialize, Deserialize)]
struct Reporting {
    dashboard: Dashboard,
    /// Away players and spectators, kept as they change so metrics cost nothing per room.
    population: Population,
    /// Metrics responses rendered in the current second (`metrics.max_renders_per_second`).
    metrics_renders: AdmissionWindow,
}

impl Engine {
    /// A new engine. `config` must be valid ([`Config::validate`]); `seed` determines every
    /// generated id, code and token; `unix_ms_at_now` anchors wall-clock fields.
    ///
    /// # Panics
    /// If `config` is invalid; use [`Engine::try_new`] to get the errors instead.
    pub fn new(config: Config, seed: [u8; 32], now: Instant, unix_ms_at_now: u64) -> Engine {
        match Engine::try_new(config, seed, now, unix_ms_at_now) {
            Ok(engine) => engine,
            Err(errors) => panic!("invalid configuration:\n{errors}"),
        }
    }

    /// Like [`Engine::new`] but returns the configuration errors.
    pub fn try_new(
        config: Config,
        seed: [u8; 32],
        now: Instant,
        unix_ms_at_now: u64,
    ) -> Result<Engine, ConfigErrors> {
        config.validate()?;
        let cors =
            CorsPolicy::parse(&config.security.cors_origins).expect("validate() accepted the CORS policy");
        let dashboard = Dashboard::new(&config.metrics);
        let mut engine = Engine {
            config,
            cors,
            rng: EngineRng::from_seed(seed),
            clock: EngineClock {
                origin: now,
                unix_micros_at_origin: unix_ms_at_now.saturating_mul(1000),
                now,
            },
            conns: BTreeMap::new(),
            sources: Sources::default(),
            rooms: BTreeMap::new(),
            seat_index: BTreeMap::new(),
            directory: Directory {
                by_code: BTreeMap::new(),
                per_game: BTreeMap::new(),
                per_app: BTreeMap::new(),
                quarantine: VecDeque::new(),
                quarantined: BTreeSet::new(),
                next_key: 1,
            },
            reservations: Reservations::default(),
            mesh: MeshRooms::default(),
            timers: TimerTable::default(),
            counters: Counters::default(),
            reporting: Reporting {
                dashboard,
                population: Population::default(),
                metrics_renders: AdmissionWindow::default(),
            },
            shutting_down: false,
            cluster: cluster::ClusterState::default(),
        };
        engine.take_dashboard_sample();
        Ok(engine)
    }

    /// Processes one event and returns what to do.
    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.step_into(event, now, &mut out);
        out
    }

    /// Like [`Engine::step`] but appends to `out` (lets the caller reuse one buffer).
    /// Afterwards [`Engine::poll_timeout`] tells when to step again.
    pub fn step_into(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        // Time never runs backwards inside the engine.
        self.clock.now = now.max(self.clock.now);
        self.fire_due_timers(out);
        match event {
            Event::Opened { conn, peer_ip, target, endpoint } => {
                self.on_opened(conn, peer_ip, &target, endpoint, out)
            }
            Event::Text { conn, text } => self.on_input(conn, ClientInput::Text(text), out),
            Event::Binary { conn, data } => self.on_input(conn, ClientInput::Binary(data), out),
            Event::PongFrame { conn } => self.on_input(conn, ClientInput::PongFrame, out),
            Event::PingFrame { conn } => self.on_input(conn, ClientInput::PingFrame, out),
            Event::Closed { conn, cause } => self.on_closed(conn, cause, out),
            Event::Backlogged { conn, unsent } => self.on_input(conn, ClientInput::Backlogged(unsent), out),
            Event::Http(request) => self.on_http(&request, out),
            Event::Tick => {}
            Event::Shutdown => self.on_shutdown(out),
            Event::Answer { conn, answer } => self.on_answer(conn, answer, out),
            Event::FromNode { from, message } => self.on_node_message(from, message, out),
            Event::NodeLost { node } => self.on_node_lost(node, out),
        }
        // Settling can make a timer due now (a room emptied with empty_room_timeout 0),
        // and a timer can overflow a replay buffer: run both until nothing is due.
        loop {
            self.fire_due_timers(out);
            self.settle(out);
            if self.timers.next_deadline().is_none_or(|at| at > self.clock.now) {
                break;
            }
        }
        self.route_to_edges(out);
    }

    /// A client input from this engine's own socket: diverted while the connection
    /// waits for the directory or is served by another node (cluster mode), else handled.
    fn on_input(&mut self, conn: ConnId, input: ClientInput, out: &mut Vec<Action>) {
        if let ClientInput::Backlogged(_) = &input {
            if self.conns.get(&conn).is_some_and(|c| c.role == Role::Forwarded) {
                // The socket is here: close it now; the owner keeps what was not sent
                // for the seat's replay and forgets the connection.
                let to = self.cluster_forwarded_to(conn);
                out.push(Action::ToNode { to, message: crate::cluster::NodeMessage::Input { conn, input } });
                self.counters.slow_consumers_closed_total += 1;
                self.close_quietly(conn, close_code::POLICY, "slow consumer", out);
                return;
            }
        }
        if let Err(input) = self.divert_input(conn, input, out) {
            self.dispatch_input(conn, input, out);
        }
    }

    /// The socket ended (or, for an adopted connection, its edge says so).
    fn on_closed(&mut self, conn: ConnId, cause: CloseCause, out: &mut Vec<Action>) {
        if cause == CloseCause::TransportError && self.conns.contains_key(&conn) {
            self.counters.websocket_errors_total += 1;
        }
        self.drop_connection_because(conn, cause, out);
    }

    /// When the engine next needs to run: the one way it tells its deadline (as
    /// quinn-proto's `poll_timeout`). Ask after creating the engine and after every
    /// step; sleep until then or the next event, whichever comes first, and at the
    /// deadline step [`Event::Tick`]. Always in the future after a step (every timer due
    /// by its `now` has fired); `None` only while nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Monotonic counters (for tests and embedding applications).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The player id of a connection.
    pub fn player_id(&self, conn: ConnId) -> Option<Uuid> {
        self.conns.get(&conn).map(|c| c.player_id)
    }

    /// Wall-clock time at core instant `at`.
    fn unix_at(&self, at: Instant) -> UnixMicros {
        UnixMicros(
            self.clock.unix_micros_at_origin
                + at.saturating_duration_since(self.clock.origin).as_micros() as u64,
        )
    }

    fn unix_now(&self) -> UnixMicros {
        self.unix_at(self.clock.now)
    }

    // ----- inbound frames -----

    fn on_text(&mut self, conn: ConnId, text: &str, out: &mut Vec<Action>) {
        let max = self.config.security.max_message_size;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_inbound = self.clock.now;
        self.counters.frames_received_total += 1;
        if let Role::Mesh(key) = c.role {
            self.on_mesh_text(conn, key, text, out);
            return;
        }
        if text.len() > max {
            let message = format!("Message too large ({} bytes, max {max} bytes)", text.len());
            self.counters.validation_errors_total += 1;
            self.send(conn, &ServerMessage::error(message, ErrorCode::MessageTooLarge), out);
            return;
        }
        let message = match ClientMessage::decode(text) {
            Ok(message) => message,
            Err(_) => {
                self.counters.validation_errors_total += 1;
                self.send(
                    conn,
                    &ServerMessage::error("Invalid client message", ErrorCode::InvalidInput),
                    out,
                );
                return;
            }
        };
        if let ClientMessage::Authenticate(request) = message {
            self.on_authenticate(conn, request, out);
            return;
        }
        if !self.conns[&conn].authenticated {
            self.counters.auth_failures_total += 1;
            self.send(
                conn,
                &ServerMessage::error("Authentication required", ErrorCode::AuthenticationRequired),
                out,
            );
            self.close(conn, close_code::POLICY, "authentication required", out);
            return;
        }
        match message {
            ClientMessage::Authenticate(_) => unreachable!("handled above"),
            ClientMessage::JoinRoom(request) if self.clustered() => {
                self.hold_asking(text);
                self.on_join_room(conn, request, out);
                self.drop_asking();
            }
            ClientMessage::JoinRoom(request) => self.on_join_room(conn, request, out),
            ClientMessage::LeaveRoom => self.on_leave_room(conn, out),
            ClientMessage::GameData { data, class, key } => {
                self.on_game_data(conn, data.get(), class, key, out)
            }
            ClientMessage::AuthorityRequest { become_authority } => {
                self.on_authority_request(conn, become_authority, out)
            }
            ClientMessage::PlayerReady => self.on_player_ready(conn, out),
            ClientMessage::ProvideConnectionInfo { connection_info } => {
                self.on_provide_connection_info(conn, connection_info, out)
            }
            ClientMessage::Ping => self.send(conn, &ServerMessage::Pong, out),
            ClientMessage::Reconnect(request) if self.clustered() => {
                self.hold_asking(text);
                self.on_reconnect(conn, request, out);
                self.drop_asking();
            }
            ClientMessage::Reconnect(request) => self.on_reconnect(conn, request, out),
            ClientMessage::JoinAsSpectator(request) if self.clustered() => {
                self.hold_asking(text);
                self.on_join_as_spectator(conn, request, out);
                self.drop_asking();
            }
            ClientMessage::JoinAsSpectator(request) => self.on_join_as_spectator(conn, request, out),
            ClientMessage::LeaveSpectator => self.on_leave_spectator(conn, out),
            ClientMessage::StartGame => self.on_start_game(conn, out),
            ClientMessage::TransportStatus | ClientMessage::Signal if !self.conns[&conn].version.is_v3() => {
                // Not messages of v2: answered as any unknown type always was.
                self.counters.validation_errors_total += 1;
                self.send(
                    conn,
                    &ServerMessage::error("Invalid client message", ErrorCode::InvalidInput),
                    out,
                );
            }
            // A relay-only server has no peer transport to hear about (DECISIONS D55).
            ClientMessage::TransportStatus => {}
            ClientMessage::Signal => {
                let text = "WebRTC transport was not negotiated for this connection";
                self.send(conn, &ServerMessage::error(text, ErrorCode::UnsupportedTransport), out);
            }
        }
    }

    fn on_pong_frame(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_inbound = self.clock.now;
        // A mesh peer has no `Pong` message: its Pong frame is only a sign of life.
        if !matches!(c.role, Role::Mesh(_)) {
            self.send(conn, &ServerMessage::Pong, out);
        }
    }

    /// A slow consumer is closed (D19); if its seat is kept for a reconnect, every frame
    /// it never received is kept for replay too (see `replay` for why those do not
    /// count against the buffer's limits).
    fn on_backlogged(&mut self, conn: ConnId, unsent: Vec<Outbound>, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get(&conn) else { return };
        let player_id = c.player_id;
        let max_json_len = self.config.security.max_message_size;
        self.counters.slow_consumers_closed_total += 1;
        self.close(conn, close_code::POLICY, "slow consumer", out);
        let Some(&key) = self.seat_index.get(&player_id) else { return };
        let room = self.rooms.get_mut(&key).expect("indexed seats have rooms");
        let Some(seat) = room.seat_mut(player_id) else { return };
        let v3 = seat.version.is_v3();
        let Presence::Away { missed, .. } = &mut seat.presence else { return };
        for frame in unsent {
            let text = match frame {
                // v3 replays room-control messages only (DECISIONS D56).
                Outbound::Text(text) if v3 && !replay::is_replayable_on_v3(&text) => continue,
                Outbound::Text(text) => text,
                Outbound::Binary(_) if v3 => continue,
                Outbound::Binary(binary) => match replayable_binary(&binary, max_json_len) {
                    Some(text) => text,
                    None => continue,
                },
            };
            missed.hand_back(text);
            self.counters.reconnection_events_buffered_total += 1;
        }
    }

    fn on_shutdown(&mut self, out: &mut Vec<Action>) {
        self.shutting_down = true;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn, close_code::GOING_AWAY, "server shutting down", out);
        }
    }

    // ----- output helpers -----

    /// Serialises `message` and queues it for `conn`.
    fn send(&mut self, conn: ConnId, message: &ServerMessage, out: &mut Vec<Action>) {
        self.send_message(conn, Outbound::Text(message.to_bytes()), out);
    }

    fn send_message(&mut self, conn: ConnId, frame: Outbound, out: &mut Vec<Action>) {
        self.counters.frames_sent_total += 1;
        out.push(Action::Send { conn, message: frame });
    }

    /// Closes `conn` with `code` after what is queued, and forgets it as if it had
    /// dropped (an unexpected disconnect for its room).
    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str, out: &mut Vec<Action>) {
        if self.conns.contains_key(&conn) {
            out.push(Action::Close { conn, code, reason });
            self.drop_connection(conn, out);
        }
    }

    /// Serialises once and delivers to the room.
    fn deliver_message(
        &mut self,
        key: RoomKey,
        message: &ServerMessage,
        skip: Option<Uuid>,
        out: &mut Vec<Action>,
    ) {
        let frame = message.to_bytes();
        self.deliver(key, &frame, skip, out);
    }

    // ----- time -----

    fn fire_due_timers(&mut self, out: &mut Vec<Action>) {
        while let Some((at, timer)) = self.timers.pop_due(self.clock.now) {
            match timer {
                Timer::AuthDeadline(conn) => self.on_auth_deadline(conn, at, out),
                Timer::Liveness(conn) => self.on_liveness_timer(conn, at, out),
                Timer::Reservation(player) => self.on_reservation_deadline(player, at, out),
                Timer::RoomExpiry(key) => self.on_room_expiry_timer(key, at, out),
                Timer::IpWindow(ip) => self.on_ip_window_end(ip),
                Timer::Dashboard => self.on_dashboard_timer(at),
            }
            self.settle(out);
        }
    }

    fn on_liveness_timer(&mut self, conn: ConnId, at: Instant, out: &mut Vec<Action>) {
        let timeout = Duration::from_secs(self.config.server.ping_timeout);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.liveness_at != at || c.role == Role::Forwarded {
            return;
        }
        let deadline = c.last_inbound + timeout;
        if deadline > self.clock.now {
            c.liveness_at = deadline;
            self.timers.schedule(deadline, Timer::Liveness(conn));
            return;
        }
        self.counters.cleanup_expired_players_total += 1;
        self.close(conn, close_code::GOING_AWAY, "ping timeout", out);
    }

    /// Ends reservations whose buffers overflowed during this step. Each departure can
    /// overflow another buffer, so this runs until nothing is left; every player departs
    /// at most once, so it terminates.
    fn settle(&mut self, out: &mut Vec<Action>) {
        while let Some(player) = self.reservations.evictions.pop() {
            self.counters.reconnection_buffer_overflows_total += 1;
            self.end_reservation(player, TombstoneReason::BufferOverflow, out);
        }
    }
}

/// Counts the metrics report that would otherwise need a walk over every room
/// (`Engine::check_invariants` recounts them).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Population {
    /// Seats held for players who dropped (reconnection sessions).
    away_players: usize,
    /// Spectators watching a room.
    spectators: usize,
}

/// Why a reservation ended without a reconnect; remembered for a while so a late
/// `Reconnect` gets a precise answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TombstoneReason {
    /// The reconnection window ran out.
    Expired,
    /// More room messages came while away than the replay buffer holds.
    BufferOverflow,
    /// The room was removed.
    RoomGone,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Tombstone {
    at: Instant,
    player_id: Uuid,
    reason: TombstoneReason,
}

impl Engine {
    fn bury(&mut self, player_id: Uuid, reason: TombstoneReason) {
        if self.reservations.tombstones.len() >= MAX_TOMBSTONES {
            self.reservations.tombstones.pop_front();
        }
        self.reservations.tombstones.push_back(Tombstone { at: self.clock.now, player_id, reason });
    }
}

/// Buffers one frame for an away player, or marks the player for eviction when the
/// buffer is full (DECISIONS D19: never drop silently).
fn buffer_for_away(
    player: Uuid,
    missed: &mut ReplayBuffer,
    frame: Bytes,
    limits: ReplayLimits,
    counters: &mut Counters,
    evictions: &mut Vec<Uuid>,
) {
    if evictions.contains(&player) {
        return;
    }
    match missed.push(frame, limits) {
        Ok(()) => counters.reconnection_events_buffered_total += 1,
        Err(_) => evictions.push(player),
    }
}

/// The JSON form of a binary game-data frame, for replay (which is JSON).
fn replayable_binary(frame: &[u8], max_json_len: usize) -> Option<Bytes> {
    let (sender, payload) = crate::protocol::parse_binary_game_data_message(frame)?;
    let translated = crate::protocol::translate_to_json_message(&sender, payload, max_json_len);
    Some(replay_text(&sender, payload, translated.as_ref()))
}

/// What replay holds for a binary payload: its JSON translation, or the defined
/// `GameDataBinary` envelope when it has none.
fn replay_text(sender: &Uuid, payload: &[u8], translated: Option<&Bytes>) -> Bytes {
    match translated {
        Some(text) => text.clone(),
        None => ServerMessage::GameDataBinary {
            from_player: *sender,
            encoding: GameDataEncoding::MessagePack,
            payload: payload.to_vec(),
        }
        .to_bytes(),
    }
}

/// Whether a connection negotiated MessagePack game data.
fn is_binary(format: GameDataEncoding) -> bool {
    format == GameDataEncoding::MessagePack
}
