//! `relay`: R rooms × K players sending game data flat out under an in-flight window.

use serde_json::json;

use super::phases::TrafficPhases;
use super::{banner, check_population, check_range};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::report::{self, counts_human, Summary};
use crate::traffic::Pace;

/// Options of `relay`.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rooms (R).
    pub rooms: usize,
    /// Players per room (K).
    pub room_size: u8,
    /// Messages per sender not yet received by every room-mate.
    pub window: u64,
    /// Warm-up, measurement, drain, payload and joining.
    pub phases: TrafficPhases,
}

/// Runs `relay`.
pub fn run(ctx: &RunContext, opts: &RelayOptions) -> Result<Summary, BenchError> {
    check_range("--rooms", opts.rooms, 1, super::MAX_CLIENTS)?;
    check_range("--room-size", opts.room_size, 2, u8::MAX)?;
    let clients = opts.rooms * usize::from(opts.room_size);
    check_population(ctx, clients, opts.room_size)?;
    check_range("--window", opts.window, 1, 100_000)?;
    opts.phases.check()?;

    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("relay") };
    summary.human.push(banner(
        ctx,
        "relay",
        &format!(
            "{} rooms × {} players, window {}, {} extra payload bytes",
            opts.rooms, opts.room_size, opts.window, opts.phases.pad
        ),
    ));
    let (join, traffic) = opts.phases.run(ctx, clients, opts.room_size, Pace::Window(opts.window));
    summary.human.push(format!(
        "joined {} of {clients} (failures: {})",
        join.joined,
        counts_human(&join.failures)
    ));
    summary.set("rooms", json!(opts.rooms));
    summary.set("room_size", json!(opts.room_size));
    summary.set("window", json!(opts.window));
    summary.set("payload_bytes", json!(opts.phases.pad));
    summary.set("warmup_secs", json!(opts.phases.warmup.as_secs_f64()));
    report::join_fields(&join, &mut summary);
    report::traffic(&traffic, &mut summary);
    Ok(summary)
}
