//! The engine's state in readable lines, for `replay --until`: every room with its
//! players (their connection, or `reserved` while a disconnected player's seat is held),
//! ready list, authority and spectators; the live connections; the pending timers.

use signal_fish_core::RoomSummary;
use signal_fish_core::{Engine, Instant};

use super::clock::Clock;

/// How many pending timers are listed one by one (the rest are counted).
const TIMERS_LISTED: usize = 20;

/// The engine's state at `at`, one line per fact.
pub fn describe_state(engine: &Engine, at: Instant, clock: &Clock) -> Vec<String> {
    let mut lines = Vec::new();
    let conns = engine.connections();
    let names: Vec<String> = conns.iter().map(ToString::to_string).collect();
    lines.push(format!(
        "connections: {} open{}{}",
        conns.len(),
        if conns.is_empty() { "" } else { ": " },
        names.join(" ")
    ));
    let rooms = engine.rooms();
    lines.push(format!("rooms: {}", rooms.len()));
    for room in &rooms {
        lines.extend(describe_room(room));
    }
    let timers = engine.pending_timers();
    match engine.poll_timeout() {
        Some(next) => lines.push(format!(
            "timers: {} pending, next deadline at {} (in {})",
            timers.len(),
            clock.both(next),
            crate::duration::format_secs(next.saturating_duration_since(at))
        )),
        None => lines.push("timers: none pending".to_owned()),
    }
    for (due, what) in timers.iter().take(TIMERS_LISTED) {
        lines.push(format!("  {} {what}", clock.since_start(*due)));
    }
    if timers.len() > TIMERS_LISTED {
        lines.push(format!("  … and {} more", timers.len() - TIMERS_LISTED));
    }
    lines
}

/// One room: a heading line, then its players, ready list, authority and spectators.
pub fn describe_room(room: &RoomSummary) -> Vec<String> {
    let mut lines = vec![format!(
        "room {}: game {:?}, max {} players, lobby {}, id {}",
        room.code,
        room.game,
        room.max_players,
        serde_json::to_value(room.lobby).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        room.room_id
    )];
    if room.players.is_empty() {
        lines.push("  players: none".to_owned());
    }
    for (player, conn) in &room.players {
        let mut notes = Vec::new();
        if room.authority == Some(*player) {
            notes.push("authority");
        }
        if room.ready.contains(player) {
            notes.push("ready");
        }
        let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
        let conn = conn.map_or_else(|| "reserved".to_owned(), |c| c.to_string());
        lines.push(format!("  player {} {conn}{notes}", player));
    }
    let ready: Vec<String> = room.ready.iter().map(ToString::to_string).collect();
    lines.push(format!("  ready: {}", if ready.is_empty() { "none".to_owned() } else { ready.join(" ") }));
    lines.push(format!(
        "  authority: {}",
        room.authority.map_or_else(|| "none".to_owned(), |a| a.to_string())
    ));
    if room.spectators.is_empty() {
        lines.push("  spectators: none".to_owned());
    }
    for (spectator, conn) in &room.spectators {
        lines.push(format!("  spectator {} {conn}", spectator));
    }
    lines
}
