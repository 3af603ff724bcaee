//! Every timer: liveness, room expiry (empty and inactive), wake-up announcements
//! (DECISIONS D11, D17). Auth and reconnection deadlines are in auth.rs and reconnect.rs.

mod support;

use serde_json::json;
use signal_fish_core::{close_code, Action, Config, Event, Instant};
use support::*;

#[test]
fn silent_connections_are_closed_at_ping_timeout() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.advance(secs(20));
    h.send(b, r#"{"type":"GameData","data":{"data":1}}"#); // any frame counts (D17)
    let out = h.advance(secs(10));
    assert_eq!(out.close_code(a), Some(close_code::GOING_AWAY));
    assert_eq!(out.close_code(b), None);
    assert_eq!(out.to(b)[0]["type"], "PlayerLeft");
    let out = h.advance(secs(20));
    assert_eq!(out.close_code(b), Some(close_code::GOING_AWAY));
    assert_eq!(h.engine().connection_count(), 0);
    assert_eq!(h.engine().counters().cleanup_expired_players_total, 2);
}

#[test]
fn websocket_pong_frames_keep_a_connection_alive() {
    let mut h = Harness::new();
    let a = h.connect();
    for _ in 0..5 {
        h.advance(secs(25));
        h.step(Event::PongFrame { conn: a });
    }
    assert_eq!(h.engine().connection_count(), 1);
}

fn patient() -> Config {
    let mut config = Config::default();
    config.server.ping_timeout = 100_000;
    config
}

#[test]
fn empty_rooms_expire_after_their_last_activity() {
    let mut h = Harness::with_config(patient());
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.advance(secs(1000));
    h.send(a, r#"{"type":"LeaveRoom"}"#);
    h.advance(secs(299));
    assert_eq!(h.engine().room_count(), 1, "an empty room lingers for empty_room_timeout");
    // Joining by code within the window reuses the room.
    h.join(b, "g", &code, "Bob");
    h.send(b, r#"{"type":"LeaveRoom"}"#);
    h.advance(secs(299));
    assert_eq!(h.engine().room_count(), 1);
    h.advance(secs(1));
    assert_eq!(h.engine().room_count(), 0);
    assert_eq!(h.engine().counters().cleanup_empty_rooms_total, 1);
}

#[test]
fn inactive_rooms_are_removed_and_members_told() {
    let mut h = Harness::with_config(patient());
    let (a, b, s) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    h.advance(secs(3000));
    h.send(a, r#"{"type":"GameData","data":{"data":1}}"#); // activity (D11)
    h.advance(secs(3599));
    assert_eq!(h.engine().room_count(), 1);
    let out = h.advance(secs(1));
    assert_eq!(h.engine().room_count(), 0);
    assert_eq!(out.texts(a), [r#"{"type":"RoomLeft"}"#]);
    assert_eq!(out.texts(b), [r#"{"type":"RoomLeft"}"#]);
    let room_closed = out.only(s);
    assert_eq!(room_closed["type"], "SpectatorLeft");
    assert_eq!(room_closed["data"]["reason"], "room_closed");
    assert_eq!(room_closed["data"]["room_code"], code.as_str());
    assert_eq!(h.engine().counters().cleanup_inactive_rooms_total, 1);
    // Members are unbound and may join again; the old code now makes a fresh room.
    let joined = h
        .send_json(
            a,
            json!({"type":"JoinRoom","data":{"game_name":"g","room_code":code,"player_name":"Alice"}}),
        )
        .only(a);
    assert_eq!(joined["data"]["current_players"].as_array().unwrap().len(), 1);
}

#[test]
fn poll_timeout_is_the_earliest_deadline_after_every_step() {
    let mut config = Config::default();
    config.metrics.dashboard_cache_refresh_interval_secs = 1000;
    let mut engine = signal_fish_core::Engine::new(config, [1; 32], Instant::ZERO, UNIX_MS);
    let open = |conn| Event::Opened {
        conn: signal_fish_core::ConnId(conn),
        peer_ip: "127.0.0.1".parse().unwrap(),
        target: "/v2/ws".into(),
        endpoint: signal_fish_core::Endpoint::V2,
    };
    // The dashboard sample at 1000 s is the only deadline at first, from birth.
    assert_eq!(engine.poll_timeout(), Some(Instant::from_micros(1_000_000_000)));
    // A connection brings the liveness deadline (30 s) forward.
    assert!(engine.step(open(1), Instant::ZERO).is_empty());
    assert_eq!(engine.poll_timeout(), Some(Instant::from_micros(30_000_000)));
    // A later connection does not change the earliest deadline.
    engine.step(open(2), Instant::from_micros(5_000_000));
    assert_eq!(engine.poll_timeout(), Some(Instant::from_micros(30_000_000)));
    // Spurious ticks are no-ops.
    assert!(engine.step(Event::Tick, Instant::from_micros(6_000_000)).is_empty());
    assert_eq!(engine.poll_timeout(), Some(Instant::from_micros(30_000_000)));
    // A tick at the deadline fires it; the next deadline is in the future.
    let out = engine.step(Event::Tick, Instant::from_micros(30_000_000));
    assert!(out.iter().any(|a| matches!(a, Action::Close { code: 1001, .. })), "{out:?}");
    assert_eq!(engine.poll_timeout(), Some(Instant::from_micros(35_000_000)), "the second connection");
}
