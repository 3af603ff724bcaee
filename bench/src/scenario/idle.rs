//! `idle`: N joined connections held S seconds; server memory per connection and server
//! CPU while nothing happens.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use serde_json::json;
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use super::{banner, check_phase, check_population, check_range, QUIET_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::{close_code, join_all, JoinPlan, Member};
use crate::meter::{Meter, Usage};
use crate::procfs::cpu_secs;
use crate::report::{self, counts, counts_human, Summary};
use crate::wire;

/// Options of `idle`.
#[derive(Debug, Clone)]
pub struct IdleOptions {
    /// Connections (N).
    pub clients: usize,
    /// Players per room.
    pub room_size: u8,
    /// Join attempts in flight while setting up.
    pub join_in_flight: usize,
    /// Longest one join may take.
    pub join_timeout: Duration,
    /// Longest pause after the last join before measuring: with a server process, the
    /// pause ends as soon as the server used under 1 % of a core over 250 ms (the join
    /// traffic is over); without one, it is this long.
    pub settle: Duration,
    /// How long the connections are held and measured (S).
    pub hold: Duration,
    /// Send a JSON `Ping` this often per connection (None: silent; the server's
    /// `server.ping_timeout` must then exceed settle + hold).
    pub ping: Option<Duration>,
}

/// Runs `idle`.
pub fn run(ctx: &RunContext, opts: &IdleOptions) -> Result<Summary, BenchError> {
    check_range("--room-size", opts.room_size, 1, u8::MAX)?;
    check_population(ctx, opts.clients, opts.room_size)?;
    check_range("--join-in-flight", opts.join_in_flight, 1, 100_000)?;
    check_phase("--join-timeout-secs", opts.join_timeout, true)?;
    check_phase("--settle-secs", opts.settle, false)?;
    check_phase("--hold-secs", opts.hold, true)?;
    if let Some(ping) = opts.ping {
        check_phase("--ping-secs", ping, true)?;
    }
    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("idle") };
    summary.human.push(banner(
        ctx,
        "idle",
        &format!(
            "{} connections in rooms of {}, held {:.1} s, {}",
            opts.clients,
            opts.room_size,
            opts.hold.as_secs_f64(),
            opts.ping
                .map_or_else(|| "no pings".to_owned(), |p| format!("a Ping every {:.1} s", p.as_secs_f64()))
        ),
    ));
    let plan = JoinPlan {
        clients: opts.clients,
        room_size: opts.room_size,
        in_flight: opts.join_in_flight,
        timeout: opts.join_timeout,
        read_buffer: QUIET_READ_BUFFER,
    };
    let rss_before = ctx.rss_bytes();
    let (join, settled, hold) = smol::block_on(async {
        let mut join = join_all(ctx, &plan).await;
        let members = std::mem::take(&mut join.members);
        let settled = settle(ctx, opts.settle).await;
        let hold = hold(ctx, members, opts).await;
        (join, settled, hold)
    });
    let joined = join.joined;
    let secs = hold.usage.secs;
    let per_conn = |rss: Option<u64>| rss.filter(|_| joined > 0).map(|r| r / joined as u64);
    let delta = match (rss_before, hold.rss_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let cpu_percent = hold.usage.server.map(|c| c * 100.0 / secs.max(1e-9));
    summary.human.push(format!(
        "joined {joined} of {} (failures: {}); measured after {:.2} s of settling",
        opts.clients,
        counts_human(&join.failures),
        settled.as_secs_f64()
    ));
    summary.human.push(match (rss_before, hold.rss_after) {
        (Some(a), Some(b)) => format!(
            "server RSS {:.1} MiB before, {:.1} MiB held: {} bytes ({:.2} KiB) more per connection",
            a as f64 / 1048576.0,
            b as f64 / 1048576.0,
            per_conn(delta).unwrap_or(0),
            per_conn(delta).unwrap_or(0) as f64 / 1024.0
        ),
        _ => "server RSS n/a (no --server-pid)".to_owned(),
    });
    summary.human.push(match (hold.usage.server, cpu_percent) {
        (Some(c), Some(p)) => format!("server CPU while idle: {c:.4} s in {secs:.2} s = {p:.3} % of a core"),
        _ => "server CPU n/a (no --server-pid)".to_owned(),
    });
    summary.human.extend(hold.usage.cautions());
    if !hold.events.is_empty() {
        summary.human.push(format!("during the hold: {}", counts_human(&hold.events)));
    }
    summary.set("clients", json!(opts.clients));
    summary.set("room_size", json!(opts.room_size));
    summary.set("ping_secs", json!(opts.ping.map(|p| p.as_secs_f64())));
    report::join_fields(&join, &mut summary);
    summary.set("settle_secs", json!((settled.as_secs_f64() * 1000.0).round() / 1000.0));
    summary.set("held_secs", json!((secs * 1000.0).round() / 1000.0));
    summary.set("rss_before_bytes", json!(rss_before));
    summary.set("rss_after_bytes", json!(hold.rss_after));
    summary.set("rss_per_connection_bytes", json!(per_conn(delta)));
    summary.set("rss_total_per_connection_bytes", json!(per_conn(hold.rss_after)));
    if let serde_json::Value::Object(fields) = hold.usage.to_json() {
        fields.into_iter().for_each(|(k, v)| summary.set(&k, v));
    }
    // Idle CPU is small: keep three decimals.
    summary.set("server_cpu_percent", json!(cpu_percent.map(|p| (p * 1000.0).round() / 1000.0)));
    summary.set("other_processes_cpu_percent", json!(hold.usage.percent(hold.usage.others)));
    summary.set("closed_during_hold", json!(hold.events.values().sum::<u64>()));
    summary.set("events", counts(&hold.events));
    Ok(summary)
}

/// Waits until the server is quiet (under 1 % of a core over a 250 ms sample) or `max`
/// passed; returns how long it waited. Without a server process it waits `max`.
pub async fn settle(ctx: &RunContext, max: Duration) -> Duration {
    const SAMPLE: Duration = Duration::from_millis(250);
    let started = Instant::now();
    if ctx.process.is_none() {
        Timer::after(max).await;
        return started.elapsed();
    }
    while started.elapsed() + SAMPLE <= max {
        let before = ctx.cpu_ns();
        Timer::after(SAMPLE).await;
        if let (Some(a), Some(b)) = (before, ctx.cpu_ns()) {
            if cpu_secs(a, b) < SAMPLE.as_secs_f64() / 100.0 {
                break;
            }
        }
    }
    started.elapsed()
}

struct Hold {
    usage: Usage,
    rss_after: Option<u64>,
    events: BTreeMap<String, u64>,
}

/// Holds every connection open for `opts.hold`, reading (and discarding) what arrives
/// so a close by the server is noticed.
async fn hold(ctx: &RunContext, members: Vec<Member>, opts: &IdleOptions) -> Hold {
    let events = RefCell::new(BTreeMap::<String, u64>::new());
    let count = |what: String| *events.borrow_mut().entry(what).or_default() += 1;
    let connections = members.into_iter().map(|m| {
        let count = &count;
        async move {
            let mut ws = m.ws;
            let mut next_ping = opts.ping.map(|p| Instant::now() + p);
            loop {
                let read = async { Some(ws.next().await) };
                let tick = async {
                    match next_ping {
                        Some(at) => Timer::at(at).await,
                        None => smol::future::pending().await,
                    };
                    None
                };
                match read.or(tick).await {
                    None => {
                        next_ping = opts.ping.map(|p| Instant::now() + p);
                        if ws.send(Message::text(wire::PING)).await.is_err() {
                            count("SEND_FAILED".to_owned());
                            return;
                        }
                    }
                    Some(Some(Ok(Message::Close(frame)))) => {
                        count(close_code(frame.map(|f| u16::from(f.code))));
                        return;
                    }
                    Some(Some(Ok(_))) => {}
                    Some(Some(Err(_))) => {
                        count("READ_FAILED".to_owned());
                        return;
                    }
                    Some(None) => {
                        count("EOF".to_owned());
                        return;
                    }
                }
            }
        }
    });
    let all = futures_util::future::join_all(connections.collect::<Vec<_>>());
    let meter = Meter::start(ctx);
    let until = Instant::now() + opts.hold;
    async {
        all.await;
        smol::future::pending::<()>().await
    }
    .or(async {
        Timer::at(until).await;
    })
    .await;
    Hold { usage: meter.stop(ctx), rss_after: ctx.rss_bytes(), events: events.into_inner() }
}
