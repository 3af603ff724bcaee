//! Sampling the server every `--sample-secs`: RSS, open fds, CPU, rooms and connections
//! (from `GET /metrics`) and the game-data p99 of the window.

use std::cell::RefCell;
use std::time::Instant;

use serde_json::Value;
use smol::future::FutureExt as _;
use smol::Timer;

use super::report::sample_line;
use super::shared::Shared;
use super::ANSWER_TIMEOUT;
use crate::latency::Percentiles;
use crate::net;

/// One sample of the server.
#[derive(Debug, Clone, Default)]
pub(super) struct Sample {
    /// Seconds since the start.
    pub(super) t: f64,
    /// `churn`, `drain` (the last rounds finishing) or `idle`.
    pub(super) phase: &'static str,
    pub(super) rss: Option<u64>,
    pub(super) fds: Option<u64>,
    pub(super) cpu_percent: Option<f64>,
    pub(super) metrics: Option<ServerCounts>,
    pub(super) latency: Percentiles,
}

/// The live figures of the server's JSON metrics (OPERATIONS §4).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ServerCounts {
    pub(super) rooms: u64,
    pub(super) connections: u64,
    pub(super) players: u64,
    pub(super) spectators: u64,
    pub(super) reserved_seats: u64,
}

pub(super) async fn server_counts(sh: &Shared<'_>) -> Result<ServerCounts, String> {
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

pub(super) async fn take_sample(
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
pub(super) async fn sampler(sh: &Shared<'_>, samples: &RefCell<Vec<Sample>>) {
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
