//! Engine checkpoints (`Engine::checkpoint`, `Engine::restore`): an engine restored from
//! a checkpoint taken at any step continues exactly as the original, through rmp-serde
//! and serde_json alike; a damaged checkpoint or one of another format is refused with
//! the problem named.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{json, Value};
use signal_fish_core::http::HttpRequest;
use signal_fish_core::testkit::{ops_from_bytes, Op, OpRunner};
use signal_fish_core::{
    CloseCause, Config, ConnId, Endpoint, Engine, EngineCheckpoint, Event, Instant, RestoreError,
    CHECKPOINT_FORMAT,
};
use support::UNIX_MS;

/// Small enough for replay buffers, liveness, reservations and room expiry to bite
/// within a workload (as in `properties.rs`).
fn tight_config(reconnection: bool) -> Config {
    let mut config = Config::default();
    config.server.event_buffer_size = 4;
    config.server.ping_timeout = 60;
    config.server.reconnection_window = 120;
    config.server.empty_room_timeout = 100;
    config.server.enable_reconnection = reconnection;
    config
}

fn to_rmp(checkpoint: &EngineCheckpoint) -> Vec<u8> {
    rmp_serde::to_vec(checkpoint).expect("a checkpoint serialises")
}

/// Runs `ops` on engine A; after `k` of them takes a checkpoint, sends it through
/// rmp-serde bytes and restores engine B on a copy of A's host and clients. Every
/// remaining op, then a `/metrics` request, must give both the same actions, and both
/// must end in the same state.
fn continue_from_checkpoint(
    config: Config,
    seed: [u8; 32],
    ops: &[Op],
    k: usize,
) -> Result<(), TestCaseError> {
    let mut a = OpRunner::new(Engine::new(config, seed, Instant::ZERO, UNIX_MS), Instant::ZERO);
    for op in &ops[..k] {
        a.apply(op);
    }
    let bytes = to_rmp(&a.host().engine().checkpoint());
    let decoded: EngineCheckpoint = rmp_serde::from_slice(&bytes).expect("a checkpoint deserialises");
    let restored = Engine::restore(decoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut b = a.fork(restored);

    // `kind: 1` is `GET /metrics`: the JSON document, counters and dashboard included.
    let metrics = Op::Http { kind: 1, host: 77 };
    for (i, op) in ops[k..].iter().chain([&metrics]).enumerate() {
        let expected = a.apply(op);
        let actual = b.apply(op);
        prop_assert_eq!(expected, actual, "op {} ({:?}) after a checkpoint at op {}", k + i, op, k);
    }
    prop_assert_eq!(a.check(), Ok(()));
    prop_assert_eq!(b.check(), Ok(()));
    let (end_a, end_b) = (to_rmp(&a.host().engine().checkpoint()), to_rmp(&b.host().engine().checkpoint()));
    prop_assert!(end_a == end_b, "the engines end in different states");
    Ok(())
}

#[test]
fn a_restored_engine_continues_exactly_as_the_original() {
    let mut runner = TestRunner::new(RunnerConfig { cases: 64, ..RunnerConfig::default() });
    let strategy =
        (proptest::collection::vec(any::<u8>(), 0..3000), any::<[u8; 32]>(), any::<usize>(), any::<bool>());
    runner
        .run(&strategy, |(bytes, seed, at, reconnection)| {
            let ops = ops_from_bytes(&bytes, 120);
            let k = at % (ops.len() + 1);
            continue_from_checkpoint(tight_config(reconnection), seed, &ops, k)
        })
        .unwrap();
}

#[test]
fn a_checkpoint_after_the_last_op_continues_with_metrics() {
    // The metrics request alone after the checkpoint: the rendered counters, gauges and
    // dashboard history must all have come through.
    let ops = [
        Op::Connect { ip: 0, opt_in: true, v3: true },
        Op::Connect { ip: 1, opt_in: false, v3: false },
        Op::JoinFixed { who: 0, code: 0, game: 0 },
        Op::JoinFixed { who: 1, code: 0, game: 0 },
        Op::GameData { who: 1 },
        Op::Advance { ms: 12_000 },
    ];
    continue_from_checkpoint(tight_config(true), [3; 32], &ops, ops.len()).unwrap();
}

// ----- serde_json, and what the proptest's workloads never reach (mesh peers) -----

fn opened(conn: u64, target: &str, ip: &str, endpoint: Endpoint) -> Event {
    Event::Opened { conn: ConnId(conn), peer_ip: ip.parse().unwrap(), target: target.to_owned(), endpoint }
}

fn text(conn: u64, value: Value) -> Event {
    Event::Text { conn: ConnId(conn), text: value.to_string() }
}

fn get(id: u64, target: &str) -> Event {
    Event::Http(HttpRequest::get(id, target))
}

fn join(conn: u64, name: &str) -> Event {
    text(
        conn,
        json!({"type":"JoinRoom","data":{"game_name":"g","room_code":"ROOM01","player_name":name,"max_players":4}}),
    )
}

/// Events at milliseconds: players (one away with a replay buffer), connection info,
/// a spectator, mesh peers in a sealed `next` group and an open room, metrics.
fn busy_events() -> Vec<(u64, Event)> {
    vec![
        (0, opened(1, "/v2/ws?reconnection_token=true", "10.0.0.1", Endpoint::V2)),
        (1, join(1, "A")),
        (2, opened(2, "/v3/ws", "10.0.0.2", Endpoint::V2)),
        (3, join(2, "B")),
        (
            4,
            text(
                2,
                json!({"type":"ProvideConnectionInfo","data":{"connection_info":
                    {"type":"relay","host":"relay.example","port":4000,"allocation_id":"a1","token":"t1"}}}),
            ),
        ),
        (5, opened(3, "/v2/ws", "10.0.0.3", Endpoint::V2)),
        (
            6,
            text(
                3,
                json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":"ROOM01","spectator_name":"S"}}),
            ),
        ),
        (7, Event::Closed { conn: ConnId(1), cause: CloseCause::TransportError }),
        (8, text(2, json!({"type":"GameData","data":{"n":1.5,"s":"x"}}))),
        (9, opened(4, "/lobby?next=2", "10.0.0.4", Endpoint::Mesh)),
        (10, opened(5, "/lobby?next=2", "10.0.0.4", Endpoint::Mesh)),
        (11, opened(6, "/open", "10.0.0.5", Endpoint::Mesh)),
        (6_000, get(1, "/metrics")),
    ]
}

/// What follows the checkpoint: departures, a new player (a fresh id from the
/// generator), timers firing (dashboard, liveness, reservation, expiry), metrics.
fn later_events() -> Vec<(u64, Event)> {
    vec![
        (6_001, Event::Closed { conn: ConnId(4), cause: CloseCause::ClientClosed }),
        (6_002, opened(7, "/v2/ws", "10.0.0.7", Endpoint::V2)),
        (6_003, join(7, "C")),
        (6_004, text(7, json!({"type":"GameData","data":{"n":2}}))),
        (12_000, Event::Tick),
        (90_000, Event::Tick),
        (200_000, Event::Tick),
        (200_001, get(2, "/metrics")),
        (200_002, get(3, "/metrics/prom")),
    ]
}

fn mesh_config() -> Config {
    let mut config = tight_config(true);
    config.mesh.enabled = true;
    config
}

fn busy_engine() -> Engine {
    let mut engine = Engine::new(mesh_config(), [9; 32], Instant::ZERO, UNIX_MS);
    for (ms, event) in busy_events() {
        engine.step(event, Instant::from_micros(ms * 1000));
    }
    engine.check_invariants().unwrap();
    assert_eq!(engine.connection_count(), 5, "A dropped, B, S and three mesh peers");
    engine
}

#[test]
fn a_checkpoint_round_trips_through_json_and_rmp() {
    let mut original = busy_engine();
    let checkpoint = original.checkpoint();
    let json = serde_json::to_string(&checkpoint).expect("a checkpoint serialises to JSON");
    let from_json: EngineCheckpoint = serde_json::from_str(&json).expect("and back");
    let named = rmp_serde::to_vec_named(&checkpoint).expect("a checkpoint serialises with field names");
    let from_named: EngineCheckpoint = rmp_serde::from_slice(&named).expect("and back");
    assert_eq!(to_rmp(&from_json), to_rmp(&checkpoint), "JSON loses nothing");
    assert_eq!(to_rmp(&from_named), to_rmp(&checkpoint), "named MessagePack loses nothing");
    assert_eq!(from_json.format(), CHECKPOINT_FORMAT);
    assert_eq!(from_json.now(), Instant::from_micros(6_000_000));

    let mut restored = Engine::restore(from_json).expect("restores");
    assert_eq!(restored.poll_timeout(), original.poll_timeout());
    for (ms, event) in later_events() {
        let now = Instant::from_micros(ms * 1000);
        let expected = original.step(event.clone(), now);
        let actual = restored.step(event, now);
        assert_eq!(expected, actual, "at {ms} ms");
        restored.check_invariants().unwrap();
    }
    assert_eq!(to_rmp(&original.checkpoint()), to_rmp(&restored.checkpoint()));
}

// ----- refusals -----

fn as_json(engine: &Engine) -> Value {
    serde_json::to_value(engine.checkpoint()).unwrap()
}

fn restore_json(value: Value) -> Result<(), RestoreError> {
    let checkpoint: EngineCheckpoint = serde_json::from_value(value).expect("still a well-formed checkpoint");
    Engine::restore(checkpoint).map(|_| ())
}

#[test]
fn another_format_version_is_refused() {
    let mut value = as_json(&busy_engine());
    value["format"] = json!(CHECKPOINT_FORMAT + 1);
    let error = restore_json(value).unwrap_err();
    assert_eq!(error, RestoreError::Format { found: CHECKPOINT_FORMAT + 1, supported: CHECKPOINT_FORMAT });
    assert!(error.to_string().contains("format 2 is not supported"), "{error}");
}

#[test]
fn an_invalid_configuration_is_refused() {
    let mut value = as_json(&busy_engine());
    value["engine"]["config"]["server"]["ping_timeout"] = json!(0);
    let error = restore_json(value).unwrap_err();
    assert!(
        matches!(&error, RestoreError::Config(errors) if errors.0[0].key == "server.ping_timeout"),
        "{error}"
    );
    assert!(error.to_string().contains("server.ping_timeout = 0 is invalid"), "{error}");
}

#[test]
fn a_seat_index_entry_for_a_missing_room_is_refused() {
    let mut value = as_json(&busy_engine());
    let index = value["engine"]["seat_index"].as_object_mut().expect("the seat index is a map of player ids");
    let player = index.keys().next().expect("a seated player").clone();
    index.insert(player.clone(), json!(999));
    let error = restore_json(value).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("engine checkpoint is inconsistent: seat index wrong for {player}")
    );
}

#[test]
fn other_inconsistencies_are_refused() {
    let engine = busy_engine();
    // A timer that should have fired before the checkpoint's instant.
    let mut value = as_json(&engine);
    value["engine"]["clock"]["now"] = json!(500_000_000u64);
    let error = restore_json(value).unwrap_err();
    assert!(error.to_string().contains("has not fired"), "{error}");
    // A room key the next room would reuse.
    let mut value = as_json(&engine);
    value["engine"]["directory"]["next_key"] = json!(1);
    let error = restore_json(value).unwrap_err();
    assert!(error.to_string().contains("room key at or above the next key"), "{error}");
    // A connection authenticated as an app the configuration does not have.
    let mut value = as_json(&engine);
    value["engine"]["conns"]["2"]["app"] = json!(99);
    let error = restore_json(value).unwrap_err();
    assert_eq!(error.to_string(), "engine checkpoint is inconsistent: c2 authenticated as an unknown app");
    // A replay buffer claiming more handed-back frames than it holds.
    let value = as_json(&engine);
    let text = value.to_string();
    assert!(text.contains("\"handed_back\":0"), "an away seat with a replay buffer");
    let value: Value =
        serde_json::from_str(&text.replacen("\"handed_back\":0", "\"handed_back\":7", 1)).unwrap();
    let error = restore_json(value).unwrap_err();
    assert!(error.to_string().contains("replay buffer"), "{error}");
}

#[test]
fn damaged_bytes_are_an_error_not_a_panic() {
    let bytes = to_rmp(&busy_engine().checkpoint());
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(rmp_serde::from_slice::<EngineCheckpoint>(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}
