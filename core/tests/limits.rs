//! Connection caps, per-IP room-operation rate limits, slow consumers, shutdown
//! (BEHAVIOUR §1, §14; DECISIONS D18, D19, D23).

mod support;

use serde_json::json;
use signal_fish_core::{close_code, Config, Event};
use support::*;

#[test]
fn per_ip_connection_cap() {
    let mut config = Config::default();
    config.security.max_connections_per_ip = 2;
    let mut h = Harness::with_config(config);
    let a = h.connect();
    h.connect();
    let (c, out) = h.open("/v2/ws", "127.0.0.1");
    assert_eq!(
        error_of(&out.only(c)),
        ("Too many connections from your IP (2/2)".into(), "TOO_MANY_CONNECTIONS".into())
    );
    assert_eq!(out.close_code(c), Some(close_code::POLICY));
    // Other IPs are unaffected; a freed slot can be reused.
    h.connect_to("/v2/ws", "127.0.0.2");
    h.drop_conn(a);
    h.connect();
    assert_eq!(h.engine().counters().connections_rejected_total, 1);
    assert_eq!(h.engine().counters().connections_total, 4);
}

#[test]
fn zero_per_ip_cap_rejects_everyone_and_global_cap_asks_to_retry() {
    let mut config = Config::default();
    config.security.max_connections_per_ip = 0;
    let mut h = Harness::with_config(config);
    let (c, out) = h.open("/v2/ws", "10.0.0.1");
    assert_eq!(error_of(&out.only(c)).0, "Too many connections from your IP (0/0)");

    let mut config = Config::default();
    config.server.max_connections = 1;
    let mut h = Harness::with_config(config);
    h.connect();
    let (c, out) = h.open("/v2/ws", "10.0.0.2");
    assert_eq!(
        error_of(&out.only(c)),
        ("Server is at capacity (1/1 connections)".into(), "TOO_MANY_CONNECTIONS".into())
    );
    assert_eq!(out.close_code(c), Some(close_code::TRY_AGAIN_LATER));
}

#[test]
fn room_creation_and_join_rate_limits_are_per_ip() {
    let mut config = Config::default();
    config.rate_limit.max_room_creations = 2;
    config.rate_limit.max_join_attempts = 3;
    config.server.ping_timeout = 1000;
    let mut h = Harness::with_config(config);
    let conns: Vec<_> = (0..5).map(|_| h.connect()).collect();
    h.create(conns[0], "g", "A", 8);
    h.advance(secs(10));
    let (code, _) = h.create(conns[1], "g", "B", 8);
    let reply =
        h.send(conns[2], r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"C"}}"#).only(conns[2]);
    assert_eq!(
        join_failure(&reply),
        ("Room creation rate limit exceeded. Try again in 50 seconds.".into(), "RATE_LIMIT_EXCEEDED".into())
    );
    // Creations count as join attempts too: one join left of three.
    h.join(conns[2], "g", &code, "C");
    let reply = h
        .send_json(
            conns[3],
            json!({"type":"JoinRoom","data":{"game_name":"g","room_code":code,"player_name":"D"}}),
        )
        .only(conns[3]);
    assert_eq!(join_failure(&reply).0, "Join attempt rate limit exceeded. Try again in 50 seconds.");
    // Another IP has its own budget.
    let other = h.connect_to("/v2/ws", "127.0.0.9");
    h.join(other, "g", &code, "E");
    // The window restarts after time_window.
    h.advance(secs(50));
    h.join(conns[3], "g", &code, "D");
    assert_eq!(h.engine().counters().rate_limit_rejections_total, 2);
    assert_eq!(h.engine().counters().rate_limit_resets_total, 1);
}

#[test]
fn slow_consumers_are_closed_and_counted() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.join(b, "g", &code, "Bob");
    let out = h.step(Event::Backlogged { conn: b, unsent: Vec::new() });
    assert_eq!(out.close_code(b), Some(close_code::POLICY));
    assert_eq!(out.to(a)[0]["type"], "PlayerLeft");
    assert_eq!(h.engine().counters().slow_consumers_closed_total, 1);
}

#[test]
fn shutdown_closes_everyone_with_1001_and_refuses_new_connections() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let out = h.step(Event::Shutdown);
    assert_eq!(out.close_code(a), Some(close_code::GOING_AWAY));
    assert_eq!(out.close_code(b), Some(close_code::GOING_AWAY));
    assert_eq!(h.engine().connection_count(), 0);
    let (c, out) = h.open("/v2/ws", "127.0.0.1");
    assert_eq!(out.close_code(c), Some(close_code::GOING_AWAY));
}
