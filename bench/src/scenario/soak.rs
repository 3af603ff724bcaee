//! `soak`: a bounded population churns through the whole protocol for a long time while
//! the server's memory, descriptors, CPU, rooms and connections are sampled; then the
//! churn stops and the server must return to idle.
//!
//! Players come in groups of `room_size`. Each group plays rounds: the host creates a
//! room with a fresh code, the others join, everyone sends `ProvideConnectionInfo` and
//! `PlayerReady`, the game starts (`GameStarting`; the host, who holds authority, also
//! sends `StartGame`), then everyone sends game data at `hz`. In each game one player
//! drops its socket without a close and comes back with `Reconnect`, one sends a
//! malformed frame, and every fourth round one player abandons its seat at the end
//! (drops without `LeaveRoom`, so the server's reconnection window runs out); the others
//! leave with `LeaveRoom`. Between rounds connections are kept, closed, or dropped.
//! Spectators join games in progress (`JoinAsSpectator`), watch, and leave or drop.
//!
//! Game data is checked per (receiver, sender) pair. A player must receive every message
//! of each room-mate exactly once and in order, including those sent while it was away
//! (the server replays them in `Reconnected.missed_events`). To keep that check exact, a
//! player that is about to drop first asks its room to pause sending, reads everything
//! already sent to it, and waits for a `Pong` (so its own messages were handled); the
//! room resumes a moment after the drop. Nothing is excused: any message missing at the
//! end is counted as lost. A spectator must see each sender's messages without gaps,
//! duplicates or reordering from the first one it sees.
//!
//! Join pacing stays inside the server's default per-IP room-operation limits (5
//! creations and 20 join attempts per 60 s): the tool keeps a sliding-window budget per
//! source address and waits for it. Rejections that still happen (rate limits, the
//! per-IP connection cap) are counted apart from loss.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use event_listener::Event;
use serde_json::{json, Value};
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use super::{banner, check_phase, check_range, TRAFFIC_READ_BUFFER};
use crate::clock;
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::close_code;
use crate::latency::{Latency, Percentiles};
use crate::net::{self, check_fd_limit, Ws};
use crate::report::{counts, counts_human, Summary};
use crate::seq::{Anomalies, SeqTracker};
use crate::traffic::{SenderAnomalies, MAX_LISTED_SENDERS};
use crate::wire::{self, Incoming, Probe};

/// Options of `soak`.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Connections in the population, players and spectators together.
    pub clients: usize,
    /// How many of them are spectators.
    pub spectators: usize,
    /// Players per room.
    pub room_size: u8,
    /// Game-data messages per second per player during a game.
    pub hz: f64,
    /// How long the churn runs.
    pub duration: Duration,
    /// Churn before the steady state is taken to begin (RSS and fd growth are measured
    /// from there).
    pub warmup: Duration,
    /// How often the server is sampled.
    pub sample: Duration,
    /// Mean length of a game (each lasts 0.5 to 1.5 times this).
    pub game: Duration,
    /// Longest time a dropped player stays away before reconnecting.
    pub max_away: Duration,
    /// Longest wait after the churn for the server to have no rooms and no connections.
    pub idle_wait: Duration,
    /// `app_id` every connection authenticates with; `None`: every fourth connection
    /// authenticates as `signal-fish-bench` (the server answers `Authenticate` even
    /// when authentication is off), the others do not.
    pub app_id: Option<String>,
}

/// Sliding window the tool keeps per source address: the server's 60 s fixed windows
/// plus a margin, so that no server window ever sees more than the budget.
const RATE_WINDOW: Duration = Duration::from_secs(62);
/// The server's default `rate_limit.max_room_creations`.
const MAX_CREATIONS_PER_WINDOW: usize = 5;
/// The server's default `rate_limit.max_join_attempts`.
const MAX_JOINS_PER_WINDOW: usize = 20;
/// A connection that sent nothing for this long sends a `Ping` (the server's default
/// `ping_timeout` is 30 s).
const PING_EVERY: Duration = Duration::from_secs(10);
/// How long the room stays quiet after a player dropped, so the server notices the
/// drop before game data resumes (messages sent to a dead socket cannot be replayed).
const QUIET_SETTLE: Duration = Duration::from_millis(200);
/// Longest wait for one answer (`RoomJoined`, `Pong`, `RoomLeft`, …).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a round's setup may take, a full rate-limit window wait included.
const SETUP_TIMEOUT: Duration = Duration::from_secs(80);
/// Longest wait at the end of a game for every player to finish sending.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(20);
/// No new round or visit starts when less than this is left of the churn.
const MIN_TIME_LEFT: Duration = Duration::from_secs(1);
/// Bounds on loops that are also bounded in time.
const MAX_ROUNDS: usize = 1_000_000;
const MAX_PUMP_STEPS: usize = 100_000_000;
const MAX_BUDGET_WAITS: usize = 8;
/// Rows of the human-readable sample table.
const MAX_TABLE_ROWS: usize = 30;
/// Largest population.
const MAX_SOAK_CLIENTS: usize = 20_000;

/// Runs `soak`.
pub fn run(ctx: &RunContext, opts: &SoakOptions) -> Result<Summary, BenchError> {
    check(ctx, opts)?;
    let players =
        (opts.clients - opts.spectators) / usize::from(opts.room_size) * usize::from(opts.room_size);
    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("soak") };
    summary.human.push(banner(
        ctx,
        "soak",
        &format!(
            "{players} players in rooms of {} and {} spectators at {} Hz, churning {:.0} s",
            opts.room_size,
            opts.spectators,
            opts.hz,
            opts.duration.as_secs_f64()
        ),
    ));
    let started = Instant::now();
    let shared = Shared::new(ctx, opts, players, started);
    let rss_initial = ctx.rss_bytes();
    let fds_initial = ctx.process.and_then(|p| p.open_fds().ok());
    let samples = RefCell::new(Vec::<Sample>::new());
    let idle = smol::block_on(async {
        let groups = players / usize::from(opts.room_size);
        let churn = async {
            let mut all: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> = Vec::new();
            for g in 0..groups {
                all.push(Box::pin(group_loop(&shared, g)));
            }
            for s in 0..opts.spectators {
                all.push(Box::pin(spectator_loop(&shared, players + s)));
            }
            futures_util::future::join_all(all).await;
        };
        let work = async {
            churn.await;
            shared.churn_over.set(true);
            idle_check(&shared, &samples).await
        };
        let sampling = async {
            sampler(&shared, &samples).await;
            smol::future::pending().await
        };
        work.or(sampling).await
    });
    let samples = samples.into_inner();
    report(&shared, opts, &samples, rss_initial, fds_initial, &idle, &mut summary);
    Ok(summary)
}

fn check(ctx: &RunContext, opts: &SoakOptions) -> Result<(), BenchError> {
    check_range("--clients", opts.clients, 2, MAX_SOAK_CLIENTS)?;
    check_range("--room-size", opts.room_size, 2, 100)?;
    check_range("--spectators", opts.spectators, 0, opts.clients - 2)?;
    if opts.clients - opts.spectators < usize::from(opts.room_size) {
        return Err(BenchError::new(format!(
            "--clients {} with --spectators {} leaves fewer players than one room of {}",
            opts.clients, opts.spectators, opts.room_size
        )));
    }
    if !(opts.hz.is_finite() && opts.hz > 0.0 && opts.hz <= super::fixed_rate::MAX_HZ) {
        return Err(BenchError::new(format!(
            "--hz {}: must be above 0 and at most {}",
            opts.hz,
            super::fixed_rate::MAX_HZ
        )));
    }
    check_phase("--duration-secs", opts.duration, true)?;
    check_phase("--warmup-secs", opts.warmup, false)?;
    if opts.warmup >= opts.duration {
        return Err(BenchError::new("--warmup-secs must be less than --duration-secs"));
    }
    check_phase("--sample-secs", opts.sample, true)?;
    check_phase("--game-secs", opts.game, true)?;
    check_phase("--idle-wait-secs", opts.idle_wait, false)?;
    if opts.sample < Duration::from_millis(100) || opts.game < Duration::from_millis(500) {
        return Err(BenchError::new("--sample-secs must be at least 0.1 and --game-secs at least 0.5"));
    }
    let min_away = QUIET_SETTLE + Duration::from_millis(100);
    if opts.max_away < min_away || opts.max_away > Duration::from_secs(60) {
        return Err(BenchError::new(format!(
            "--max-away-secs {}: must be from {} to 60",
            opts.max_away.as_secs_f64(),
            min_away.as_secs_f64()
        )));
    }
    ctx.sources.check_capacity(opts.clients)?;
    // Each client holds one socket at a time; a reconnect may briefly hold two.
    check_fd_limit(opts.clients * 2)
}

// ---------------------------------------------------------------------------------
// Shared state of the run (one thread: Cells and RefCells).

/// A per-source-address budget of room operations over a sliding window.
#[derive(Debug, Default)]
struct Budget {
    creations: VecDeque<Instant>,
    joins: VecDeque<Instant>,
}

impl Budget {
    /// Takes one join attempt (and one creation if `creation`), or says when to retry.
    fn take(&mut self, now: Instant, creation: bool) -> Result<(), Instant> {
        for queue in [&mut self.creations, &mut self.joins] {
            while queue.front().is_some_and(|&at| now.duration_since(at) >= RATE_WINDOW) {
                queue.pop_front();
            }
        }
        let full = |queue: &VecDeque<Instant>, max: usize| {
            (queue.len() >= max).then(|| queue[queue.len() - max] + RATE_WINDOW)
        };
        let retry = [
            if creation { full(&self.creations, MAX_CREATIONS_PER_WINDOW) } else { None },
            full(&self.joins, MAX_JOINS_PER_WINDOW),
        ];
        if let Some(at) = retry.into_iter().flatten().max() {
            return Err(at);
        }
        if creation {
            self.creations.push_back(now);
        }
        self.joins.push_back(now);
        Ok(())
    }
}

struct Shared<'a> {
    ctx: &'a RunContext,
    opts: &'a SoakOptions,
    players: usize,
    started: Instant,
    churn_end: Instant,
    churn_over: Cell<bool>,
    idle_over: Cell<bool>,
    rng: Cell<u64>,
    budgets: RefCell<HashMap<Ipv4Addr, Budget>>,
    next_room: Cell<usize>,
    next_seat: Cell<u32>,
    connections_opened: Cell<u64>,
    /// Games in progress, for spectators to pick.
    live: RefCell<Vec<Rc<Session>>>,
    /// What happened (joins, drops, reconnects, …).
    counts: RefCell<BTreeMap<&'static str, u64>>,
    /// Refusals by the server's limits (not loss).
    rejections: RefCell<BTreeMap<String, u64>>,
    /// Anything unexpected (errors, closes, failed reconnects, …).
    events: RefCell<BTreeMap<String, u64>>,
    latency: RefCell<Latency>,
    window_latency: RefCell<Latency>,
    anomalies: RefCell<Anomalies>,
    anomalous: RefCell<Vec<SenderAnomalies>>,
}

impl<'a> Shared<'a> {
    fn new(ctx: &'a RunContext, opts: &'a SoakOptions, players: usize, started: Instant) -> Shared<'a> {
        let seed = u64::from_str_radix(&ctx.tag, 16).unwrap_or(0x9e37_79b9) | 1;
        Shared {
            ctx,
            opts,
            players,
            started,
            churn_end: started + opts.duration,
            churn_over: Cell::new(false),
            idle_over: Cell::new(false),
            rng: Cell::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            budgets: RefCell::new(HashMap::new()),
            next_room: Cell::new(0),
            next_seat: Cell::new(0),
            connections_opened: Cell::new(0),
            live: RefCell::new(Vec::new()),
            counts: RefCell::new(BTreeMap::new()),
            rejections: RefCell::new(BTreeMap::new()),
            events: RefCell::new(BTreeMap::new()),
            latency: RefCell::new(Latency::default()),
            window_latency: RefCell::new(Latency::default()),
            anomalies: RefCell::new(Anomalies::default()),
            anomalous: RefCell::new(Vec::new()),
        }
    }

    /// xorshift64*: reproducible enough, and cheap.
    fn random(&self) -> f64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&self, low: Duration, high: Duration) -> Duration {
        low + (high.saturating_sub(low)).mul_f64(self.random())
    }

    fn count(&self, what: &'static str) {
        self.add(what, 1);
    }

    fn add(&self, what: &'static str, n: u64) {
        *self.counts.borrow_mut().entry(what).or_default() += n;
    }

    fn event(&self, what: String) {
        *self.events.borrow_mut().entry(what).or_default() += 1;
    }

    fn reject(&self, what: String) {
        *self.rejections.borrow_mut().entry(what).or_default() += 1;
    }

    /// A refusal by a server limit is counted apart; anything else is unexpected.
    fn failure(&self, request: &str, code: &str) {
        if code == "RATE_LIMIT_EXCEEDED" || code == "TOO_MANY_CONNECTIONS" {
            self.reject(format!("{request}:{code}"));
        } else {
            self.event(format!("{request}:{code}"));
        }
    }

    fn time_left(&self) -> Duration {
        self.churn_end.saturating_duration_since(Instant::now())
    }

    fn checked(&self, sender: u32, anomalies: Anomalies) {
        self.anomalies.borrow_mut().add(anomalies);
        if !anomalies.is_clean() {
            let mut list = self.anomalous.borrow_mut();
            match list.iter_mut().find(|s| s.sender == sender as usize) {
                Some(entry) => entry.anomalies.add(anomalies),
                None => list.push(SenderAnomalies { sender: sender as usize, anomalies }),
            }
        }
    }
}

/// One room for one round of a group.
struct Session {
    game: String,
    code: String,
    host: usize,
    /// Seat ids (the probe's sender) are `base + position`.
    base: u32,
    k: usize,
    sent: Vec<Cell<u64>>,
    /// Still a member: cleared when a player's reconnect failed.
    active: Vec<Cell<bool>>,
    host_joined: Cell<bool>,
    aborted: Cell<bool>,
    game_end: Cell<Option<Instant>>,
    /// Players that asked the room to pause sending (a drop in progress).
    quiet: Cell<u32>,
    done_sending: Vec<Cell<bool>>,
    changed: Event,
    /// Who drops and reconnects, sends a malformed frame, abandons its seat.
    dropper: usize,
    malformer: usize,
    abandoner: Option<usize>,
}

impl Session {
    fn new(sh: &Shared<'_>, round: usize, k: usize) -> Session {
        let room = sh.next_room.get();
        sh.next_room.set(room + 1);
        let base = sh.next_seat.get();
        sh.next_seat.set(base + k as u32);
        Session {
            game: sh.ctx.game_name(room),
            code: RunContext::room_code(room),
            host: round % k,
            base,
            k,
            sent: (0..k).map(|_| Cell::new(0)).collect(),
            active: (0..k).map(|_| Cell::new(true)).collect(),
            host_joined: Cell::new(false),
            aborted: Cell::new(false),
            game_end: Cell::new(None),
            quiet: Cell::new(0),
            done_sending: (0..k).map(|_| Cell::new(false)).collect(),
            changed: Event::new(),
            dropper: (round + 1) % k,
            malformer: (round + 2) % k,
            abandoner: (round % 4 == 1).then_some((round + 3) % k),
        }
    }

    fn notify(&self) {
        self.changed.notify(usize::MAX);
    }

    fn abort(&self) {
        self.aborted.set(true);
        self.notify();
    }

    fn all_done_sending(&self) -> bool {
        (0..self.k).all(|p| !self.active[p].get() || self.done_sending[p].get())
    }
}

// ---------------------------------------------------------------------------------
// Connections and what they receive.

struct Conn {
    ws: Ws,
    last_sent: Instant,
    /// Malformed frames sent whose `Error{INVALID_INPUT}` has not arrived yet.
    malformed_pending: u32,
    /// The seat this connection holds, for a `Reconnect` after a drop.
    room: Option<Seat>,
}

impl Conn {
    async fn send(&mut self, text: &str) -> bool {
        self.last_sent = Instant::now();
        self.ws.send(Message::text(text)).await.is_ok()
    }
}

/// Who a connection is for the game-data check.
#[derive(Default)]
struct Recv {
    session: Option<Rc<Session>>,
    /// The player's position, or `None` for a spectator.
    me: Option<usize>,
    trackers: Vec<Option<SeqTracker>>,
}

impl Recv {
    fn player(session: &Rc<Session>, me: usize) -> Recv {
        Recv {
            trackers: (0..session.k).map(|_| None).collect(),
            session: Some(session.clone()),
            me: Some(me),
        }
    }

    fn spectator(session: &Rc<Session>) -> Recv {
        Recv { trackers: (0..session.k).map(|_| None).collect(), session: Some(session.clone()), me: None }
    }

    /// Whether everything counted in `targets` arrived from each room-mate.
    fn caught_up(&self, targets: &[u64]) -> bool {
        targets.iter().enumerate().all(|(p, &t)| {
            Some(p) == self.me || self.trackers[p].as_ref().map_or(0, SeqTracker::next_expected) >= t
        })
    }

    fn observe(&mut self, sh: &Shared<'_>, probe: Probe, replayed: bool) {
        let Some(session) = &self.session else {
            sh.event("GAME_DATA_OUTSIDE_A_ROOM".to_owned());
            return;
        };
        let pos = probe.sender.wrapping_sub(session.base) as usize;
        if pos >= session.k || Some(pos) == self.me {
            sh.event("GAME_DATA_FROM_ANOTHER_ROOM".to_owned());
            return;
        }
        let spectator = self.me.is_none();
        let tracker = self.trackers[pos].get_or_insert_with(|| {
            if spectator {
                SeqTracker::starting_at(probe.seq)
            } else {
                SeqTracker::default()
            }
        });
        tracker.observe(probe.seq);
        sh.count("deliveries");
        if replayed {
            sh.count("deliveries_replayed");
        } else {
            let us = clock::now_us().saturating_sub(probe.sent_us);
            sh.latency.borrow_mut().record(us);
            sh.window_latency.borrow_mut().record(us);
        }
    }

    /// Checks a player's streams: every room-mate's messages below `owed[p]`, each once
    /// and in order.
    fn finish_player(&mut self, sh: &Shared<'_>, owed: &[u64]) {
        let Some(session) = self.session.clone() else { return };
        for (p, &owed) in owed.iter().enumerate() {
            if Some(p) != self.me {
                let tracker = self.trackers[p].take().unwrap_or_default();
                sh.checked(session.base + p as u32, tracker.finish(owed));
            }
        }
        self.session = None;
    }

    /// Checks a spectator's streams from the first message seen on.
    fn finish_spectator(&mut self, sh: &Shared<'_>) {
        let Some(session) = self.session.take() else { return };
        for (p, tracker) in self.trackers.iter_mut().enumerate() {
            if let Some(t) = tracker.take() {
                sh.checked(session.base + p as u32, t.finish(t.next_expected()));
            }
        }
    }
}

/// A received message, as far as the soak cares (game data is handled on arrival).
#[derive(Debug, Clone, PartialEq)]
enum In {
    GameData,
    Authenticated,
    RoomJoined { room_id: String, player_id: String, token: Option<String>, lobby: bool },
    JoinFailed(String),
    Lobby(String),
    GameStarting,
    Pong,
    RoomLeft,
    SpectatorJoined,
    SpectatorLeft,
    Reconnected(Option<String>),
    ReconnectionFailed(String),
    Error(String),
    Other,
}

fn str_field(data: Option<&Value>, key: &str) -> Option<String> {
    data.and_then(|d| d.get(key)).and_then(Value::as_str).map(str::to_owned)
}

fn on_text(sh: &Shared<'_>, conn: &mut Conn, recv: &mut Recv, text: &str) -> In {
    if text.starts_with(wire::GAME_DATA_PREFIX) {
        match wire::classify(text) {
            Incoming::GameData(probe) => recv.observe(sh, probe, false),
            _ => sh.event("FOREIGN_GAME_DATA".to_owned()),
        }
        return In::GameData;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        sh.event("GARBAGE".to_owned());
        return In::Other;
    };
    let data = value.get("data");
    let code = || str_field(data, "error_code").unwrap_or_else(|| "UNKNOWN".to_owned());
    match value.get("type").and_then(Value::as_str).unwrap_or("") {
        "GameData" => {
            match data.and_then(|d| d.get("data")).and_then(wire::probe_from_value) {
                Some(probe) => recv.observe(sh, probe, false),
                None => sh.event("FOREIGN_GAME_DATA".to_owned()),
            }
            In::GameData
        }
        "Authenticated" => In::Authenticated,
        "AuthenticationError" => In::Error(code()),
        "RoomJoined" => In::RoomJoined {
            room_id: str_field(data, "room_id").unwrap_or_default(),
            player_id: str_field(data, "player_id").unwrap_or_default(),
            token: str_field(data, "reconnection_token"),
            lobby: str_field(data, "lobby_state").as_deref() == Some("lobby"),
        },
        "RoomJoinFailed" | "SpectatorJoinFailed" => In::JoinFailed(code()),
        "LobbyStateChanged" => In::Lobby(str_field(data, "lobby_state").unwrap_or_default()),
        "GameStarting" => In::GameStarting,
        "Pong" => In::Pong,
        "RoomLeft" => In::RoomLeft,
        "SpectatorJoined" => In::SpectatorJoined,
        "SpectatorLeft" => In::SpectatorLeft,
        "Reconnected" => {
            let missed = data.and_then(|d| d.get("missed_events")).and_then(Value::as_array);
            for event in missed.into_iter().flatten() {
                if event.get("type").and_then(Value::as_str) == Some("GameData") {
                    match event.get("data").and_then(|d| d.get("data")).and_then(wire::probe_from_value) {
                        Some(probe) => recv.observe(sh, probe, true),
                        None => sh.event("FOREIGN_GAME_DATA".to_owned()),
                    }
                }
            }
            In::Reconnected(str_field(data, "reconnection_token"))
        }
        "ReconnectionFailed" => In::ReconnectionFailed(code()),
        "Error" => {
            let code = code();
            if code == "INVALID_INPUT" && conn.malformed_pending > 0 {
                conn.malformed_pending -= 1;
                sh.count("malformed_answered");
                return In::Other;
            }
            In::Error(code)
        }
        _ => In::Other,
    }
}

/// How a [`pump`] ended.
#[derive(Debug)]
enum Pumped {
    /// A wanted message arrived.
    Got(In),
    /// The condition holds.
    Cond,
    /// The deadline passed.
    Timeout,
    /// The connection ended (a close code, `EOF`, `READ_FAILED`).
    Closed(String),
}

/// Reads `conn` (handling game data, sending a `Ping` when it has been quiet) until a
/// message `want` accepts arrives, `cond` holds (checked again whenever `wake` fires),
/// or `deadline` passes. An unwanted `Error` is counted as unexpected.
async fn pump(
    sh: &Shared<'_>,
    conn: &mut Conn,
    recv: &mut Recv,
    deadline: Instant,
    wake: Option<&Event>,
    cond: &dyn Fn(&Recv) -> bool,
    want: &dyn Fn(&In) -> bool,
) -> Pumped {
    for _ in 0..MAX_PUMP_STEPS {
        let listener = wake.map(Event::listen);
        if cond(recv) {
            return Pumped::Cond;
        }
        let now = Instant::now();
        if now >= deadline {
            return Pumped::Timeout;
        }
        let ping_at = conn.last_sent + PING_EVERY;
        if now >= ping_at {
            if !conn.send(wire::PING).await {
                return Pumped::Closed("SEND_FAILED".to_owned());
            }
            continue;
        }
        let wake_at = deadline.min(ping_at);
        let read = async { Some(conn.ws.next().await) };
        let timer = async {
            Timer::at(wake_at).await;
            None
        };
        let notified = async {
            match listener {
                Some(listener) => listener.await,
                None => smol::future::pending::<()>().await,
            }
            None
        };
        let Some(next) = read.or(timer).or(notified).await else { continue };
        match next {
            None => return Pumped::Closed("EOF".to_owned()),
            Some(Err(_)) => return Pumped::Closed("READ_FAILED".to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Pumped::Closed(close_code(frame.map(|f| u16::from(f.code))))
            }
            Some(Ok(Message::Text(text))) => {
                let got = on_text(sh, conn, recv, &text);
                if want(&got) {
                    return Pumped::Got(got);
                }
                if let In::Error(code) = got {
                    sh.failure("Error", &code);
                }
            }
            Some(Ok(_)) => {}
        }
    }
    Pumped::Timeout
}

fn never(_: &Recv) -> bool {
    false
}

/// Reads `conn` until `until`, if there is one; else just waits.
async fn idle_until(sh: &Shared<'_>, conn: &mut Option<Conn>, until: Instant) {
    match conn {
        Some(c) => {
            let mut recv = Recv::default();
            if let Pumped::Closed(why) = pump(sh, c, &mut recv, until, None, &never, &|_| false).await {
                sh.event(format!("IDLE_{why}"));
                *conn = None;
            }
        }
        None => {
            Timer::at(until).await;
        }
    }
}

/// Waits for the budget of `slot`'s address (reading `conn` meanwhile); false if it
/// would not be available before `deadline`.
async fn acquire(
    sh: &Shared<'_>,
    slot: usize,
    creation: bool,
    conn: &mut Option<Conn>,
    deadline: Instant,
) -> bool {
    let ip = sh.ctx.sources.addr(slot);
    for _ in 0..MAX_BUDGET_WAITS {
        let verdict = sh.budgets.borrow_mut().entry(ip).or_default().take(Instant::now(), creation);
        match verdict {
            Ok(()) => return true,
            Err(at) if at > deadline => return false,
            Err(at) => {
                sh.count("budget_waits");
                idle_until(sh, conn, at).await;
            }
        }
    }
    false
}

/// Opens a connection for `slot`, authenticating if this one should.
async fn open(sh: &Shared<'_>, slot: usize, reconnectable: bool) -> Result<Conn, String> {
    let path = if reconnectable { "/v2/ws?reconnection_token=true" } else { "/v2/ws" };
    let ws = net::open_path(sh.ctx.sources.addr(slot), sh.ctx.server, TRAFFIC_READ_BUFFER, path).await?;
    let n = sh.connections_opened.get();
    sh.connections_opened.set(n + 1);
    sh.count("connections_opened");
    let mut conn = Conn { ws, last_sent: Instant::now(), malformed_pending: 0, room: None };
    let app_id = match &sh.opts.app_id {
        Some(app) => app.as_str(),
        None if n % 4 == 0 => "signal-fish-bench",
        None => return Ok(conn),
    };
    let auth = json!({"type": "Authenticate", "data": {"app_id": app_id, "platform": "test", "sdk_version": "1.0.0"}}).to_string();
    if !conn.send(&auth).await {
        return Err("SEND_FAILED".to_owned());
    }
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut recv = Recv::default();
    let want = |m: &In| matches!(m, In::Authenticated | In::Error(_));
    match pump(sh, &mut conn, &mut recv, deadline, None, &never, &want).await {
        Pumped::Got(In::Authenticated) => {
            sh.count("authenticated");
            Ok(conn)
        }
        Pumped::Got(In::Error(code)) => Err(code),
        Pumped::Closed(why) => Err(why),
        _ => Err("AUTH_TIMEOUT".to_owned()),
    }
}

/// Closes with a close frame and waits (briefly) for the server's.
async fn close_cleanly(sh: &Shared<'_>, mut conn: Conn) {
    if conn.ws.close(None).await.is_err() {
        sh.event("CLOSE_FAILED".to_owned());
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut recv = Recv::default();
    let _ = pump(sh, &mut conn, &mut recv, deadline, None, &never, &|_| false).await;
    sh.count("closed_cleanly");
}

/// What a round leaves of a player's connection.
async fn after_round(sh: &Shared<'_>, conn: &mut Option<Conn>, choice: usize) {
    match choice % 5 {
        0 => {
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
        // Dropped without a close frame while in no room.
        1 if conn.take().is_some() => sh.count("idle_connections_dropped"),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------
// Players.

async fn group_loop(sh: &Shared<'_>, group: usize) {
    let k = usize::from(sh.opts.room_size);
    let first_slot = group * k;
    let mut conns: Vec<Option<Conn>> = (0..k).map(|_| None).collect();
    // Stagger the groups so their joins do not all land at once.
    Timer::after(sh.between(Duration::ZERO, sh.opts.game.min(Duration::from_secs(10)))).await;
    for round in 0..MAX_ROUNDS {
        if sh.time_left() < MIN_TIME_LEFT {
            break;
        }
        let session = Rc::new(Session::new(sh, round, k));
        let rounds = conns
            .iter_mut()
            .enumerate()
            .map(|(pos, conn)| player_round(sh, &session, first_slot + pos, pos, round, conn));
        futures_util::future::join_all(rounds).await;
        sh.live.borrow_mut().retain(|s| !Rc::ptr_eq(s, &session));
        if session.aborted.get() {
            sh.count("rounds_aborted");
        }
        let pause = Instant::now() + sh.between(Duration::from_millis(300), Duration::from_secs(2));
        for conn in conns.iter_mut() {
            // Kept connections are in no room: nothing arrives, pings keep them alive.
            idle_until(sh, conn, pause).await;
        }
    }
    for conn in conns.iter_mut() {
        if let Some(c) = conn.take() {
            close_cleanly(sh, c).await;
        }
    }
}

/// Why a player's round ended early.
struct Out;

async fn player_round(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    round: usize,
    conn: &mut Option<Conn>,
) {
    let mut recv = Recv::player(session, pos);
    let joined = match setup(sh, session, slot, pos, conn, &mut recv).await {
        Ok(()) => true,
        Err(joined) => {
            session.abort();
            joined
        }
    };
    if session.aborted.get() {
        // Nobody sent game data: leave (if seated) and check nothing. Inactive, so
        // room-mates that got into the game do not wait for this player at its end.
        session.active[pos].set(false);
        session.notify();
        if joined {
            if let Some(c) = conn.as_mut() {
                if !c.send(r#"{"type":"LeaveRoom"}"#).await {
                    *conn = None;
                } else {
                    let deadline = Instant::now() + ANSWER_TIMEOUT;
                    let want = |m: &In| *m == In::RoomLeft;
                    if let Pumped::Closed(why) = pump(sh, c, &mut recv, deadline, None, &never, &want).await {
                        sh.event(format!("LEAVE_{why}"));
                        *conn = None;
                    }
                }
            }
        }
        after_round(sh, conn, round + pos).await;
        return;
    }
    match play(sh, session, slot, pos, conn, &mut recv).await {
        Ok(()) => finish(sh, session, pos, conn, &mut recv).await,
        Err(Out) => {
            session.active[pos].set(false);
            session.notify();
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
    }
    after_round(sh, conn, round + pos).await;
}

/// Connect, join, ready, until `GameStarting`. `Err(joined)` aborts the round.
async fn setup(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), bool> {
    // Nothing waits past the end of the churn (a rate-limit wait would otherwise
    // stretch the run by up to a window).
    let deadline = (Instant::now() + SETUP_TIMEOUT).min(sh.churn_end);
    let host = pos == session.host;
    if !host {
        // Players join the room the host created, as with a shared code.
        let waited = match conn {
            Some(c) => {
                let cond = |_: &Recv| session.host_joined.get() || session.aborted.get();
                match pump(sh, c, recv, deadline, Some(&session.changed), &cond, &|_| false).await {
                    Pumped::Closed(_) => {
                        *conn = None;
                        wait_for_host(session, deadline).await
                    }
                    _ => session.host_joined.get(),
                }
            }
            None => wait_for_host(session, deadline).await,
        };
        if !waited || session.aborted.get() {
            return Err(false);
        }
    }
    if !acquire(sh, slot, host, conn, deadline).await {
        sh.count("budget_timeouts");
        return Err(false);
    }
    if conn.is_none() {
        match open(sh, slot, true).await {
            Ok(c) => *conn = Some(c),
            Err(code) => {
                sh.failure("Connect", &code);
                return Err(false);
            }
        }
    }
    let c = conn.as_mut().expect("connected");
    let join = wire::join_room(&session.game, &session.code, &format!("p{slot}"), session.k as u8);
    if !c.send(&join).await {
        *conn = None;
        return Err(false);
    }
    let want = |m: &In| matches!(m, In::RoomJoined { .. } | In::JoinFailed(_) | In::Error(_));
    let answer = pump(sh, c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await;
    let lobby = match answer {
        Pumped::Got(In::RoomJoined { room_id, player_id, token, lobby }) => {
            c.room = Some(Seat { room_id, player_id, token });
            sh.count(if host { "rooms_created" } else { "players_joined" });
            if host {
                session.host_joined.set(true);
                session.notify();
            }
            lobby
        }
        Pumped::Got(In::JoinFailed(code) | In::Error(code)) => {
            sh.failure("JoinRoom", &code);
            if code == "TOO_MANY_CONNECTIONS" {
                *conn = None;
            }
            return Err(false);
        }
        Pumped::Closed(why) => {
            sh.failure("JoinRoom", &why);
            *conn = None;
            return Err(false);
        }
        _ => {
            sh.event("JoinRoom:TIMEOUT".to_owned());
            return Err(false);
        }
    };
    let info = json!({"type": "ProvideConnectionInfo", "data": {"connection_info":
        {"type": "direct", "host": "127.0.0.1", "port": 20_000 + slot % 40_000}}})
    .to_string();
    if !c.send(&info).await {
        *conn = None;
        return Err(true);
    }
    if !lobby {
        // The room fills when the last player joins.
        let want = |m: &In| *m == In::Lobby("lobby".to_owned());
        let cond = |_: &Recv| session.aborted.get();
        match pump(sh, c, recv, deadline, Some(&session.changed), &cond, &want).await {
            Pumped::Got(_) => {}
            Pumped::Closed(why) => {
                sh.event(format!("LOBBY_{why}"));
                *conn = None;
                return Err(true);
            }
            _ => return Err(true),
        }
    }
    if !c.send(r#"{"type":"PlayerReady"}"#).await {
        *conn = None;
        return Err(true);
    }
    let want = |m: &In| *m == In::GameStarting;
    let cond = |_: &Recv| session.aborted.get();
    match pump(sh, c, recv, deadline, Some(&session.changed), &cond, &want).await {
        Pumped::Got(_) => {}
        Pumped::Closed(why) => {
            sh.event(format!("READY_{why}"));
            *conn = None;
            return Err(true);
        }
        _ => return Err(true),
    }
    if session.game_end.get().is_none() {
        let length = sh.between(sh.opts.game / 2, sh.opts.game * 3 / 2);
        session.game_end.set(Some((Instant::now() + length).min(sh.churn_end.max(Instant::now()))));
        sh.count("games_started");
        sh.live.borrow_mut().push(session.clone());
        session.notify();
    }
    if host {
        // The authority's start request: accepted silently once the room is finalized.
        if !c.send(r#"{"type":"StartGame"}"#).await {
            *conn = None;
            return Err(true);
        }
        sh.count("start_game_sent");
    }
    Ok(())
}

async fn wait_for_host(session: &Session, deadline: Instant) -> bool {
    for _ in 0..MAX_PUMP_STEPS {
        let listener = session.changed.listen();
        if session.host_joined.get() || session.aborted.get() {
            return session.host_joined.get();
        }
        if Instant::now() >= deadline {
            return false;
        }
        listener
            .or(async {
                Timer::at(deadline).await;
            })
            .await;
    }
    false
}

/// What a connection needs to take its seat back.
#[derive(Debug, Clone)]
struct Seat {
    room_id: String,
    player_id: String,
    token: Option<String>,
}

/// The game: send at `hz` until the game ends; drop and reconnect, or send a malformed
/// frame, when it is this player's turn.
async fn play(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), Out> {
    let game_end = session.game_end.get().unwrap_or_else(Instant::now);
    let now = Instant::now();
    let span = game_end.saturating_duration_since(now);
    let period = Duration::from_secs_f64(1.0 / sh.opts.hz);
    let mut next_send = now + period.mul_f64(sh.random());
    let mut drop_at = (pos == session.dropper).then(|| now + span.mul_f64(0.2 + 0.4 * sh.random()));
    let mut malformed_at = (pos == session.malformer).then(|| now + span.mul_f64(0.1 + 0.8 * sh.random()));
    let seat = session.base + pos as u32;
    let mut text = String::with_capacity(96);
    for _ in 0..MAX_PUMP_STEPS {
        let now = Instant::now();
        if now >= game_end {
            break;
        }
        let deadline = [Some(next_send), drop_at, malformed_at, Some(game_end)].into_iter().flatten().min();
        let c = conn.as_mut().ok_or(Out)?;
        match pump(sh, c, recv, deadline.unwrap_or(game_end), None, &never, &|_| false).await {
            Pumped::Timeout => {}
            Pumped::Closed(why) => {
                sh.event(format!("GAME_{why}"));
                *conn = None;
                return Err(Out);
            }
            _ => continue,
        }
        let now = Instant::now();
        if drop_at.is_some_and(|at| now >= at) {
            drop_at = None;
            drop_and_reconnect(sh, session, slot, conn, recv).await?;
            continue;
        }
        if malformed_at.is_some_and(|at| now >= at) {
            malformed_at = None;
            let c = conn.as_mut().ok_or(Out)?;
            c.malformed_pending += 1;
            if !c.send(r#"{"type":"GameData","data":"#).await {
                return Err(Out);
            }
            sh.count("malformed_sent");
        }
        if now >= next_send {
            if session.quiet.get() == 0 {
                let seq = session.sent[pos].get();
                wire::game_data(&mut text, Probe { sender: seat, seq, sent_us: clock::now_us() }, 0);
                session.sent[pos].set(seq + 1);
                sh.count("game_data_sent");
                let c = conn.as_mut().ok_or(Out)?;
                if !c.send(&text).await {
                    sh.event("GAME_SEND_FAILED".to_owned());
                    *conn = None;
                    return Err(Out);
                }
            }
            next_send += period;
            if next_send < now {
                // Late (the room was quiet, or the generator was busy): skip, do not burst.
                next_send = now + period;
            }
        }
    }
    Ok(())
}

/// Sends a `Ping` and reads until its `Pong`: everything this connection sent before
/// was handled by the server, and everything the server queued for it before arrived.
async fn barrier(sh: &Shared<'_>, conn: &mut Conn, recv: &mut Recv) -> Result<(), String> {
    if !conn.send(wire::PING).await {
        return Err("SEND_FAILED".to_owned());
    }
    let want = |m: &In| *m == In::Pong;
    match pump(sh, conn, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await {
        Pumped::Got(_) => Ok(()),
        Pumped::Closed(why) => Err(why),
        _ => Err("PONG_TIMEOUT".to_owned()),
    }
}

async fn drop_and_reconnect(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), Out> {
    let Some(mut c) = conn.take() else { return Err(Out) };
    let Some(seat) = c.room.clone() else { return Err(Out) };
    // Pause the room, read what was already sent, make sure our own messages were
    // handled: then nothing is in flight when the socket goes.
    session.quiet.set(session.quiet.get() + 1);
    let owed: Vec<u64> = session.sent.iter().map(Cell::get).collect();
    let cond = |r: &Recv| r.caught_up(&owed);
    let drained = pump(sh, &mut c, recv, Instant::now() + ANSWER_TIMEOUT, None, &cond, &|_| false).await;
    let fenced = match drained {
        Pumped::Cond => barrier(sh, &mut c, recv).await,
        Pumped::Closed(why) => Err(why),
        _ => Err("DRAIN_TIMEOUT".to_owned()),
    };
    drop(c);
    let dropped_at = Instant::now();
    sh.count("players_dropped");
    Timer::after(QUIET_SETTLE).await;
    session.quiet.set(session.quiet.get() - 1);
    session.notify();
    if let Err(why) = fenced {
        sh.event(format!("BEFORE_DROP_{why}"));
    }
    Timer::at(dropped_at + sh.between(QUIET_SETTLE + Duration::from_millis(100), sh.opts.max_away)).await;
    let mut c = match open(sh, slot, true).await {
        Ok(c) => c,
        Err(code) => {
            sh.failure("Reconnect", &code);
            recv.finish_player(sh, &owed);
            return Err(Out);
        }
    };
    let reconnect =
        json!({"type": "Reconnect", "data": {"player_id": seat.player_id, "room_id": seat.room_id,
        "auth_token": seat.token.clone().unwrap_or_default()}})
        .to_string();
    if !c.send(&reconnect).await {
        sh.event("Reconnect:SEND_FAILED".to_owned());
        recv.finish_player(sh, &owed);
        return Err(Out);
    }
    let want = |m: &In| matches!(m, In::Reconnected(_) | In::ReconnectionFailed(_) | In::Error(_));
    match pump(sh, &mut c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await {
        Pumped::Got(In::Reconnected(token)) => {
            sh.count("reconnected");
            c.room = Some(Seat { token, ..seat });
            *conn = Some(c);
            Ok(())
        }
        Pumped::Got(In::ReconnectionFailed(code) | In::Error(code)) => {
            sh.failure("Reconnect", &code);
            // Out of the room: what was owed before the drop must have arrived.
            recv.finish_player(sh, &owed);
            *conn = Some(c);
            Err(Out)
        }
        other => {
            sh.event(format!("Reconnect:{}", pumped_code(&other)));
            recv.finish_player(sh, &owed);
            Err(Out)
        }
    }
}

fn pumped_code(p: &Pumped) -> String {
    match p {
        Pumped::Closed(why) => why.clone(),
        Pumped::Timeout => "TIMEOUT".to_owned(),
        _ => "UNEXPECTED".to_owned(),
    }
}

/// End of a game: stop sending, wait until everyone stopped, leave (or abandon the
/// seat), check every room-mate's stream.
async fn finish(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) {
    let Some(c) = conn.as_mut() else { return };
    let fenced = barrier(sh, c, recv).await;
    session.done_sending[pos].set(true);
    session.notify();
    if let Err(why) = fenced {
        sh.event(format!("END_{why}"));
        session.active[pos].set(false);
        session.notify();
        *conn = None;
        return;
    }
    let cond = |_: &Recv| session.all_done_sending();
    match pump(sh, c, recv, Instant::now() + BARRIER_TIMEOUT, Some(&session.changed), &cond, &|_| false).await
    {
        Pumped::Cond => {}
        other => sh.event(format!("END_WAIT_{}", pumped_code(&other))),
    }
    let abandon = session.abandoner == Some(pos);
    let (request, want): (&str, fn(&In) -> bool) = if abandon {
        (wire::PING, |m| *m == In::Pong)
    } else {
        (r#"{"type":"LeaveRoom"}"#, |m| *m == In::RoomLeft)
    };
    // Every room-mate's last message was handled before they stopped, so it is queued
    // ahead of this answer.
    let answered = if c.send(request).await {
        pump(sh, c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
    } else {
        Pumped::Closed("SEND_FAILED".to_owned())
    };
    if !matches!(answered, Pumped::Got(_)) {
        sh.event(format!("LEAVE_{}", pumped_code(&answered)));
        *conn = None;
    }
    let owed: Vec<u64> = session.sent.iter().map(Cell::get).collect();
    recv.finish_player(sh, &owed);
    if abandon {
        // Gone without LeaveRoom: the seat waits out the reconnection window.
        *conn = None;
        sh.count("seats_abandoned");
    } else if conn.is_some() {
        sh.count("players_left");
    }
}

// ---------------------------------------------------------------------------------
// Spectators.

async fn spectator_loop(sh: &Shared<'_>, slot: usize) {
    let mut conn: Option<Conn> = None;
    let game = sh.opts.game;
    Timer::after(sh.between(Duration::ZERO, game.min(Duration::from_secs(10)))).await;
    for visit in 0..MAX_ROUNDS {
        if sh.time_left() < MIN_TIME_LEFT {
            break;
        }
        let pause = Instant::now() + sh.between(game / 10, game / 4);
        idle_until(sh, &mut conn, pause).await;
        let Some(session) = pick_game(sh) else { continue };
        let deadline = (Instant::now() + game).min(sh.churn_end);
        if !acquire(sh, slot, false, &mut conn, deadline).await {
            sh.count("spectator_budget_timeouts");
            continue;
        }
        if conn.is_none() {
            match open(sh, slot, false).await {
                Ok(c) => conn = Some(c),
                Err(code) => {
                    sh.failure("Connect", &code);
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        let join = json!({"type": "JoinAsSpectator", "data": {"game_name": session.game,
            "room_code": session.code, "spectator_name": format!("s{slot}")}})
        .to_string();
        let mut recv = Recv::spectator(&session);
        let want = |m: &In| matches!(m, In::SpectatorJoined | In::JoinFailed(_) | In::Error(_));
        let answer = if c.send(&join).await {
            pump(sh, c, &mut recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
        } else {
            Pumped::Closed("SEND_FAILED".to_owned())
        };
        match answer {
            Pumped::Got(In::SpectatorJoined) => sh.count("spectators_joined"),
            Pumped::Got(In::JoinFailed(code) | In::Error(code)) => {
                sh.failure("JoinAsSpectator", &code);
                if code == "TOO_MANY_CONNECTIONS" {
                    conn = None;
                }
                continue;
            }
            other => {
                sh.event(format!("JoinAsSpectator:{}", pumped_code(&other)));
                conn = None;
                continue;
            }
        }
        let until = (Instant::now() + sh.between(game / 4, game * 3 / 4)).min(sh.churn_end);
        if let Pumped::Closed(why) = pump(sh, c, &mut recv, until, None, &never, &|_| false).await {
            sh.event(format!("WATCH_{why}"));
            recv.finish_spectator(sh);
            conn = None;
            continue;
        }
        if visit % 3 == 2 {
            recv.finish_spectator(sh);
            conn = None;
            sh.count("spectators_dropped");
        } else {
            let want = |m: &In| *m == In::SpectatorLeft;
            let left = if c.send(r#"{"type":"LeaveSpectator"}"#).await {
                pump(sh, c, &mut recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
            } else {
                Pumped::Closed("SEND_FAILED".to_owned())
            };
            recv.finish_spectator(sh);
            match left {
                Pumped::Got(_) => sh.count("spectators_left"),
                other => {
                    sh.event(format!("LeaveSpectator:{}", pumped_code(&other)));
                    conn = None;
                }
            }
        }
        if visit % 2 == 1 {
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
    }
    if let Some(c) = conn.take() {
        close_cleanly(sh, c).await;
    }
}

/// A game in progress with at least a second left, at random.
fn pick_game(sh: &Shared<'_>) -> Option<Rc<Session>> {
    let live = sh.live.borrow();
    let soon = Instant::now() + Duration::from_secs(1);
    let open: Vec<&Rc<Session>> =
        live.iter().filter(|s| s.game_end.get().is_some_and(|end| end > soon)).collect();
    if open.is_empty() {
        return None;
    }
    let i = ((sh.random() * open.len() as f64) as usize).min(open.len() - 1);
    Some(open[i].clone())
}

// ---------------------------------------------------------------------------------
// Sampling the server.

/// One sample of the server.
#[derive(Debug, Clone, Default)]
struct Sample {
    /// Seconds since the start.
    t: f64,
    /// `churn`, `drain` (the last rounds finishing) or `idle`.
    phase: &'static str,
    rss: Option<u64>,
    fds: Option<u64>,
    cpu_percent: Option<f64>,
    metrics: Option<ServerCounts>,
    latency: Percentiles,
}

/// The live figures of the server's JSON metrics (OPERATIONS §4).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ServerCounts {
    rooms: u64,
    connections: u64,
    players: u64,
    spectators: u64,
    reserved_seats: u64,
}

async fn server_counts(sh: &Shared<'_>) -> Result<ServerCounts, String> {
    let get = net::http_get(sh.ctx.server, "/metrics").or(async {
        Timer::after(ANSWER_TIMEOUT).await;
        Err("TIMEOUT".to_owned())
    });
    let (status, body) = get.await?;
    if status != 200 {
        return Err(format!("HTTP_{status}"));
    }
    let value: Value = serde_json::from_str(&body).map_err(|_| "NOT_JSON".to_owned())?;
    let m = &value["serverMetrics"];
    let field = |section: &str, key: &str| {
        m[section][key].as_u64().ok_or_else(|| format!("NO_serverMetrics.{section}.{key}"))
    };
    Ok(ServerCounts {
        rooms: field("rooms", "active")?,
        connections: field("connections", "active")?,
        players: field("players", "active")?,
        spectators: field("players", "spectators")?,
        reserved_seats: field("reconnection", "sessionsActive")?,
    })
}

async fn take_sample(
    sh: &Shared<'_>,
    phase: &'static str,
    cpu_before: &mut Option<(Instant, u64)>,
) -> Sample {
    let metrics = match server_counts(sh).await {
        Ok(m) => Some(m),
        Err(why) => {
            sh.event(format!("METRICS_{why}"));
            None
        }
    };
    let now = Instant::now();
    let cpu = sh.ctx.cpu_ns();
    let cpu_percent = match (*cpu_before, cpu) {
        (Some((at, a)), Some(b)) => {
            let secs = now.duration_since(at).as_secs_f64();
            (secs > 0.0).then(|| (b.saturating_sub(a) as f64 / 1e9 / secs * 1000.0).round() / 10.0)
        }
        _ => None,
    };
    *cpu_before = cpu.map(|c| (now, c));
    Sample {
        t: now.duration_since(sh.started).as_secs_f64(),
        phase,
        rss: sh.ctx.rss_bytes(),
        fds: sh.ctx.process.and_then(|p| p.open_fds().ok()),
        cpu_percent,
        metrics,
        latency: std::mem::take(&mut *sh.window_latency.borrow_mut()).percentiles(),
    }
}

/// Samples every `--sample-secs` until the idle check ends; a line per sample on stderr
/// shows progress.
async fn sampler(sh: &Shared<'_>, samples: &RefCell<Vec<Sample>>) {
    let mut cpu_before = sh.ctx.cpu_ns().map(|c| (Instant::now(), c));
    let max_samples =
        ((sh.opts.duration + sh.opts.idle_wait).as_secs_f64() / sh.opts.sample.as_secs_f64()) as usize + 1000;
    let mut next = Instant::now() + sh.opts.sample;
    for _ in 0..max_samples {
        Timer::at(next).await;
        next += sh.opts.sample;
        if sh.idle_over.get() {
            return;
        }
        let phase = if sh.churn_over.get() {
            "idle"
        } else if Instant::now() >= sh.churn_end {
            // Rounds under way finish; none start.
            "drain"
        } else {
            "churn"
        };
        let sample = take_sample(sh, phase, &mut cpu_before).await;
        eprintln!("{}", sample_line(&sample));
        samples.borrow_mut().push(sample);
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn sample_line(s: &Sample) -> String {
    let m = s.metrics;
    format!(
        "[{:>7.1} s {}] rss {} MiB  fds {}  cpu {} %  rooms {}  connections {}  players {}  spectators {}  reserved {}  p99 {}",
        s.t,
        s.phase,
        mib(s.rss),
        opt(s.fds),
        opt(s.cpu_percent),
        opt(m.map(|m| m.rooms)),
        opt(m.map(|m| m.connections)),
        opt(m.map(|m| m.players)),
        opt(m.map(|m| m.spectators)),
        opt(m.map(|m| m.reserved_seats)),
        if s.latency.count == 0 { "-".to_owned() } else { format!("{:.3} ms", s.latency.p99 as f64 / 1000.0) },
    )
}

/// What the server looked like after the churn stopped.
#[derive(Debug, Clone, Default)]
struct Idle {
    /// Seconds from the end of the churn until rooms and connections were both 0 (or
    /// the wait ended).
    waited_secs: f64,
    returned: bool,
    last: Option<ServerCounts>,
    rss: Option<u64>,
    fds: Option<u64>,
}

/// Polls the metrics every second until the server has no room and no connection, or
/// `--idle-wait-secs` passed.
async fn idle_check(sh: &Shared<'_>, samples: &RefCell<Vec<Sample>>) -> Idle {
    let began = Instant::now();
    let deadline = began + sh.opts.idle_wait;
    let mut last = None;
    let mut returned = false;
    let polls = sh.opts.idle_wait.as_secs() as usize + 2;
    for _ in 0..polls {
        if let Ok(m) = server_counts(sh).await {
            last = Some(m);
            if m.rooms == 0 && m.connections == 0 {
                returned = true;
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        Timer::at((Instant::now() + Duration::from_secs(1)).min(deadline)).await;
    }
    let waited_secs = began.elapsed().as_secs_f64();
    let mut cpu = None;
    let mut sample = take_sample(sh, "idle", &mut cpu).await;
    sample.metrics = sample.metrics.or(last);
    let idle = Idle { waited_secs, returned, last, rss: sample.rss, fds: sample.fds };
    samples.borrow_mut().push(sample);
    sh.idle_over.set(true);
    idle
}

// ---------------------------------------------------------------------------------
// The report.

/// Least-squares slope of `(t, y)` per hour.
fn per_hour(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum::<f64>();
    if var <= 0.0 {
        return None;
    }
    let cov = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_y)).sum::<f64>();
    Some(cov / var * 3600.0)
}

/// First and last steady-state values, the growth per hour between them and the
/// least-squares growth per hour over every steady sample.
fn growth(steady: &[&Sample], value: impl Fn(&Sample) -> Option<u64>) -> Value {
    let points: Vec<(f64, f64)> = steady.iter().filter_map(|s| value(s).map(|v| (s.t, v as f64))).collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Value::Null };
    let span = last.0 - first.0;
    json!({
        "start": first.1 as u64,
        "start_at_secs": (first.0 * 10.0).round() / 10.0,
        "end": last.1 as u64,
        "end_at_secs": (last.0 * 10.0).round() / 10.0,
        "growth_per_hour_endpoints": (span > 0.0).then(|| ((last.1 - first.1) / span * 3600.0).round()),
        "growth_per_hour_fit": per_hour(&points).map(f64::round),
        "samples": points.len(),
    })
}

fn report(
    sh: &Shared<'_>,
    opts: &SoakOptions,
    samples: &[Sample],
    rss_initial: Option<u64>,
    fds_initial: Option<u64>,
    idle: &Idle,
    summary: &mut Summary,
) {
    let counts_map = sh.counts.borrow();
    let c = |k: &str| counts_map.get(k).copied().unwrap_or(0);
    let anomalies = *sh.anomalies.borrow();
    let mut anomalous = sh.anomalous.borrow().clone();
    anomalous.sort_by_key(|s| {
        std::cmp::Reverse(s.anomalies.lost + s.anomalies.duplicated + s.anomalies.reordered)
    });
    let anomalous_count = anomalous.len();
    anomalous.truncate(MAX_LISTED_SENDERS);
    let latency = sh.latency.borrow().percentiles();
    let churn: Vec<&Sample> = samples.iter().filter(|s| s.phase == "churn").collect();
    let warm = opts.warmup.as_secs_f64();
    let steady: Vec<&Sample> = churn.iter().copied().filter(|s| s.t >= warm).collect();
    let p99s: Vec<u64> = churn.iter().filter(|s| s.latency.count > 0).map(|s| s.latency.p99).collect();
    let rss = growth(&steady, |s| s.rss);
    let fds = growth(&steady, |s| s.fds);
    let rejections = sh.rejections.borrow();
    let events = sh.events.borrow();

    let h = &mut summary.human;
    h.push(format!(
        "churn: {} games started ({} rooms created, {} rounds aborted), {} joins, {} spectator visits, {} budget waits",
        c("games_started"),
        c("rooms_created"),
        c("rounds_aborted"),
        c("players_joined"),
        c("spectators_joined"),
        c("budget_waits"),
    ));
    h.push(format!(
        "  {} drops → {} reconnected; {} malformed frames, {} answered; {} left, {} seats abandoned; \
         {} connections opened, {} closed cleanly, {} idle ones dropped",
        c("players_dropped"),
        c("reconnected"),
        c("malformed_sent"),
        c("malformed_answered"),
        c("players_left"),
        c("seats_abandoned"),
        c("connections_opened"),
        c("closed_cleanly"),
        c("idle_connections_dropped"),
    ));
    h.push(format!("rejections by server limits (not loss): {}", counts_human(&rejections)));
    h.push(format!(
        "game data: {} sent, {} deliveries ({} replayed after a reconnect); lost {}, duplicated {}, reordered {}",
        c("game_data_sent"),
        c("deliveries"),
        c("deliveries_replayed"),
        anomalies.lost,
        anomalies.duplicated,
        anomalies.reordered
    ));
    for s in anomalous.iter().take(10) {
        h.push(format!(
            "  seat {}: lost {}, duplicated {}, reordered {}",
            s.sender, s.anomalies.lost, s.anomalies.duplicated, s.anomalies.reordered
        ));
    }
    h.push(format!("latency send→receive (live deliveries): {}", latency.human()));
    if let (Some(lo), Some(hi)) = (p99s.iter().min(), p99s.iter().max()) {
        h.push(format!(
            "p99 per {:.0} s window: {:.3} to {:.3} ms over {} windows",
            opts.sample.as_secs_f64(),
            *lo as f64 / 1000.0,
            *hi as f64 / 1000.0,
            p99s.len()
        ));
    }
    let growth_line = |name: &str, g: &Value, unit: &dyn Fn(f64) -> String| {
        match g {
        Value::Null => format!("{name}: n/a (no --server-pid, or no steady-state sample)"),
        g => format!(
            "{name}: {} at {:.0} s (steady state), {} at {:.0} s; growth {} per hour (endpoints), {} per hour (fit over {} samples)",
            unit(g["start"].as_f64().unwrap_or(0.0)),
            g["start_at_secs"].as_f64().unwrap_or(0.0),
            unit(g["end"].as_f64().unwrap_or(0.0)),
            g["end_at_secs"].as_f64().unwrap_or(0.0),
            g["growth_per_hour_endpoints"].as_f64().map_or_else(|| "n/a".to_owned(), unit),
            g["growth_per_hour_fit"].as_f64().map_or_else(|| "n/a".to_owned(), unit),
            g["samples"]
        ),
    }
    };
    let in_mib = |b: f64| format!("{:.2} MiB", b / 1048576.0);
    let plain = |x: f64| format!("{x:.0}");
    h.push(format!("server RSS before any client: {} MiB; fds {}", mib(rss_initial), opt(fds_initial)));
    h.push(growth_line("server RSS", &rss, &in_mib));
    h.push(growth_line("server fds", &fds, &plain));
    h.push(format!(
        "idle check after {:.1} s: rooms {}, connections {}, reserved seats {} ({}); RSS {} MiB (before any client {} MiB), fds {}",
        idle.waited_secs,
        opt(idle.last.map(|m| m.rooms)),
        opt(idle.last.map(|m| m.connections)),
        opt(idle.last.map(|m| m.reserved_seats)),
        if idle.returned { "returned to idle" } else { "NOT idle when the wait ended" },
        mib(idle.rss),
        mib(rss_initial),
        opt(idle.fds),
    ));
    if !events.is_empty() {
        h.push(format!("unexpected: {}", counts_human(&events)));
    }
    h.push("samples (each row the last sample of its span; p99 the worst window in it):".to_owned());
    h.push(format!(
        "  {:>8} {:>5} {:>9} {:>6} {:>7} {:>6} {:>11} {:>9}",
        "t s", "phase", "RSS MiB", "fds", "CPU %", "rooms", "connections", "p99 ms"
    ));
    let per_row = samples.len().div_ceil(MAX_TABLE_ROWS).max(1);
    for chunk in samples.chunks(per_row) {
        let last = chunk.last().expect("chunks are not empty");
        let worst = chunk.iter().filter(|s| s.latency.count > 0).map(|s| s.latency.p99).max();
        let cpu: Vec<f64> = chunk.iter().filter_map(|s| s.cpu_percent).collect();
        h.push(format!(
            "  {:>8.1} {:>5} {:>9} {:>6} {:>7} {:>6} {:>11} {:>9}",
            last.t,
            last.phase,
            mib(last.rss),
            opt(last.fds),
            if cpu.is_empty() {
                "n/a".to_owned()
            } else {
                format!("{:.1}", cpu.iter().sum::<f64>() / cpu.len() as f64)
            },
            opt(last.metrics.map(|m| m.rooms)),
            opt(last.metrics.map(|m| m.connections)),
            worst.map_or_else(|| "-".to_owned(), |p| format!("{:.3}", p as f64 / 1000.0)),
        ));
    }

    let windows: Vec<Value> = samples
        .iter()
        .map(|s| {
            json!({
                "t_secs": (s.t * 10.0).round() / 10.0,
                "phase": s.phase,
                "rss_bytes": s.rss,
                "fds": s.fds,
                "server_cpu_percent": s.cpu_percent,
                "rooms": s.metrics.map(|m| m.rooms),
                "connections": s.metrics.map(|m| m.connections),
                "players": s.metrics.map(|m| m.players),
                "spectators": s.metrics.map(|m| m.spectators),
                "reserved_seats": s.metrics.map(|m| m.reserved_seats),
                "deliveries": s.latency.count,
                "p99_us": (s.latency.count > 0).then_some(s.latency.p99),
            })
        })
        .collect();
    let fields = json!({
        "clients": opts.clients,
        "players": sh.players,
        "spectators": opts.spectators,
        "room_size": opts.room_size,
        "hz": opts.hz,
        "duration_secs": opts.duration.as_secs_f64(),
        "warmup_secs": warm,
        "sample_secs": opts.sample.as_secs_f64(),
        "game_secs": opts.game.as_secs_f64(),
        "max_away_secs": opts.max_away.as_secs_f64(),
        "idle_wait_secs": opts.idle_wait.as_secs_f64(),
        "counts": counts_map.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "rejections": counts(&rejections),
        "events": counts(&events),
        "game_data_sent": c("game_data_sent"),
        "deliveries": c("deliveries"),
        "deliveries_replayed": c("deliveries_replayed"),
        "lost": anomalies.lost,
        "duplicated": anomalies.duplicated,
        "reordered": anomalies.reordered,
        "senders_with_anomalies": anomalous_count,
        "per_sender_anomalies": anomalous.iter().map(|s| json!({
            "seat": s.sender,
            "lost": s.anomalies.lost,
            "duplicated": s.anomalies.duplicated,
            "reordered": s.anomalies.reordered,
        })).collect::<Vec<_>>(),
        "latency": latency.to_json(),
        "window_p99_us_min": p99s.iter().min(),
        "window_p99_us_max": p99s.iter().max(),
        "rss_initial_bytes": rss_initial,
        "fds_initial": fds_initial,
        "rss": rss,
        "fds": fds,
        "idle": {
            "waited_secs": (idle.waited_secs * 10.0).round() / 10.0,
            "returned": idle.returned,
            "rooms": idle.last.map(|m| m.rooms),
            "connections": idle.last.map(|m| m.connections),
            "players": idle.last.map(|m| m.players),
            "reserved_seats": idle.last.map(|m| m.reserved_seats),
            "rss_bytes": idle.rss,
            "fds": idle.fds,
        },
        "windows": windows,
    });
    if let (Some(target), Value::Object(extra)) = (summary.json.as_object_mut(), fields) {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stays_inside_every_server_window() {
        let mut b = Budget::default();
        let t0 = Instant::now();
        for i in 0..MAX_CREATIONS_PER_WINDOW {
            assert!(b.take(t0 + Duration::from_secs(i as u64), true).is_ok());
        }
        // A sixth creation waits until the first leaves the window; joins still pass.
        let retry = b.take(t0 + Duration::from_secs(10), true).unwrap_err();
        assert_eq!(retry, t0 + RATE_WINDOW);
        for _ in MAX_CREATIONS_PER_WINDOW..MAX_JOINS_PER_WINDOW {
            assert!(b.take(t0 + Duration::from_secs(10), false).is_ok());
        }
        assert_eq!(b.take(t0 + Duration::from_secs(11), false).unwrap_err(), t0 + RATE_WINDOW);
        assert!(b.take(t0 + RATE_WINDOW, false).is_ok());
    }

    #[test]
    fn growth_per_hour() {
        assert_eq!(per_hour(&[(0.0, 100.0), (3600.0, 200.0)]), Some(100.0));
        assert_eq!(per_hour(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)]), Some(0.0));
        assert_eq!(per_hour(&[(1.0, 5.0)]), None);
    }

    #[test]
    fn a_player_is_owed_every_message_of_its_room_mates() {
        let ctx = RunContext::new("127.0.0.1:1".parse().unwrap(), None, Some(9), 4).unwrap();
        let opts = SoakOptions {
            clients: 4,
            spectators: 0,
            room_size: 2,
            hz: 1.0,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            sample: Duration::from_secs(1),
            game: Duration::from_secs(1),
            max_away: Duration::from_secs(1),
            idle_wait: Duration::ZERO,
            app_id: None,
        };
        let sh = Shared::new(&ctx, &opts, 4, Instant::now());
        let session = Rc::new(Session::new(&sh, 0, 2));
        let mut me = Recv::player(&session, 0);
        let probe = |seq| Probe { sender: session.base + 1, seq, sent_us: 0 };
        // 0, 2, 2 (a duplicate), then a late 1: then 3 and 4 never come.
        for seq in [0, 2, 2, 1] {
            me.observe(&sh, probe(seq), false);
        }
        assert!(!me.caught_up(&[0, 5]));
        assert!(me.caught_up(&[0, 3]));
        me.finish_player(&sh, &[0, 5]);
        assert_eq!(*sh.anomalies.borrow(), Anomalies { lost: 2, duplicated: 1, reordered: 1 });
        // A spectator owes nothing before the first message it sees.
        let mut watcher = Recv::spectator(&session);
        watcher.observe(&sh, probe(7), false);
        watcher.observe(&sh, probe(8), true);
        watcher.finish_spectator(&sh);
        assert_eq!(sh.anomalies.borrow().lost, 2);
        assert_eq!(sh.counts.borrow()["deliveries_replayed"], 1);
    }
}
