//! `join-storm`: N clients connect and join rooms of K, C attempts in flight.

use std::time::Duration;

use serde_json::json;

use super::{banner, check_phase, check_population, check_range, QUIET_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::{join_all, JoinPlan};
use crate::report::{self, counts_human, figure, rate, Summary};

/// Options of `join-storm`.
#[derive(Debug, Clone)]
pub struct JoinStormOptions {
    /// Clients (N).
    pub clients: usize,
    /// Players per room (K).
    pub room_size: u8,
    /// Attempts in flight (C).
    pub in_flight: usize,
    /// Longest one attempt may take.
    pub timeout: Duration,
}

/// Runs `join-storm`.
pub fn run(ctx: &RunContext, opts: &JoinStormOptions) -> Result<Summary, BenchError> {
    check_population(ctx, opts.clients, opts.room_size)?;
    check_range("--room-size", opts.room_size, 1, u8::MAX)?;
    check_range("--in-flight", opts.in_flight, 1, opts.clients)?;
    check_phase("--timeout-secs", opts.timeout, true)?;
    let plan = JoinPlan {
        clients: opts.clients,
        room_size: opts.room_size,
        in_flight: opts.in_flight,
        timeout: opts.timeout,
        read_buffer: QUIET_READ_BUFFER,
    };
    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("join-storm") };
    summary.human.push(banner(
        ctx,
        "join-storm",
        &format!("{} clients, rooms of {}, {} in flight", opts.clients, opts.room_size, opts.in_flight),
    ));
    let outcome = smol::block_on(join_all(ctx, &plan));
    let joined = outcome.members.len();
    let secs = outcome.elapsed.as_secs_f64();
    let cpu = outcome.usage.server;
    let latency = outcome.latency.percentiles();
    summary.human.push(format!(
        "joined {joined} of {} in {secs:.3} s: {} joins/s, {} joins per server CPU-second (server CPU {})",
        opts.clients,
        figure(rate(joined as f64, Some(secs))),
        figure(rate(joined as f64, cpu)),
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.3} s")),
    ));
    summary.human.push(outcome.usage.human());
    let (per_join, join_line) = outcome.usage.cost_per("join", joined as u64);
    summary.human.extend(join_line);
    summary.human.extend(outcome.usage.cautions());
    summary.human.push(format!("connect→RoomJoined: {}", latency.human()));
    summary.human.push(format!("failures: {}", counts_human(&outcome.failures)));
    summary.set("clients", json!(opts.clients));
    summary.set("room_size", json!(opts.room_size));
    summary.set("in_flight", json!(opts.in_flight));
    report::join_fields(&outcome, &mut summary);
    summary.set("elapsed_secs", json!((secs * 1e4).round() / 1e4));
    summary.set("joins_per_sec", json!(rate(joined as f64, Some(secs))));
    if let serde_json::Value::Object(fields) = outcome.usage.to_json() {
        fields.into_iter().for_each(|(k, v)| summary.set(&k, v));
    }
    summary.set("joins_per_server_cpu_sec", json!(rate(joined as f64, cpu)));
    if let serde_json::Value::Object(fields) = per_join {
        fields.into_iter().for_each(|(k, v)| summary.set(&k, v));
    }
    summary.set("connect_to_joined", latency.to_json());
    Ok(summary)
}
