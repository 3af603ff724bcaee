//! CI smoke run: every scenario briefly against an in-process server. Asserts that the
//! run completes with no loss, duplicates or reordering and that the JSON summary holds
//! its figures; never asserts on speed (benchmarks are not timed tests).

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use signal_fish_bench::scenario::fixed_rate::{self, FixedRateOptions};
use signal_fish_bench::scenario::idle::{self, IdleOptions};
use signal_fish_bench::scenario::join_storm::{self, JoinStormOptions};
use signal_fish_bench::scenario::mesh::{self, MeshOptions};
use signal_fish_bench::scenario::phases::TrafficPhases;
use signal_fish_bench::scenario::relay::{self, RelayOptions};
use signal_fish_bench::scenario::soak::{self, SoakOptions};
use signal_fish_bench::traffic::Stagger;
use signal_fish_bench::{RunContext, Summary};
use signal_fish_server::{Config, Server, ShutdownHandle};

/// A server on 127.0.0.1:0 in its own thread, stopped on drop.
struct TestServer {
    addr: SocketAddr,
    /// The matchbox full-mesh port, when `mesh.enabled`.
    mesh_addr: Option<SocketAddr>,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        TestServer::with_config(Config::default())
    }

    fn with_config(config: Config) -> TestServer {
        let server = Server::bind(config, "127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr = server.local_addr();
        let mesh_addr = server.mesh_addr();
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || smol::block_on(server.run()));
        TestServer { addr, mesh_addr, stop, thread: Some(thread) }
    }

    /// A run context measuring this process (the server's thread is part of it).
    fn context(&self) -> RunContext {
        RunContext::new(self.addr, Some(std::process::id()), None, 4).expect("context")
    }

    /// The same, aimed at the matchbox full-mesh port.
    fn mesh_context(&self) -> RunContext {
        let mesh = self.mesh_addr.expect("mesh.enabled");
        RunContext::new(mesh, Some(std::process::id()), None, 4).expect("context")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn json_line(summary: &Summary) -> Value {
    let rendered = summary.render();
    let last = rendered.lines().last().expect("output");
    let parsed: Value = serde_json::from_str(last).expect("the last line is JSON");
    assert!(rendered.lines().count() >= 3, "human lines come first:\n{rendered}");
    parsed
}

fn number(json: &Value, key: &str) -> f64 {
    json[key].as_f64().unwrap_or_else(|| panic!("{key} is a number in {json}"))
}

/// Every message reached every receiver once and in order, and the figures are there.
fn assert_clean_deliveries(json: &Value) {
    assert_eq!(json["lost"], 0, "{json}");
    assert_eq!(json["duplicated"], 0, "{json}");
    assert_eq!(json["reordered"], 0, "{json}");
    assert_eq!(json["drained"], true, "{json}");
    assert_eq!(json["events"], serde_json::json!({}), "{json}");
    assert_eq!(json["deliveries_total"], json["deliveries_expected"], "{json}");
    assert!(number(json, "deliveries") > 0.0, "{json}");
    for key in [
        "messages_per_sec",
        "deliveries_per_sec",
        "server_cpu_secs",
        "deliveries_per_server_cpu_sec",
        "server_cpu_us_per_message",
        "server_cpu_us_per_delivery",
    ] {
        assert!(number(json, key) > 0.0, "{key} in {json}");
    }
    // In-process, the server's system calls cannot be told from the generator's.
    assert_eq!(json["server_syscalls_per_message"], Value::Null, "{json}");
    assert!(json["latency"]["count"].as_u64().unwrap() > 0, "{json}");
    assert!(json["latency"]["p99_us"].as_u64().unwrap() >= json["latency"]["p50_us"].as_u64().unwrap());
}

/// The same, where a message has several deliveries (protocol v2 rooms).
fn assert_clean_traffic(json: &Value) {
    assert_clean_deliveries(json);
    // The cost of one message includes its deliveries.
    assert!(
        number(json, "server_cpu_us_per_message") >= number(json, "server_cpu_us_per_delivery"),
        "{json}"
    );
}

/// A smoke run's traffic: 0.3 s of warm-up, 1 s measured, up to 5 s of drain.
fn short_phases(pad: usize, join_in_flight: usize) -> TrafficPhases {
    TrafficPhases {
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(1),
        drain: Duration::from_secs(5),
        pad,
        join_in_flight,
        join_timeout: Duration::from_secs(5),
    }
}

#[test]
fn relay_smoke() {
    let server = TestServer::start();
    let opts = RelayOptions { rooms: 6, room_size: 4, window: 8, phases: short_phases(16, 8) };
    let json = json_line(&relay::run(&server.context(), &opts).expect("relay runs"));
    assert_eq!(json["scenario"], "relay");
    assert_eq!(json["joined"], 24, "{json}");
    assert_eq!(json["clients_active"], 24, "{json}");
    assert_clean_traffic(&json);
}

#[test]
fn fixed_rate_smoke() {
    let server = TestServer::start();
    for (stagger, name) in [(Stagger::Scattered, "scattered"), (Stagger::ByRoom, "by-room")] {
        let opts =
            FixedRateOptions { clients: 30, room_size: 3, hz: 40.0, stagger, phases: short_phases(0, 10) };
        let json = json_line(&fixed_rate::run(&server.context(), &opts).expect("fixed-rate runs"));
        assert_eq!(json["scenario"], "fixed-rate");
        assert_eq!(json["stagger"], name, "{json}");
        assert_eq!(json["joined"], 30, "{json}");
        assert_clean_traffic(&json);
        assert!(number(&json, "achieved_hz_per_client") > 0.0, "{json}");
    }
}

#[test]
fn join_storm_smoke() {
    let server = TestServer::start();
    let opts =
        JoinStormOptions { clients: 120, room_size: 8, in_flight: 20, timeout: Duration::from_secs(5) };
    let json = json_line(&join_storm::run(&server.context(), &opts).expect("join-storm runs"));
    assert_eq!(json["scenario"], "join-storm");
    assert_eq!(json["joined"], 120, "{json}");
    assert_eq!(json["join_failed"], 0, "{json}");
    for key in ["joins_per_sec", "joins_per_server_cpu_sec", "server_cpu_secs", "server_cpu_us_per_join"] {
        assert!(number(&json, key) > 0.0, "{key} in {json}");
    }
    assert_eq!(json["connect_to_joined"]["count"], 120, "{json}");
}

#[test]
fn join_storm_reports_failures_by_code() {
    let server = TestServer::start();
    // Twelve clients into rooms of 3 from one address: the server's per-IP cap (10)
    // refuses the last two with TOO_MANY_CONNECTIONS.
    let ctx = RunContext::new(server.addr, None, None, 12).expect("context");
    let opts = JoinStormOptions { clients: 12, room_size: 3, in_flight: 12, timeout: Duration::from_secs(5) };
    let json = json_line(&join_storm::run(&ctx, &opts).expect("join-storm runs"));
    assert_eq!(json["joined"], 10, "{json}");
    assert_eq!(json["join_failures"]["TOO_MANY_CONNECTIONS"], 2, "{json}");
    assert_eq!(json["joins_per_server_cpu_sec"], Value::Null, "{json}");
}

#[test]
fn idle_smoke() {
    let server = TestServer::start();
    let opts = IdleOptions {
        clients: 100,
        room_size: 4,
        join_in_flight: 20,
        join_timeout: Duration::from_secs(5),
        settle: Duration::from_millis(200),
        hold: Duration::from_secs(1),
        ping: Some(Duration::from_millis(300)),
    };
    let json = json_line(&idle::run(&server.context(), &opts).expect("idle runs"));
    assert_eq!(json["scenario"], "idle");
    assert_eq!(json["joined"], 100, "{json}");
    assert_eq!(json["closed_during_hold"], 0, "{json}");
    for key in ["rss_after_bytes", "rss_total_per_connection_bytes", "server_cpu_percent"] {
        assert!(number(&json, key) >= 0.0, "{key} in {json}");
    }
    assert!(json["rss_per_connection_bytes"].is_u64(), "{json}");
}

#[test]
fn soak_smoke() {
    // Short server timeouts, so the idle check sees rooms and connections return to 0
    // within seconds: abandoned seats expire after 2 s, empty rooms after 1 s.
    let mut config = Config::default();
    config.server.reconnection_window = 2;
    config.server.empty_room_timeout = 1;
    let server = TestServer::with_config(config);
    let opts = SoakOptions {
        clients: 20,
        spectators: 4,
        room_size: 4,
        hz: 20.0,
        duration: Duration::from_secs(4),
        warmup: Duration::from_secs(1),
        sample: Duration::from_millis(500),
        game: Duration::from_millis(1500),
        max_away: Duration::from_millis(600),
        idle_wait: Duration::from_secs(20),
        app_id: None,
    };
    let json = json_line(&soak::run(&server.context(), &opts).expect("soak runs"));
    assert_eq!(json["scenario"], "soak");
    assert_eq!(json["players"], 16, "{json}");
    // Every message to a room-mate or spectator arrived exactly once, in order,
    // replays after reconnects included; nothing unexpected happened.
    assert_eq!(json["lost"], 0, "{json}");
    assert_eq!(json["duplicated"], 0, "{json}");
    assert_eq!(json["reordered"], 0, "{json}");
    assert_eq!(json["events"], serde_json::json!({}), "{json}");
    let count = |key: &str| json["counts"][key].as_u64().unwrap_or(0);
    for key in [
        "games_started",
        "game_data_sent",
        "deliveries",
        "players_dropped",
        "reconnected",
        "deliveries_replayed",
        "malformed_sent",
        "spectators_joined",
        "players_left",
        "start_game_sent",
    ] {
        assert!(count(key) > 0, "{key} in {json}");
    }
    assert_eq!(count("reconnected"), count("players_dropped"), "{json}");
    assert_eq!(count("malformed_answered"), count("malformed_sent"), "{json}");
    // Figures: the server was sampled during the churn, with RSS, fds and latency.
    let windows = json["windows"].as_array().expect("windows");
    assert!(windows.iter().any(|w| w["phase"] == "churn" && w["rooms"].as_u64() > Some(0)), "{json}");
    assert!(windows.iter().all(|w| w["rss_bytes"].is_u64() && w["fds"].is_u64()), "{json}");
    assert!(json["window_p99_us_max"].as_u64().is_some(), "{json}");
    assert!(json["rss"]["growth_per_hour_fit"].is_number(), "{json}");
    assert!(json["fds"]["end"].is_u64(), "{json}");
    // The idle check: everything the churn made is gone.
    assert_eq!(json["idle"]["returned"], true, "{json}");
    assert_eq!(json["idle"]["rooms"], 0, "{json}");
    assert_eq!(json["idle"]["connections"], 0, "{json}");
}

#[test]
fn mesh_smoke() {
    let mut config = Config::default();
    config.mesh.enabled = true;
    let server = TestServer::with_config(config);
    // 22 peers in rooms of 4: five full rooms and one of two.
    let opts = MeshOptions {
        peers: 22,
        room_size: 4,
        hz: 40.0,
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(1),
        drain: Duration::from_secs(5),
        join_in_flight: 6,
        join_timeout: Duration::from_secs(5),
        settle: Duration::from_millis(200),
    };
    let json = json_line(&mesh::run(&server.mesh_context(), &opts).expect("mesh runs"));
    assert_eq!(json["scenario"], "mesh");
    assert_eq!(json["joined"], 22, "{json}");
    assert_eq!(json["join_failed"], 0, "{json}");
    assert_eq!(json["join_events"], serde_json::json!({}), "{json}");
    // Every room heard of every peer: one NewPeer per pair (5 rooms × 6 + 1).
    assert_eq!(json["rooms_expected"], 6, "{json}");
    assert_eq!(json["rooms_announced"], 6, "{json}");
    assert_eq!(json["new_peer_messages"], 31, "{json}");
    assert_eq!(json["connect_to_id_assigned"]["count"], 22, "{json}");
    assert_eq!(json["last_joiner_to_room_announced"]["count"], 6, "{json}");
    assert_eq!(json["clients_active"], 22, "{json}");
    // Every signal reached its receiver once, in order per sender.
    assert_clean_deliveries(&json);
    for key in
        ["signals_relayed", "signals_per_sec", "signals_per_server_cpu_sec", "server_cpu_us_per_signal"]
    {
        assert!(number(&json, key) > 0.0, "{key} in {json}");
    }
    assert_eq!(json["signals_relayed"], json["deliveries"], "{json}");
    assert!(json["rss_after_bytes"].is_u64(), "{json}");
    assert!(json["rss_per_peer_bytes"].is_u64(), "{json}");
}
