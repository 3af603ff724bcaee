//! Hostile-input report: the server binary's resident memory and a legitimate client's
//! round-trip latency, quiet versus while 1,000 abusive connections run (half-open,
//! slow-loris, garbage, protocol violators, flooders, non-readers).
//!
//! `cargo bench -p signal-fish-server --bench abuse_report` (release build). It prints
//! figures and asserts nothing about them; it fails only if the legitimate clients stop
//! working. `ABUSE_SECS` sets how long each phase measures (default 15 s; round trips
//! go one after another, so their number follows from their latency). The abusive
//! clients run on the same machine as the server and compete with it for CPU.
//!
//! Then two targeted abusers, each measured on its own against a quiet baseline:
//! spectator churn into the legitimate players' room, and a flood of `/metrics`
//! requests against a server holding 10,000 rooms (`ABUSE_TARGETED_ONLY=1` runs only
//! these two).

#[path = "../../tests/support/mod.rs"]
mod support;

mod abusers;
mod targeted;

use std::time::{Duration, Instant};

use abusers::{Abuse, Mix};
use serde_json::Value;
use signal_fish_bench::latency::Latency;
use signal_fish_bench::procfs::{cpu_secs, machine_busy_ns, ServerProcess};
use support::child::{ChildServer, RssPeak};
use support::{fresh_ip, http, prom_metric, Client};
use targeted::Targeted;

const MIX: Mix =
    Mix { half_open: 250, slowloris: 150, garbage: 100, violators: 50, flooders: 50, non_readers: 400 };

/// Two legitimate players in one room.
struct Legit {
    alice: Client,
    bob: Client,
    /// The room's code.
    code: String,
    /// Spectator announcements the two received (skipped while measuring).
    announcements: u64,
}

/// The next message of type `kind` for `client`, skipping (and counting) the spectator
/// announcements a churning spectator causes.
fn next_of(client: &mut Client, kind: &str, announcements: &mut u64) -> Value {
    loop {
        let message = client.recv();
        match message["type"].as_str() {
            Some("NewSpectatorJoined" | "SpectatorDisconnected") => *announcements += 1,
            _ => {
                assert_eq!(message["type"], kind, "unexpected message: {message}");
                return message.get("data").cloned().unwrap_or(Value::Null);
            }
        }
    }
}

/// Round-trip times of one phase.
#[derive(Default)]
struct Phase {
    ping: Latency,
    relay: Latency,
    /// A new client: TCP connect, WebSocket upgrade, first Ping→Pong.
    connect: Latency,
}

impl Legit {
    fn join(server: &ChildServer) -> Legit {
        let mut alice = Client::connect_from(server.addr, "/v2/ws", Some(&fresh_ip()));
        let mut bob = Client::connect_from(server.addr, "/v2/ws", Some(&fresh_ip()));
        let code = alice.join("legit", "Alice", None)["room_code"].as_str().unwrap().to_owned();
        bob.join("legit", "Bob", Some(&code));
        alice.expect("PlayerJoined");
        Legit { alice, bob, code, announcements: 0 }
    }

    /// Ping→Pong round trips by Alice, each followed by a game-data round trip through
    /// the server (Alice → Bob → Alice), for `duration` (at least one of each).
    fn measure(&mut self, duration: Duration) -> Phase {
        let addr = self.alice.ws.get_ref().peer_addr().unwrap();
        let Legit { alice, bob, announcements, .. } = self;
        let mut phase = Phase::default();
        let us = |started: Instant| started.elapsed().as_micros() as u64;
        let begun = Instant::now();
        // Bounded by the count too, in case the clock misbehaves.
        for i in 0..10_000_000u64 {
            if i > 0 && begun.elapsed() >= duration {
                break;
            }
            let started = Instant::now();
            alice.send_json(r#"{"type":"Ping"}"#);
            next_of(alice, "Pong", announcements);
            phase.ping.record(us(started));
            let started = Instant::now();
            alice.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{i}}}}}"#));
            assert_eq!(next_of(bob, "GameData", announcements)["data"], i);
            bob.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{i}}}}}"#));
            assert_eq!(next_of(alice, "GameData", announcements)["data"], i);
            phase.relay.record(us(started));
            if i % 20 == 0 {
                let started = Instant::now();
                let mut newcomer = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
                newcomer.send_json(r#"{"type":"Ping"}"#);
                newcomer.expect("Pong");
                phase.connect.record(us(started));
            }
        }
        phase
    }
}

/// What one abusive round looked like from the outside.
struct Round {
    phase: Phase,
    ramp: Duration,
    duration: Duration,
    active: u64,
    active_at_end: u64,
    rss_during: u64,
    rss_peak: u64,
    rss_after: u64,
    server_cpu: f64,
    machine_cpu: f64,
    slow_closed: u64,
    /// Engine steps slower than 5 ms, 25 ms and 100 ms during the round.
    slow_steps: [u64; 3],
    tallies: Vec<(&'static str, abusers::Tally)>,
}

/// Engine steps so far slower than 5 ms, 25 ms and 100 ms (from one scrape of the
/// step-latency histogram).
fn slow_steps(server: &ChildServer) -> [u64; 3] {
    let body = http(server.addr, "GET", "/metrics/prom", &[]).body;
    let value = |series: &str| {
        let line = body.lines().find(|l| l.starts_with(&format!("{series} "))).expect(series);
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    let name = "signal_fish_step_latency_seconds";
    let total = value(&format!("{name}_count"));
    ["0.005", "0.025", "0.1"].map(|le| total - value(&format!("{name}_bucket{{le=\"{le}\"}}")))
}

fn abusive_round(server: &ChildServer, legit: &mut Legit, measuring: Duration) -> Round {
    let process: ServerProcess = server.process();
    let peak = RssPeak::watch(server.process());
    let slow_before = prom_metric(server.addr, "signal_fish_slow_consumers_closed_total");
    let steps_before = slow_steps(server);
    let started = Instant::now();
    let (cpu_before, busy_before) = (process.cpu_ns().unwrap(), machine_busy_ns().unwrap_or(0));
    let abuse = Abuse::start(server.addr, MIX);
    // Wait until every abuser is in.
    while !abuse.wait_ready(Duration::from_millis(500)) {
        assert!(started.elapsed() < Duration::from_secs(60), "the abusers could not connect");
        // Stay alive (server.ping_timeout) however long the ramp takes.
        legit.measure(Duration::ZERO);
    }
    let ramp = started.elapsed();
    let active = prom_metric(server.addr, "signal_fish_connections_active");
    let rss_during = server.rss();
    let phase = legit.measure(measuring);
    let active_at_end = prom_metric(server.addr, "signal_fish_connections_active");
    let slow_closed = prom_metric(server.addr, "signal_fish_slow_consumers_closed_total") - slow_before;
    let steps_after = slow_steps(server);
    let slow_steps = [0, 1, 2].map(|i| steps_after[i] - steps_before[i]);
    let tallies = abuse.stop();
    let duration = started.elapsed();
    let server_cpu = cpu_secs(cpu_before, process.cpu_ns().unwrap()) / duration.as_secs_f64();
    let machine_cpu = cpu_secs(busy_before, machine_busy_ns().unwrap_or(0)) / duration.as_secs_f64();
    let rss_peak = peak.stop();
    // Connections the abusers dropped are cleaned up within the close and linger times.
    std::thread::sleep(Duration::from_secs(3));
    legit.measure(Duration::ZERO);
    let rss_after = server.rss();
    Round {
        phase,
        ramp,
        duration,
        active,
        active_at_end,
        rss_during,
        rss_peak,
        rss_after,
        server_cpu,
        machine_cpu,
        slow_closed,
        slow_steps,
        tallies,
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn print_round(name: &str, round: &Round) {
    println!(
        "{name}: {:.1?} (ramp-up {:.1?}); WebSocket connections active: {} when measuring started, \
         {} at its end; {} slow consumers closed (1008)",
        round.duration, round.ramp, round.active, round.active_at_end, round.slow_closed
    );
    println!(
        "  CPU: server {:.0}% of one core, whole machine {:.0}% of one core (2 cores = 200%)",
        round.server_cpu * 100.0,
        round.machine_cpu * 100.0
    );
    let [over_5, over_25, over_100] = round.slow_steps;
    println!("  engine steps slower than 5 ms: {over_5}, 25 ms: {over_25}, 100 ms: {over_100}");
    for (name, tally) in &round.tallies {
        println!("  {name:<12} opened {:>5} connections, wrote {}", tally.opened, mib(tally.bytes as u64));
    }
    println!("  Ping→Pong         {}", round.phase.ping.percentiles().human());
    println!("  game data A→B→A   {}", round.phase.relay.percentiles().human());
    println!("  new client        {}", round.phase.connect.percentiles().human());
    println!(
        "  server RSS: {} while measuring, peak {}, {} three seconds after the abuse stopped",
        mib(round.rss_during),
        mib(round.rss_peak),
        mib(round.rss_after)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs: u64 = std::env::var("ABUSE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let measuring = Duration::from_secs(secs);
    // `ABUSE_TARGETED_ONLY=1`: only the spectator-churn and metrics-flood measurements.
    if std::env::var("ABUSE_TARGETED_ONLY").is_ok_and(|v| v == "1") {
        spectator_churn_report(measuring);
        println!();
        metrics_flood_report(measuring);
        println!();
        unfinished_messages_report();
        return;
    }
    let server = ChildServer::start("abuse-report", &[]);
    let mut legit = Legit::join(&server);
    legit.measure(Duration::from_secs(1)); // warm-up
    let quiet_rss = server.rss();
    let quiet = legit.measure(measuring);
    let first = abusive_round(&server, &mut legit, measuring);
    // A second round shows whether memory keeps growing from round to round.
    let second = abusive_round(&server, &mut legit, measuring);

    println!("Signal Fish hostile-input report: server binary (pid {}), default config", server.pid());
    println!(
        "abusive connections per round: {} ({} half-open, {} slow-loris, {} garbage, {} protocol violators, \
         {} flooders, {} non-readers incl. talkers)",
        MIX.total(),
        MIX.half_open,
        MIX.slowloris,
        MIX.garbage,
        MIX.violators,
        MIX.flooders,
        MIX.non_readers
    );
    println!();
    println!("quiet ({secs} s of round trips):");
    println!("  Ping→Pong         {}", quiet.ping.percentiles().human());
    println!("  game data A→B→A   {}", quiet.relay.percentiles().human());
    println!("  new client        {}", quiet.connect.percentiles().human());
    println!("  server RSS: {}", mib(quiet_rss));
    for (i, round) in [first, second].iter().enumerate() {
        println!();
        print_round(&format!("abuse round {} ({secs} s of round trips)", i + 1), round);
    }
    drop(legit);
    drop(server);
    println!();
    spectator_churn_report(measuring);
    println!();
    metrics_flood_report(measuring);
    println!();
    unfinished_messages_report();
}

/// Server RSS while 10,000 connections (from 1,000 addresses) each announce a message of
/// the hard cap and send 16 KiB of it, then stall (DECISIONS D39): without a bound that
/// would be 2.5 GiB announced, 160 MiB sent.
fn unfinished_messages_report() {
    const CONNECTIONS: usize = 10_000;
    const SENT: usize = 16 * 1024;
    let server = ChildServer::start("abuse-unfinished", &[]);
    let budget = signal_fish_server::Config::default().websocket.unfinished_message_budget_bytes;
    let baseline = server.rss();
    let peak = RssPeak::watch(server.process());
    let mut clients = Vec::with_capacity(CONNECTIONS);
    let mut source = fresh_ip();
    for i in 0..CONNECTIONS {
        if i % 10 == 0 {
            source = fresh_ip();
        }
        let mut client = Client::connect_from(server.addr, "/v2/ws", Some(&source));
        let cap = signal_fish_server::Config::default().hard_message_cap();
        let mut bytes = support::frames::header(true, support::frames::BINARY, cap as u64, true);
        bytes.extend(std::iter::repeat_n(7u8, SENT));
        use std::io::Write as _;
        client.ws.get_mut().write_all(&bytes).expect("write");
        clients.push(client);
    }
    std::thread::sleep(Duration::from_secs(2));
    let held = prom_metric(server.addr, "signal_fish_unfinished_message_bytes");
    let evicted = prom_metric(server.addr, "signal_fish_unfinished_evictions_total");
    let rss_with = server.rss();
    drop(clients);
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = server.rss();
    let rss_peak = peak.stop();
    println!(
        "unfinished messages: {CONNECTIONS} connections from {} addresses, each announcing {} KiB and sending {} KiB, then stalling",
        CONNECTIONS / 10,
        signal_fish_server::Config::default().hard_message_cap() / 1024,
        SENT / 1024
    );
    println!(
        "  budget {}, held {} by {} connections still counted, {evicted} closed with 1013",
        mib(budget as u64),
        mib(held),
        CONNECTIONS as u64 - evicted
    );
    println!(
        "  server RSS: {} before, {} with them (peak {}), {} three seconds after they went",
        mib(baseline),
        mib(rss_with),
        mib(rss_peak),
        mib(rss_after)
    );
}

/// Bystander latency quiet versus while 20 connections churn spectator joins into the
/// bystanders' room, 10 attempts per second each (DECISIONS D35).
fn spectator_churn_report(measuring: Duration) {
    const CHURNERS: usize = 20;
    const PER_SECOND: u32 = 10;
    let server = ChildServer::start("abuse-spectators", &[]);
    let mut legit = Legit::join(&server);
    legit.measure(Duration::from_secs(1));
    let quiet = legit.measure(measuring);
    legit.announcements = 0;
    let churn = Targeted::spectator_churn(server.addr, "legit", &legit.code.clone(), CHURNERS, PER_SECOND);
    targeted::settle();
    let loaded = legit.measure(measuring);
    let (admitted, refused) = churn.stop();
    let slow_closed = prom_metric(server.addr, "signal_fish_slow_consumers_closed_total");
    println!(
        "spectator churn: {CHURNERS} connections from distinct addresses joining and leaving the players' room, \
         {PER_SECOND} attempts/s each"
    );
    println!("  spectator joins admitted {admitted}, refused {refused} (rate limits, D35)");
    println!(
        "  announcements the two players received: {}; slow consumers closed: {slow_closed}",
        legit.announcements
    );
    println!("  Ping→Pong quiet   {}", quiet.ping.percentiles().human());
    println!("  Ping→Pong churn   {}", loaded.ping.percentiles().human());
    println!("  game data quiet   {}", quiet.relay.percentiles().human());
    println!("  game data churn   {}", loaded.relay.percentiles().human());
}

/// Bystander latency quiet, then while 32 clients request `/v2/health` (the cheapest
/// answer, for reference), then `/metrics`, each at 8 requests per second (about 250/s in
/// all), on a server holding 10,000 rooms (DECISIONS D36).
fn metrics_flood_report(measuring: Duration) {
    const ROOMS: usize = 10_000;
    const FLOODERS: usize = 32;
    const PER_SECOND: u32 = 8;
    let server = ChildServer::start(
        "abuse-metrics",
        &[
            ("SIGNAL_FISH_RATE_LIMIT__MAX_ROOM_CREATIONS", "1000000"),
            ("SIGNAL_FISH_RATE_LIMIT__MAX_JOIN_ATTEMPTS", "1000000"),
            ("SIGNAL_FISH_SERVER__MAX_ROOMS_PER_GAME", "100000"),
            ("SIGNAL_FISH_SERVER__MAX_ROOMS", "100000"),
        ],
    );
    targeted::fill_rooms(server.addr, ROOMS);
    let rooms = prom_metric(server.addr, "signal_fish_rooms_active");
    let mut legit = Legit::join(&server);
    legit.measure(Duration::from_secs(1));
    let quiet = legit.measure(measuring);
    let mut under = Vec::new();
    for path in ["/v2/health", "/metrics"] {
        let flood = Targeted::http_flood(server.addr, path, FLOODERS, PER_SECOND);
        targeted::settle();
        let loaded = legit.measure(measuring);
        let (answered, throttled) = flood.stop();
        under.push((path, loaded, answered, throttled));
    }
    let per_second = |n: u64| n as f64 / (measuring.as_secs_f64() + 0.5);
    println!(
        "HTTP floods: {FLOODERS} clients at {PER_SECOND} requests/s each ({}/s in all); {rooms} rooms on the server",
        FLOODERS as u32 * PER_SECOND
    );
    println!("  Ping→Pong quiet          {}", quiet.ping.percentiles().human());
    for (path, loaded, answered, throttled) in &under {
        println!(
            "  Ping→Pong {path:<14} {}   ({:.0}/s answered 200, {:.0}/s 429)",
            loaded.ping.percentiles().human(),
            per_second(*answered),
            per_second(*throttled)
        );
    }
    println!("  game data quiet          {}", quiet.relay.percentiles().human());
    for (path, loaded, ..) in &under {
        println!("  game data {path:<14} {}", loaded.relay.percentiles().human());
    }
}
