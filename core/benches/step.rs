//! Core micro-benchmark: events per second through `Engine::step_into`, no sockets.
//!
//! `cargo bench -p signal-fish-core --bench step` (add `-- --quick` for a smoke run).
//! Workloads:
//! - relay: 100 rooms x 4 players, every event a JSON `GameData` (3 deliveries each);
//! - join: connections opening and joining rooms of 8, then leaving.
//!
//! Allocations per event are counted with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as WallInstant};

use signal_fish_core::{Config, ConnId, Endpoint, Engine, Event, Instant};

struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn config() -> Config {
    let mut config = Config::default();
    config.security.max_connections_per_ip = 1_000_000;
    config.server.max_connections = 1_000_000;
    config.server.max_rooms = 1_000_000;
    config.server.max_rooms_per_game = 1_000_000;
    config.rate_limit.max_room_creations = u32::MAX;
    config.rate_limit.max_join_attempts = u32::MAX;
    config.server.ping_timeout = 86_400;
    config
}

fn open(conn: u64) -> Event {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    Event::Opened { conn: ConnId(conn), peer_ip: ip, target: "/v2/ws".into(), endpoint: Endpoint::V2 }
}

fn text(conn: u64, text: String) -> Event {
    Event::Text { conn: ConnId(conn), text }
}

struct Measurement {
    events: u64,
    elapsed: Duration,
    allocations: u64,
    actions: u64,
}

// A benchmark measures wall time; the engine itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn measure(engine: &mut Engine, events: Vec<Event>, now: Instant) -> Measurement {
    let mut out = Vec::with_capacity(64);
    let count = events.len() as u64;
    let mut actions = 0u64;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = WallInstant::now();
    for event in events {
        engine.step_into(event, now, &mut out);
        actions += out.len() as u64;
        out.clear();
    }
    let elapsed = start.elapsed();
    Measurement { events: count, elapsed, allocations: ALLOCATIONS.load(Ordering::Relaxed) - before, actions }
}

fn relay(rounds: usize) -> Measurement {
    let mut engine = Engine::new(config(), [3; 32], Instant::ZERO, 0);
    let now = Instant::from_micros(1);
    let mut setup = Vec::new();
    let mut conn = 0u64;
    let mut players = Vec::new();
    for room in 0..100 {
        for seat in 0..4 {
            conn += 1;
            engine.step_into(open(conn), now, &mut setup);
            let join = format!(
                r#"{{"type":"JoinRoom","data":{{"game_name":"bench","room_code":"R{room:05}","player_name":"P{seat}","max_players":4}}}}"#
            );
            engine.step_into(text(conn, join), now, &mut setup);
            players.push(conn);
        }
    }
    let payload = r#"{"type":"GameData","data":{"data":{"x":12.5,"y":-3.25,"seq":1234,"action":"move"}}}"#;
    let events: Vec<Event> =
        (0..rounds).flat_map(|_| players.iter().map(|&p| text(p, payload.to_owned()))).collect();
    measure(&mut engine, events, now)
}

fn join(connections: u64) -> Measurement {
    let mut engine = Engine::new(config(), [4; 32], Instant::ZERO, 0);
    let now = Instant::from_micros(1);
    let mut events = Vec::with_capacity(connections as usize * 3);
    for conn in 1..=connections {
        events.push(open(conn));
        let room = conn / 8;
        events.push(text(
            conn,
            format!(r#"{{"type":"JoinRoom","data":{{"game_name":"bench","room_code":"J{room:05}","player_name":"P{conn}"}}}}"#),
        ));
    }
    for conn in 1..=connections {
        events.push(Event::Closed { conn: ConnId(conn), cause: signal_fish_core::CloseCause::ClientClosed });
    }
    measure(&mut engine, events, now)
}

fn report(name: &str, m: &Measurement) {
    let per_sec = m.events as f64 / m.elapsed.as_secs_f64();
    let line = serde_json::json!({
        "workload": name,
        "events": m.events,
        "seconds": m.elapsed.as_secs_f64(),
        "events_per_second": per_sec.round(),
        "ns_per_event": (m.elapsed.as_nanos() as f64 / m.events as f64).round(),
        "allocations_per_event": m.allocations as f64 / m.events as f64,
        "actions_per_event": m.actions as f64 / m.events as f64,
    });
    println!(
        "{name:>6}: {:>12.0} events/s  {:>7.1} ns/event  {:.2} allocations/event  {:.2} actions/event",
        per_sec,
        m.elapsed.as_nanos() as f64 / m.events as f64,
        m.allocations as f64 / m.events as f64,
        m.actions as f64 / m.events as f64
    );
    println!("{line}");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, joins, repeats) = if quick { (50, 2_000, 1) } else { (2_500, 50_000, 3) };
    for _ in 0..repeats {
        report("relay", &relay(rounds));
    }
    for _ in 0..repeats {
        report("join", &join(joins));
    }
}
