//! `fixed-rate`: N clients in rooms of K each sending game data at H Hz.

use serde_json::json;

use super::phases::TrafficPhases;
use super::{banner, check_population, check_range};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::report::{self, counts_human, round1, Summary};
use crate::traffic::{Pace, Stagger};

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
    /// Where each sender starts in the period.
    pub stagger: Stagger,
    /// Warm-up, measurement, drain, payload and joining.
    pub phases: TrafficPhases,
}

/// Runs `fixed-rate`.
pub fn run(ctx: &RunContext, opts: &FixedRateOptions) -> Result<Summary, BenchError> {
    check_range("--room-size", opts.room_size, 2, u8::MAX)?;
    check_population(ctx, opts.clients, opts.room_size)?;
    if !(opts.hz.is_finite() && opts.hz > 0.0 && opts.hz <= MAX_HZ) {
        return Err(BenchError::new(format!("--hz {}: must be above 0 and at most {MAX_HZ}", opts.hz)));
    }
    opts.phases.check()?;

    let stagger = opts.stagger.name();
    let mut summary = Summary { human: Vec::new(), json: ctx.json_header("fixed-rate") };
    summary.human.push(banner(
        ctx,
        "fixed-rate",
        &format!(
            "{} clients in rooms of {} at {} Hz, {stagger} start points",
            opts.clients, opts.room_size, opts.hz
        ),
    ));
    let (join, traffic) =
        opts.phases.run(ctx, opts.clients, opts.room_size, Pace::Rate(opts.hz, opts.stagger));
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
    summary.set("stagger", json!(stagger));
    summary.set("achieved_hz_per_client", json!((achieved * 100.0).round() / 100.0));
    summary.set("achieved_messages_per_sec", json!(round1(achieved * traffic.clients as f64)));
    summary.set("payload_bytes", json!(opts.phases.pad));
    summary.set("warmup_secs", json!(opts.phases.warmup.as_secs_f64()));
    report::join_fields(&join, &mut summary);
    report::traffic(&traffic, &mut summary);
    Ok(summary)
}
