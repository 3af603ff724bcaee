//! `mesh`: N matchbox peers in rooms of R on a matchbox signaling server (Signal Fish's
//! mesh port, or matchbox's own `matchbox_server`): join latency, server memory per
//! peer, then signals at H Hz round-robin between room-mates: signals relayed per
//! server CPU-second, latency, lost / duplicated / reordered.

use std::time::Duration;

use serde_json::json;

use super::fixed_rate::MAX_HZ;
use super::idle::settle;
use super::{check_phase, check_population, check_range, TRAFFIC_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::mesh_join::{self, room_path, MeshJoinPlan};
use crate::mesh_traffic::{self, SignalPlan};
use crate::report::{self, counts, counts_human, figure, rate, round1, Summary};

/// Bytes in a GiB, for connections held per GiB.
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Options of `mesh`.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// Peers (N).
    pub peers: usize,
    /// Peers per room (R).
    pub room_size: u8,
    /// Signals per second per peer (H).
    pub hz: f64,
    /// Signals before measuring.
    pub warmup: Duration,
    /// Measured signals.
    pub duration: Duration,
    /// Longest wait for signals in flight at the end.
    pub drain: Duration,
    /// Connection attempts in flight while joining.
    pub join_in_flight: usize,
    /// Longest connect → `IdAssigned`, and longest wait after it for the room's
    /// `NewPeer`s.
    pub join_timeout: Duration,
    /// Longest pause after the joins before reading the server's RSS: with a server
    /// process it ends once the server is quiet (under 1 % of a core over 250 ms).
    pub settle: Duration,
}

/// Runs `mesh`.
pub fn run(ctx: &RunContext, opts: &MeshOptions) -> Result<Summary, BenchError> {
    check_range("--room-size", opts.room_size, 2, u8::MAX)?;
    check_population(ctx, opts.peers, opts.room_size)?;
    if !(opts.hz.is_finite() && opts.hz > 0.0 && opts.hz <= MAX_HZ) {
        return Err(BenchError::new(format!("--hz {}: must be above 0 and at most {MAX_HZ}", opts.hz)));
    }
    check_range("--join-in-flight", opts.join_in_flight, 1, 100_000)?;
    check_phase("--warmup-secs", opts.warmup, false)?;
    check_phase("--secs", opts.duration, true)?;
    check_phase("--drain-secs", opts.drain, true)?;
    check_phase("--join-timeout-secs", opts.join_timeout, true)?;
    check_phase("--settle-secs", opts.settle, false)?;

    let room_size = usize::from(opts.room_size);
    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("mesh") };
    summary.human.push(format!(
        "mesh: {} matchbox peers in rooms of {} at {} Hz → ws://{}{} … (sources 127.{}.0.0/16, {} per address)",
        opts.peers,
        opts.room_size,
        opts.hz,
        ctx.server,
        room_path(ctx, 0),
        ctx.sources.net(),
        ctx.sources.per_ip(),
    ));
    let join_plan = MeshJoinPlan {
        peers: opts.peers,
        room_size,
        in_flight: opts.join_in_flight,
        timeout: opts.join_timeout,
        read_buffer: TRAFFIC_READ_BUFFER,
    };
    let signal_plan =
        SignalPlan { hz: opts.hz, warmup: opts.warmup, duration: opts.duration, drain: opts.drain };
    let rss_before = ctx.rss_bytes();
    let (join, settled, rss_after, traffic) = smol::block_on(async {
        let mut join = mesh_join::join_all(ctx, &join_plan).await;
        let peers = std::mem::take(&mut join.peers);
        let settled = settle(ctx, opts.settle).await;
        let rss_after = ctx.rss_bytes();
        let traffic = mesh_traffic::run(ctx, peers, room_size, &signal_plan).await;
        (join, settled, rss_after, traffic)
    });

    // Joining.
    let joined = join.joined;
    let id_latency = join.id_latency.percentiles();
    let announce_latency = join.announce_latency.percentiles();
    summary.human.push(format!(
        "joined {joined} of {} in {:.3} s (failures: {}); {} of {} rooms announced",
        opts.peers,
        join.elapsed.as_secs_f64(),
        counts_human(&join.failures),
        join.rooms_announced,
        join.rooms_expected
    ));
    summary.human.push(format!("connect → IdAssigned: {}", id_latency.human()));
    summary
        .human
        .push(format!("last joiner's connect → its room's last NewPeer: {}", announce_latency.human()));
    let (per_join, join_line) = join.usage.cost_per("join", joined as u64);
    summary.human.extend(join_line);
    if !join.events.is_empty() {
        summary.human.push(format!("while joining: {}", counts_human(&join.events)));
    }

    // Memory held per peer.
    let delta = match (rss_before, rss_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let per_peer = delta.filter(|_| joined > 0).map(|d| d / joined as u64);
    let per_gib = per_peer.filter(|b| *b > 0).map(|b| (GIB / b as f64).round());
    summary.human.push(match (rss_before, rss_after, per_peer) {
        (Some(a), Some(b), Some(p)) => format!(
            "server RSS {:.1} MiB before, {:.1} MiB with {joined} peers (after {:.2} s of settling): {p} bytes per peer, {} peers per GiB",
            a as f64 / 1048576.0,
            b as f64 / 1048576.0,
            settled.as_secs_f64(),
            figure(per_gib)
        ),
        _ => "server RSS n/a (no --server-pid)".to_owned(),
    });

    // Signalling.
    let cpu = traffic.usage.server;
    let signals_per_cpu_sec = rate(traffic.deliveries as f64, cpu);
    let cpu_us_per_signal = cpu
        .filter(|_| traffic.deliveries > 0)
        .map(|c| (c * 1e6 / traffic.deliveries as f64 * 100.0).round() / 100.0);
    let achieved = if traffic.clients > 0 && traffic.measured_secs > 0.0 {
        traffic.messages as f64 / traffic.measured_secs / traffic.clients as f64
    } else {
        0.0
    };
    summary.human.push(format!(
        "signals relayed {}: {} per server CPU-second, {} µs of server CPU each; achieved {achieved:.2} Hz per peer (target {} Hz)",
        traffic.deliveries,
        figure(signals_per_cpu_sec),
        cpu_us_per_signal.map_or_else(|| "n/a".to_owned(), |us| format!("{us:.2}")),
        opts.hz
    ));

    summary.set("peers", json!(opts.peers));
    summary.set("room_size", json!(opts.room_size));
    summary.set("target_hz", json!(opts.hz));
    summary.set("warmup_secs", json!(opts.warmup.as_secs_f64()));
    summary.set("joined", json!(joined));
    summary.set("join_failed", json!(join.failed()));
    summary.set("join_failures", counts(&join.failures));
    summary.set("join_secs", json!((join.elapsed.as_secs_f64() * 1000.0).round() / 1000.0));
    summary.set("connect_to_id_assigned", id_latency.to_json());
    summary.set("last_joiner_to_room_announced", announce_latency.to_json());
    summary.set("rooms_expected", json!(join.rooms_expected));
    summary.set("rooms_announced", json!(join.rooms_announced));
    summary.set("new_peer_messages", json!(join.new_peers));
    summary.set("join_events", counts(&join.events));
    if let serde_json::Value::Object(fields) = per_join {
        fields.into_iter().for_each(|(k, v)| summary.set(&k, v));
    }
    summary.set("settle_secs", json!((settled.as_secs_f64() * 1000.0).round() / 1000.0));
    summary.set("rss_before_bytes", json!(rss_before));
    summary.set("rss_after_bytes", json!(rss_after));
    summary.set("rss_per_peer_bytes", json!(per_peer));
    summary.set("peers_per_gib", json!(per_gib));
    summary.set("achieved_hz_per_peer", json!((achieved * 100.0).round() / 100.0));
    summary.set("signals_relayed", json!(traffic.deliveries));
    summary.set("signals_per_sec", json!(rate(traffic.deliveries as f64, Some(traffic.measured_secs))));
    summary.set("signals_per_server_cpu_sec", json!(signals_per_cpu_sec.map(round1)));
    summary.set("server_cpu_us_per_signal", json!(cpu_us_per_signal));
    report::traffic(&traffic, &mut summary);
    Ok(summary)
}
