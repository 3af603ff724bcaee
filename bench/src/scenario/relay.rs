//! `relay`: R rooms × K players sending game data flat out under an in-flight window.

use std::time::Duration;

use serde_json::json;

use super::{banner, check_phase, check_population, check_range, TRAFFIC_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::{join_all, JoinPlan};
use crate::report::{self, counts_human, Summary};
use crate::traffic::{self, Pace, TrafficPlan};

/// Largest extra payload per message.
pub const MAX_PAD: usize = 60_000;

/// Options of `relay`.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rooms (R).
    pub rooms: usize,
    /// Players per room (K).
    pub room_size: u8,
    /// Messages per sender not yet received by every room-mate.
    pub window: u64,
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

/// Runs `relay`.
pub fn run(ctx: &RunContext, opts: &RelayOptions) -> Result<Summary, BenchError> {
    check_range("--rooms", opts.rooms, 1, super::MAX_CLIENTS)?;
    check_range("--room-size", opts.room_size, 2, u8::MAX)?;
    let clients = opts.rooms * usize::from(opts.room_size);
    check_population(ctx, clients, opts.room_size)?;
    check_range("--window", opts.window, 1, 100_000)?;
    check_range("--payload-bytes", opts.pad, 0, MAX_PAD)?;
    check_range("--join-in-flight", opts.join_in_flight, 1, 100_000)?;
    check_phase("--warmup-secs", opts.warmup, false)?;
    check_phase("--secs", opts.duration, true)?;
    check_phase("--drain-secs", opts.drain, true)?;
    check_phase("--join-timeout-secs", opts.join_timeout, true)?;

    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("relay") };
    summary.human.push(banner(
        ctx,
        "relay",
        &format!(
            "{} rooms × {} players, window {}, {} extra payload bytes",
            opts.rooms, opts.room_size, opts.window, opts.pad
        ),
    ));
    let plan = JoinPlan {
        clients,
        room_size: opts.room_size,
        in_flight: opts.join_in_flight,
        timeout: opts.join_timeout,
        read_buffer: TRAFFIC_READ_BUFFER,
    };
    let traffic_plan = TrafficPlan {
        pace: Pace::Window(opts.window),
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
    summary.human.push(format!(
        "joined {} of {clients} (failures: {})",
        join.joined,
        counts_human(&join.failures)
    ));
    summary.set("rooms", json!(opts.rooms));
    summary.set("room_size", json!(opts.room_size));
    summary.set("window", json!(opts.window));
    summary.set("payload_bytes", json!(opts.pad));
    summary.set("warmup_secs", json!(opts.warmup.as_secs_f64()));
    report::join_fields(&join, &mut summary);
    report::traffic(&traffic, &mut summary);
    Ok(summary)
}
