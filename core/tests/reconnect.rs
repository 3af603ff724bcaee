//! Reconnection with tokens, windows, buffers and replay (BEHAVIOUR §12, DECISIONS D15–D16).

mod support;

use serde_json::json;
use signal_fish_core::{close_code, Config, ConnId};
use support::*;

/// Long liveness timeout, so connected players survive long time jumps without pinging.
fn patient() -> Config {
    let mut config = Config::default();
    config.server.ping_timeout = 3600;
    config
}

struct Room {
    code: String,
    room_id: String,
    a: ConnId,
    b: ConnId,
    bob: String,
    token: String,
}

/// Alice (plain) creates a 3-seat room; Bob (opted in) joins.
fn setup(h: &mut Harness) -> Room {
    let a = h.connect();
    let b = h.connect_opted_in();
    let (code, joined) = h.create(a, "g", "Alice", 3);
    assert!(joined.get("reconnection_token").is_none(), "no token for connections that did not opt in");
    let out = h.join(b, "g", &code, "Bob");
    let data = &out.to(b)[0]["data"];
    let token = data["reconnection_token"].as_str().expect("opted-in connections get a token").to_owned();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|c| c.is_ascii_hexdigit()));
    Room { code, room_id: data["room_id"].as_str().unwrap().to_owned(), a, b, bob: h.player_id(b), token }
}

fn reconnect(h: &mut Harness, conn: ConnId, player: &str, room: &str, token: &str) -> serde_json::Value {
    h.send_json(
        conn,
        json!({"type":"Reconnect","data":{"player_id":player,"room_id":room,"auth_token":token}}),
    )
    .to(conn)[0]
        .clone()
}

fn failure(v: &serde_json::Value) -> (String, String) {
    assert_eq!(v["type"], "ReconnectionFailed", "{v}");
    (v["data"]["reason"].as_str().unwrap().to_owned(), v["data"]["error_code"].as_str().unwrap().to_owned())
}

#[test]
fn token_field_is_last_and_only_for_opted_in_connections() {
    let mut h = Harness::new();
    let r = setup(&mut h);
    let c = h.connect_opted_in();
    let out = h.join(c, "g", &r.code, "Carol");
    let text = &out.texts(c)[0];
    let token = out.to(c)[0]["data"]["reconnection_token"].as_str().unwrap().to_owned();
    assert!(
        text.ends_with(&format!(r#","current_spectators":[],"reconnection_token":"{token}"}}}}"#)),
        "{text}"
    );
    assert_ne!(token, r.token, "every seat has its own token");
    // Broadcasts to others never carry tokens.
    assert!(out.texts(r.a).iter().all(|t| !t.contains("reconnection_token")));
}

#[test]
fn seat_is_kept_events_are_buffered_and_replayed() {
    let mut h = Harness::with_config(patient());
    let r = setup(&mut h);
    let out = h.drop_conn(r.b);
    assert!(out.nothing_to(r.a), "others see nothing while the seat is reserved");
    assert_eq!(h.engine().counters().reconnection_tokens_issued_total, 1);

    h.send(r.a, r#"{"type":"GameData","data":{"data":{"hp":3}}}"#);
    let c = h.connect();
    h.join(c, "g", &r.code, "Carol");
    h.advance(secs(100));

    let b2 = h.connect_opted_in();
    let out = h.send_json(
        b2,
        json!({"type":"Reconnect","data":{"player_id":r.bob,"room_id":r.room_id,"auth_token":r.token}}),
    );
    let resumed = out.only(b2);
    assert_eq!(resumed["type"], "Reconnected");
    let data = &resumed["data"];
    assert_eq!(data["player_id"], r.bob.as_str());
    assert_eq!(data["current_players"].as_array().unwrap().len(), 3);
    let missed: Vec<&str> =
        data["missed_events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(missed, ["GameData", "PlayerJoined", "LobbyStateChanged"]);
    assert_eq!(data["missed_events"][0]["data"]["data"], json!({"hp":3}));
    let new_token = data["reconnection_token"].as_str().unwrap();
    assert_ne!(new_token, r.token, "tokens rotate on every reconnect");
    for other in [r.a, c] {
        assert_eq!(out.to(other), [json!({"type":"PlayerReconnected","data":{"player_id":r.bob}})]);
    }
    assert_eq!(h.player_id(b2), r.bob, "the new connection carries the old player id");
    // Traffic flows to the new connection again; the old token is spent.
    let out = h.send(r.a, r#"{"type":"GameData","data":{"data":1}}"#);
    assert_eq!(out.types(b2), ["GameData"]);
    let d = h.connect();
    assert_eq!(failure(&reconnect(&mut h, d, &r.bob, &r.room_id, &r.token)).1, "RECONNECTION_TOKEN_INVALID");
}

#[test]
fn window_expiry_releases_the_seat_and_later_attempts_learn_it_expired() {
    let mut h = Harness::with_config(patient());
    let r = setup(&mut h);
    h.send(r.b, r#"{"type":"AuthorityRequest","data":{"become_authority":false}}"#);
    h.drop_conn(r.b);
    let out = h.advance(secs(299));
    assert!(out.nothing_to(r.a));
    let out = h.advance(secs(1));
    assert_eq!(out.to(r.a), [json!({"type":"PlayerLeft","data":{"player_id":r.bob}})]);
    let b2 = h.connect();
    assert_eq!(
        failure(&reconnect(&mut h, b2, &r.bob, &r.room_id, &r.token)),
        ("Reconnection window has expired".into(), "RECONNECTION_EXPIRED".into())
    );
}

#[test]
fn failure_cases_in_order() {
    let mut h = Harness::new();
    let r = setup(&mut h);
    h.drop_conn(r.b);
    let x = h.connect();
    let stranger = "6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70";
    assert_eq!(
        failure(&reconnect(&mut h, x, stranger, &r.room_id, &r.token)),
        ("No disconnection record found".into(), "RECONNECTION_FAILED".into())
    );
    assert_eq!(
        failure(&reconnect(&mut h, x, &r.bob, &r.room_id, "0000")),
        ("Invalid reconnection token".into(), "RECONNECTION_TOKEN_INVALID".into())
    );
    assert_eq!(
        failure(&reconnect(&mut h, x, &r.bob, stranger, &r.token)),
        ("Reconnection token is invalid or expired".into(), "RECONNECTION_EXPIRED".into())
    );
    // A connection already in a room must leave first; the seat holder itself is connected.
    assert_eq!(failure(&reconnect(&mut h, r.a, &r.bob, &r.room_id, &r.token)).1, "ALREADY_IN_ROOM");
    let alice = h.player_id(r.a);
    assert_eq!(
        failure(&reconnect(&mut h, r.a, &alice, &r.room_id, "x")),
        ("Player is already connected".into(), "PLAYER_ALREADY_CONNECTED".into())
    );
    assert_eq!(h.engine().counters().reconnection_validation_failures_total, 5);

    let mut config = Config::default();
    config.server.enable_reconnection = false;
    let mut h = Harness::with_config(config);
    let a = h.connect_opted_in();
    let (_, joined) = h.create(a, "g", "A", 2);
    assert!(joined.get("reconnection_token").is_none(), "no token when reconnection is off");
    assert_eq!(
        failure(&reconnect(&mut h, a, stranger, stranger, "t")),
        ("Reconnection is not enabled".into(), "RECONNECTION_FAILED".into())
    );
}

#[test]
fn buffer_overflow_ends_the_reservation() {
    let mut config = Config::default();
    config.server.event_buffer_size = 3;
    let mut h = Harness::with_config(config);
    let r = setup(&mut h);
    h.drop_conn(r.b);
    for i in 0..3 {
        let out = h.send(r.a, &format!(r#"{{"type":"GameData","data":{{"data":{i}}}}}"#));
        assert!(out.to(r.a).is_empty());
    }
    let out = h.send(r.a, r#"{"type":"GameData","data":{"data":3}}"#);
    assert_eq!(out.to(r.a), [json!({"type":"PlayerLeft","data":{"player_id":r.bob}})]);
    assert_eq!(h.engine().counters().reconnection_buffer_overflows_total, 1);
    let b2 = h.connect();
    assert_eq!(failure(&reconnect(&mut h, b2, &r.bob, &r.room_id, &r.token)).1, "RECONNECTION_EXPIRED");
}

#[test]
fn half_open_seat_is_taken_over() {
    let mut h = Harness::new();
    let r = setup(&mut h);
    let b2 = h.connect_opted_in();
    let out = h.send_json(
        b2,
        json!({"type":"Reconnect","data":{"player_id":r.bob,"room_id":r.room_id,"auth_token":r.token}}),
    );
    assert_eq!(out.close_code(r.b), Some(close_code::POLICY));
    let resumed = out.only(b2);
    assert_eq!(resumed["type"], "Reconnected");
    assert_eq!(resumed["data"]["missed_events"], json!([]));
    assert_eq!(out.types(r.a), ["PlayerReconnected"]);
    // The replaced connection's later close changes nothing.
    assert!(h.drop_conn(r.b).nothing_to(r.a));
    assert_eq!(h.engine().room_count(), 1);
}

#[test]
fn liveness_timeout_counts_as_an_unexpected_disconnect() {
    let mut h = Harness::new();
    let r = setup(&mut h);
    // Alice keeps pinging; Bob goes silent.
    for _ in 0..3 {
        h.advance(secs(10));
        h.send(r.a, r#"{"type":"Ping"}"#);
    }
    assert!(h.engine().player_id(r.b).is_none(), "Bob was closed for silence");
    assert_eq!(h.engine().counters().cleanup_expired_players_total, 1);
    assert_eq!(h.engine().counters().reconnection_tokens_issued_total, 1, "his seat is reserved");
    let b2 = h.connect_opted_in();
    let reply = reconnect(&mut h, b2, &r.bob, &r.room_id, &r.token);
    assert_eq!(reply["type"], "Reconnected");
}

#[test]
fn binary_payloads_without_json_form_are_replayed_as_game_data_binary() {
    let mut h = Harness::with_config(patient());
    let a = h.connect();
    let b = h.connect_opted_in();
    h.send(a, r#"{"type":"Authenticate","data":{"app_id":"x","game_data_format":"message_pack"}}"#);
    let (code, _) = h.create(a, "g", "Alice", 2);
    let out = h.join(b, "g", &code, "Bob");
    let data = out.to(b)[0]["data"].clone();
    h.drop_conn(b);
    h.send_binary(a, &[0xc4, 0x02, 0xab, 0xcd]); // a MessagePack bin: no JSON form
    h.send_binary(a, &[0x91, 0x05]); // [5]
    let b2 = h.connect_opted_in();
    let resumed = reconnect(
        &mut h,
        b2,
        data["player_id"].as_str().unwrap(),
        data["room_id"].as_str().unwrap(),
        data["reconnection_token"].as_str().unwrap(),
    );
    let alice = h.player_id(a);
    assert_eq!(
        resumed["data"]["missed_events"],
        json!([
            {"type":"GameDataBinary","data":{"from_player":alice,"encoding":"message_pack","payload":[0xc4, 0x02, 0xab, 0xcd]}},
            {"type":"GameData","data":{"from_player":alice,"data":[5]}}
        ])
    );
}

#[test]
fn a_reserved_seat_in_a_removed_room_answers_room_not_found() {
    let mut config = patient();
    config.server.inactive_room_timeout = 100;
    config.server.reconnection_window = 200;
    let mut h = Harness::with_config(config);
    let r = setup(&mut h);
    h.drop_conn(r.b);
    let out = h.advance(secs(100));
    assert_eq!(out.texts(r.a), [r#"{"type":"RoomLeft"}"#], "the room expired with Alice in it");
    let b2 = h.connect_opted_in();
    assert_eq!(
        failure(&reconnect(&mut h, b2, &r.bob, &r.room_id, &r.token)),
        ("Room no longer exists".into(), "ROOM_NOT_FOUND".into())
    );
}

#[test]
fn a_room_emptied_while_settling_is_removed_in_the_same_step() {
    // Found by the simulator's swarm: the overflow that ends a reservation empties the
    // room; with empty_room_timeout 0 it must go at once, not at the next event.
    let mut config = patient();
    config.server.event_buffer_size = 1;
    config.server.empty_room_timeout = 0;
    let mut h = Harness::with_config(config);
    let b = h.connect_opted_in();
    let s = h.connect();
    let (code, _) = h.create(b, "g", "Bob", 2);
    h.drop_conn(b);
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    let out = h.send(s, r#"{"type":"LeaveSpectator"}"#);
    assert_eq!(h.engine().room_count(), 0, "removed in the step that emptied it");
    assert!(!out.0.is_empty());
    assert!(h.engine().poll_timeout().is_none_or(|t| t > h.now()), "no timer left due");
}

#[test]
fn a_slow_consumer_that_opted_in_gets_what_it_never_received_on_reconnect() {
    use signal_fish_core::{Event, Outbound};
    let mut h = Harness::new();
    let r = setup(&mut h);
    let out = h.send(r.a, r#"{"type":"GameData","data":{"data":"first"}}"#);
    let queued: Vec<Outbound> = out
        .0
        .into_iter()
        .filter_map(|a| match a {
            signal_fish_core::Action::Send { conn, message: frame } if conn == r.b => Some(frame),
            _ => None,
        })
        .collect();
    let unsent_binary =
        signal_fish_core::protocol::binary_game_data_message(&r.bob.parse().unwrap(), &[0x91, 0x01]);
    let mut unsent = queued;
    unsent.push(Outbound::Binary(unsent_binary));
    let out = h.step(Event::Backlogged { conn: r.b, unsent });
    assert_eq!(out.close_code(r.b), Some(close_code::POLICY));
    assert!(out.nothing_to(r.a), "the seat is kept");
    h.send(r.a, r#"{"type":"GameData","data":{"data":"second"}}"#);
    let b2 = h.connect_opted_in();
    let resumed = reconnect(&mut h, b2, &r.bob, &r.room_id, &r.token);
    let missed: Vec<_> = resumed["data"]["missed_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["data"].clone())
        .collect();
    assert_eq!(missed, [json!("first"), json!([1]), json!("second")]);
}

#[test]
fn websocket_ping_frames_keep_a_connection_alive() {
    let mut h = Harness::new();
    let a = h.connect();
    for _ in 0..5 {
        h.advance(secs(25));
        let out = h.step(signal_fish_core::Event::PingFrame { conn: a });
        assert!(out.nothing_to(a), "the transport answers pings; the engine stays silent");
    }
    assert_eq!(h.engine().connection_count(), 1);
}
