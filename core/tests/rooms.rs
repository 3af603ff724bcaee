//! `JoinRoom` and `LeaveRoom` (BEHAVIOUR §4, §5, §9; DECISIONS D7–D11).

mod support;

use serde_json::json;
use signal_fish_core::{Config, ROOM_CODE_ALPHABET};
use support::*;

fn join_raw(h: &mut Harness, conn: signal_fish_core::ConnId, data: serde_json::Value) -> serde_json::Value {
    h.send_json(conn, json!({"type":"JoinRoom","data":data})).only(conn)
}

#[test]
fn create_reports_a_full_snapshot_with_exact_shape() {
    let mut h = Harness::new();
    let a = h.connect();
    h.advance(std::time::Duration::from_micros(123_456));
    let out = h.send(
        a,
        r#"{"type":"JoinRoom","data":{"game_name":"space-race","player_name":"Alice","max_players":2}}"#,
    );
    let text = &out.texts(a)[0];
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let d = &v["data"];
    let code = d["room_code"].as_str().unwrap();
    let expected = format!(
        r#"{{"type":"RoomJoined","data":{{"room_id":"{}","room_code":"{code}","player_id":"{}","game_name":"space-race","max_players":2,"supports_authority":true,"current_players":[{{"id":"{}","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"2026-03-01T12:00:00.123456Z"}}],"is_authority":true,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[]}}}}"#,
        d["room_id"].as_str().unwrap(),
        h.player_id(a),
        h.player_id(a)
    );
    assert_eq!(text, &expected);
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b)));
    let room_id: uuid::Uuid = d["room_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(room_id.get_version_num(), 4);
}

#[test]
fn creator_without_authority_support_is_not_authority() {
    let mut h = Harness::new();
    let a = h.connect();
    let joined = join_raw(&mut h, a, json!({"game_name":"g","player_name":"A","supports_authority":false}));
    assert_eq!(joined["data"]["is_authority"], false);
    assert_eq!(joined["data"]["current_players"][0]["is_authority"], false);
    assert_eq!(joined["data"]["supports_authority"], false);
}

#[test]
fn join_existing_announces_and_fills_the_lobby() {
    let mut h = Harness::new();
    let (a, b, s) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    let lower = code.to_lowercase();
    let out = h.join(b, "g", &lower, "Bob");
    assert_eq!(out.types(b), ["RoomJoined", "LobbyStateChanged"]);
    let joined = &out.to(b)[0]["data"];
    assert_eq!(joined["room_code"], code.as_str(), "codes are uppercased");
    assert_eq!(joined["current_players"].as_array().unwrap().len(), 2);
    assert_eq!(joined["current_spectators"][0]["name"], "Eve");
    assert_eq!(joined["is_authority"], false);
    for member in [a, s] {
        let got = out.to(member);
        assert_eq!(got[0]["type"], "PlayerJoined");
        assert_eq!(got[0]["data"]["player"]["name"], "Bob");
        assert_eq!(got[0]["data"]["player"]["is_authority"], false);
        assert_eq!(
            got[1],
            json!({"type":"LobbyStateChanged","data":{"lobby_state":"lobby","ready_players":[],"all_ready":false}})
        );
    }
    assert_eq!(out.to(b)[1]["data"]["lobby_state"], "lobby");
}

#[test]
fn validation_order_and_texts() {
    let mut h = Harness::new();
    let a = h.connect();
    let cases = [
        (json!({"game_name":"","player_name":"A"}), "Game name cannot be empty", "INVALID_GAME_NAME"),
        (
            json!({"game_name":"a.b","player_name":"A"}),
            "Game name contains invalid characters",
            "INVALID_GAME_NAME",
        ),
        (
            json!({"game_name":"x".repeat(65),"player_name":"A"}),
            "Game name too long (max 64 bytes)",
            "INVALID_GAME_NAME",
        ),
        (json!({"game_name":"g","player_name":""}), "Player name cannot be empty", "INVALID_PLAYER_NAME"),
        (
            json!({"game_name":"g","player_name":"A@"}),
            "Player name contains invalid characters",
            "INVALID_PLAYER_NAME",
        ),
        (
            json!({"game_name":"g","player_name":"A","max_players":0}),
            "Max players must be at least 1",
            "INVALID_MAX_PLAYERS",
        ),
        (
            json!({"game_name":"g","player_name":"A","max_players":101}),
            "Max players cannot exceed 100",
            "INVALID_MAX_PLAYERS",
        ),
        (
            json!({"game_name":"g","player_name":"A","room_code":""}),
            "Room code cannot be empty",
            "INVALID_ROOM_CODE",
        ),
        (
            json!({"game_name":"g","player_name":"A","room_code":"ABC"}),
            "Room code must be exactly 6 characters",
            "INVALID_ROOM_CODE",
        ),
        (
            json!({"game_name":"g","player_name":"A","room_code":"AB-CDE"}),
            "Room code must be alphanumeric",
            "INVALID_ROOM_CODE",
        ),
        // The game name is checked before the player name.
        (json!({"game_name":"","player_name":""}), "Game name cannot be empty", "INVALID_GAME_NAME"),
    ];
    for (data, reason, code) in cases {
        let reply = join_raw(&mut h, a, data.clone());
        assert_eq!(join_failure(&reply), (reason.to_owned(), code.to_owned()), "{data}");
    }
    // Validation failures do not consume the rate-limit budget (D18): 5 creations still work.
    for i in 0..5 {
        let c = h.connect();
        h.create(c, "g", &format!("P{i}"), 2);
    }
}

#[test]
fn already_in_a_room_duplicate_names_and_full_rooms() {
    let mut h = Harness::new();
    let (a, b, c, d) = (h.connect(), h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    let reply = join_raw(&mut h, a, json!({"game_name":"g","player_name":"Alice"}));
    assert_eq!(join_failure(&reply), ("Already in a room".into(), "ALREADY_IN_ROOM".into()));
    let reply = join_raw(&mut h, b, json!({"game_name":"g","room_code":code,"player_name":"ALICE"}));
    assert_eq!(
        join_failure(&reply),
        ("Player name already exists in this room".into(), "INVALID_PLAYER_NAME".into())
    );
    h.join(b, "g", &code, "Bob");
    let out = h.send_json(
        c,
        json!({"type":"JoinRoom","data":{"game_name":"g","room_code":code,"player_name":"Carol"}}),
    );
    assert_eq!(
        out.texts(c),
        [r#"{"type":"RoomJoinFailed","data":{"reason":"Room is full","error_code":"ROOM_FULL"}}"#]
    );
    // The same code under another game is a different room.
    let joined = join_raw(&mut h, d, json!({"game_name":"other","room_code":code,"player_name":"Dan"}));
    assert_eq!(joined["type"], "RoomJoined");
    assert_eq!(joined["data"]["current_players"].as_array().unwrap().len(), 1);
}

#[test]
fn supplied_code_creates_the_room_when_absent() {
    let mut h = Harness::new();
    let a = h.connect();
    let joined = join_raw(&mut h, a, json!({"game_name":"g","room_code":"o0i1ab","player_name":"A"}));
    assert_eq!(joined["data"]["room_code"], "O0I1AB");
    assert_eq!(h.engine().counters().rooms_created_total, 1);
}

#[test]
fn room_caps_per_game_and_in_total() {
    let mut config = Config::default();
    config.server.max_rooms_per_game = 2;
    config.server.max_rooms = 3;
    let mut h = Harness::with_config(config);
    for i in 0..2 {
        let c = h.connect();
        h.create(c, "g", &format!("P{i}"), 2);
    }
    let c = h.connect();
    let reply = join_raw(&mut h, c, json!({"game_name":"g","player_name":"X"}));
    assert_eq!(
        join_failure(&reply),
        ("Game `g` already has 2 rooms (limit 2)".into(), "MAX_ROOMS_PER_GAME_EXCEEDED".into())
    );
    h.create(c, "other", "X", 2);
    let d = h.connect();
    let reply = join_raw(&mut h, d, json!({"game_name":"third","player_name":"Y"}));
    assert_eq!(
        join_failure(&reply),
        ("Server room limit reached (3 rooms)".into(), "ROOM_CREATION_FAILED".into())
    );
}

#[test]
fn relay_type_mapping_and_code_prefix() {
    let mut config = Config::default();
    config.relay_types.game_relay_mappings.insert("g".into(), "webrtc-mesh".into());
    config.server.room_code_prefix = Some(" ab ".into());
    let mut h = Harness::with_config(config);
    let a = h.connect();
    let (code, joined) = h.create(a, "g", "A", 2);
    assert_eq!(joined["relay_type"], "webrtc-mesh");
    assert!(code.starts_with("AB") && code.len() == 6, "{code}");
    let b = h.connect();
    let (_, joined) = h.create(b, "h", "B", 2);
    assert_eq!(joined["relay_type"], "matchbox");
}

#[test]
fn leave_room_tells_everyone_and_stops_traffic() {
    let mut h = Harness::new();
    let (a, b, c) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.join(c, "g", &code, "Carol");
    let out = h.send(b, r#"{"type":"LeaveRoom"}"#);
    assert_eq!(out.texts(b), [r#"{"type":"RoomLeft"}"#]);
    let bob = h.player_id(b);
    for other in [a, c] {
        assert_eq!(out.to(other)[0], json!({"type":"PlayerLeft","data":{"player_id":bob}}));
    }
    // D10: no more room traffic for the leaver.
    let out = h.send(a, r#"{"type":"GameData","data":{"data":1}}"#);
    assert!(out.nothing_to(b));
    assert_eq!(out.to(c).len(), 1);
    // Leaving again is silent; the leaver can join another room.
    assert!(h.send(b, r#"{"type":"LeaveRoom"}"#).nothing_to(b));
    h.create(b, "g", "Bob", 2);
}

#[test]
fn unexpected_disconnect_without_opt_in_leaves_at_once() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    let bob = h.player_id(b);
    let out = h.drop_conn(b);
    assert_eq!(out.to(a), [json!({"type":"PlayerLeft","data":{"player_id":bob}})]);
    assert_eq!(h.engine().counters().reconnection_tokens_issued_total, 0);
}

#[test]
fn generated_codes_never_collide_within_a_game() {
    // 2,000 codes from 32^4: without collision checks a repeat is ~86% likely (D7).
    let mut config = Config::default();
    config.protocol.room_code_length = 4;
    config.rate_limit.max_room_creations = 10_000;
    config.rate_limit.max_join_attempts = 10_000;
    config.security.max_connections_per_ip = 10_000;
    config.server.max_rooms_per_game = 10_000;
    let mut h = Harness::with_config(config);
    let mut codes = std::collections::BTreeSet::new();
    for i in 0..2000 {
        let c = h.connect();
        let (code, _) = h.create(c, "g", &format!("P{i}"), 2);
        assert!(codes.insert(code), "duplicate generated code");
    }
}
