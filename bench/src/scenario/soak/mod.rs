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

mod budget;
mod connection;
mod game;
mod game_data;
mod group;
mod growth;
mod idle_check;
mod incoming;
mod reconnect;
mod report;
mod sampling;
mod session;
mod setup;
mod shared;
mod spectator;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use smol::future::FutureExt as _;

use super::{banner, check_phase, check_range};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::net::check_fd_limit;
use crate::report::Summary;
use group::group_loop;
use idle_check::idle_check;
use report::report;
use sampling::{sampler, Sample};
use shared::Shared;
use spectator::spectator_loop;

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

/// How long the room stays quiet after a player dropped, so the server notices the
/// drop before game data resumes (messages sent to a dead socket cannot be replayed).
const QUIET_SETTLE: Duration = Duration::from_millis(200);
/// Longest wait for one answer (`RoomJoined`, `Pong`, `RoomLeft`, …).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// No new round or visit starts when less than this is left of the churn.
const MIN_TIME_LEFT: Duration = Duration::from_secs(1);
/// Bounds on loops that are also bounded in time.
const MAX_ROUNDS: usize = 1_000_000;
const MAX_PUMP_STEPS: usize = 100_000_000;
const MAX_BUDGET_WAITS: usize = 8;
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
