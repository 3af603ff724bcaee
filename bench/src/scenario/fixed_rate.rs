//! `fixed-rate`: N clients in rooms of K each sending game data at H Hz.

use std::time::Duration;

use serde_json::json;

use super::{banner, check_phase, check_population, check_range, TRAFFIC_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::{join_all, JoinPlan};
use crate::report::{self, counts_human, round1, Summary};
use crate::traffic::{self, Pace, TrafficPlan};

/// Highest per-client rate accepted.
pub const MAX_HZ: f64 = 1000.0;

/// Options of `fixed-rate`.
#[derive(Debug, Clone)]
pub struct FixedRateOptions {
    /// Clients (N).
    pub clients: usize,
    /// Players per room (K).
    pub room_size: u8,
    /// Messages per second per client (H).
    pub hz: f64,
    /// Traffic before measuring.
    pub warmup: Duration,
    /// Measured traffic.
    pub duration: Duration,
    /// Longest wait for in-flight messages at the end.
    pub drain: Duration,
    /// Extra payload bytes per message.
    pub pad: usize,
    /// Join attempts in flight while setting up.
    pub join_in_flight: usize,
    /// Longest one join may take.
    pub join_timeout: Duration,
}

/// Runs `fixed-rate`.
pub fn run(ctx: &RunContext, opts: &FixedRateOptions) -> Result<Summary, BenchError> {
    check_range("--room-size", opts.room_size, 2, u8::MAX)?;
    check_population(ctx, opts.clients, opts.room_size)?;
    if !(opts.hz.is_finite() && opts.hz > 0.0 && opts.hz <= MAX_HZ) {
        return Err(BenchError::new(format!("--hz {}: must be above 0 and at most {MAX_HZ}", opts.hz)));
    }
    check_range("--payload-bytes", opts.pad, 0, super::relay::MAX_PAD)?;
    check_range("--join-in-flight", opts.join_in_flight, 1, 100_000)?;
    check_phase("--warmup-secs", opts.warmup, false)?;
    check_phase("--secs", opts.duration, true)?;
    check_phase("--drain-secs", opts.drain, true)?;
    check_phase("--join-timeout-secs", opts.join_timeout, true)?;

    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("fixed-rate") };
    summary.human.push(banner(
        ctx,
        "fixed-rate",
        &format!("{} clients in rooms of {} at {} Hz", opts.clients, opts.room_size, opts.hz),
    ));
    let plan = JoinPlan {
        clients: opts.clients,
        room_size: opts.room_size,
        in_flight: opts.join_in_flight,
        timeout: opts.join_timeout,
        read_buffer: TRAFFIC_READ_BUFFER,
    };
    let traffic_plan = TrafficPlan {
        pace: Pace::Rate(opts.hz),
        warmup: opts.warmup,
        duration: opts.duration,
        drain: opts.drain,
        pad: opts.pad,
    };
    let (join, traffic) = smol::block_on(async {
        let mut join = join_all(ctx, &plan).await;
        let members = std::mem::take(&mut join.members);
        let traffic = traffic::run(ctx, members, usize::from(opts.room_size), &traffic_plan).await;
        (join, traffic)
    });
    let joined = join.joined;
    summary.human.push(format!(
        "joined {joined} of {} (failures: {})",
        opts.clients,
        counts_human(&join.failures)
    ));
    let achieved = if traffic.clients > 0 && traffic.measured_secs > 0.0 {
        traffic.messages as f64 / traffic.measured_secs / traffic.clients as f64
    } else {
        0.0
    };
    summary.human.push(format!("achieved {achieved:.2} Hz per client (target {} Hz)", opts.hz));
    summary.set("clients", json!(opts.clients));
    summary.set("room_size", json!(opts.room_size));
    summary.set("target_hz", json!(opts.hz));
    summary.set("achieved_hz_per_client", json!((achieved * 100.0).round() / 100.0));
    summary.set("achieved_messages_per_sec", json!(round1(achieved * traffic.clients as f64)));
    summary.set("payload_bytes", json!(opts.pad));
    summary.set("warmup_secs", json!(opts.warmup.as_secs_f64()));
    report::join_fields(&join, &mut summary);
    report::traffic(&traffic, &mut summary);
    Ok(summary)
}
