//! The report: human lines (counts, game-data check, latency, growth, idle check, the
//! sample table) and the JSON summary fields.

use serde_json::{json, Value};

use super::growth::growth;
use super::idle_check::Idle;
use super::sampling::Sample;
use super::shared::Shared;
use super::SoakOptions;
use crate::report::{counts, counts_human, Summary};
use crate::traffic::MAX_LISTED_SENDERS;

/// Rows of the human-readable sample table.
const MAX_TABLE_ROWS: usize = 30;

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

pub(super) fn sample_line(s: &Sample) -> String {
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

pub(super) fn report(
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
