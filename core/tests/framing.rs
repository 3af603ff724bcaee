//! Input parsing rules of PROTOCOL §2.1 as the engine applies them.

mod support;

use support::*;

fn assert_invalid(h: &mut Harness, conn: signal_fish_core::ConnId, text: &str) {
    let out = h.send(conn, text);
    let reply = out.only(conn);
    assert_eq!(
        error_of(&reply),
        ("Invalid client message".to_owned(), "INVALID_INPUT".to_owned()),
        "input {text:?}"
    );
    assert_eq!(out.close_code(conn), None, "the connection stays open for {text:?}");
}

#[test]
fn malformed_frames_get_invalid_input_and_the_connection_lives() {
    let mut h = Harness::new();
    let a = h.connect();
    for text in [
        "",
        "not json",
        "{\"type\":\"Ping\"} trailing",
        "[]",
        "\"Ping\"",
        "{}",
        "{\"type\":\"ping\"}",
        "{\"type\":\"Nope\"}",
        "{\"type\":\"LeaveRoom\",\"data\":{}}",
        "{\"type\":\"Ping\",\"data\":[]}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\"}}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\",\"player_name\":\"A\",\"max_players\":4.0}}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\",\"player_name\":\"A\",\"max_players\":300}}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\",\"player_name\":\"A\",\"max_players\":-1}}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\",\"player_name\":\"A\",\"supports_authority\":\"true\"}}",
        "{\"type\":\"JoinRoom\",\"data\":{\"game_name\":\"g\",\"player_name\":\"A\",\"relay_transport\":\"TCP\"}}",
        "{\"type\":\"JoinRoom\",\"data\":[\"g\",null,\"A\"]}",
        "{\"type\":\"AuthorityRequest\",\"data\":null}",
        "{\"type\":\"GameData\",\"data\":{}}",
        "{\"type\":\"Reconnect\",\"data\":{\"player_id\":\"nope\",\"room_id\":\"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\",\"auth_token\":\"x\"}}",
        "{\"type\":\"ProvideConnectionInfo\",\"data\":{\"connection_info\":{\"type\":\"Direct\",\"host\":\"h\",\"port\":1}}}",
        "{\"type\":\"ProvideConnectionInfo\",\"data\":{\"connection_info\":{\"type\":\"direct\",\"host\":\"h\",\"port\":70000}}}",
        "{\"type\":\"ProvideConnectionInfo\",\"data\":{\"connection_info\":{\"type\":\"custom\"}}}",
        "{\"type\":\"Ping\",\"type\":\"Ping\"}",
        "{\"type\":\"AuthorityRequest\",\"data\":{\"become_authority\":true,\"become_authority\":false}}",
    ] {
        assert_invalid(&mut h, a, text);
    }
    // Still serving: a Ping is answered.
    assert_eq!(h.send(a, "{\"type\":\"Ping\"}").types(a), ["Pong"]);
}

#[test]
fn accepted_envelope_variations() {
    let mut h = Harness::new();
    let a = h.connect();
    for text in [
        "{\"type\":\"Ping\"}",
        "  {\"type\":\"Ping\"}\n",
        "{\"type\":\"Ping\",\"data\":null}",
        "{\"data\":null,\"type\":\"Ping\",\"extra\":{\"x\":1}}",
        "{\"type\":\"Pi\\u006eg\"}",
    ] {
        assert_eq!(h.send(a, text).types(a), ["Pong"], "input {text:?}");
    }
    // data before type, unknown payload keys, explicit nulls for optional fields (SDK 0.10).
    let out = h.send(
        a,
        r#"{"data":{"game_name":"g","room_code":null,"player_name":"Al","max_players":null,"supports_authority":null,"relay_transport":null,"future":[1]},"type":"JoinRoom"}"#,
    );
    let joined = out.only(a);
    assert_eq!(joined["type"], "RoomJoined");
    assert_eq!(joined["data"]["max_players"], 8, "absent max_players is server.default_max_players");
    assert_eq!(joined["data"]["supports_authority"], true, "supports_authority defaults to true");
    assert_eq!(joined["data"]["is_authority"], true);
}

#[test]
fn uuid_forms_are_accepted_on_input() {
    let mut h = Harness::new();
    let a = h.connect();
    for id in [
        "6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70",
        "6F1C2A9E3B4D4E8F9A012B3C4D5E6F70",
        "urn:uuid:6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70",
        "{6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70}",
    ] {
        let text = format!(
            r#"{{"type":"Reconnect","data":{{"player_id":"{id}","room_id":"{id}","auth_token":"t"}}}}"#
        );
        let reply = h.send(a, &text).only(a);
        assert_eq!(reply["type"], "ReconnectionFailed", "{id}: {reply}");
        assert_eq!(reply["data"]["error_code"], "RECONNECTION_FAILED");
    }
}

#[test]
fn oversized_text_is_refused_with_its_size_and_the_connection_lives() {
    let mut config = signal_fish_core::Config::default();
    config.security.max_message_size = 100;
    let mut h = Harness::with_config(config);
    let a = h.connect();
    let big = format!(r#"{{"type":"Ping","data":null,"pad":"{}"}}"#, "x".repeat(100));
    let out = h.send(a, &big);
    let (message, code) = error_of(&out.only(a));
    assert_eq!(code, "MESSAGE_TOO_LARGE");
    assert_eq!(message, format!("Message too large ({} bytes, max 100 bytes)", big.len()));
    assert_eq!(out.close_code(a), None);
    assert_eq!(h.send(a, r#"{"type":"Ping"}"#).types(a), ["Pong"]);
}

#[test]
fn ping_and_websocket_pong_frames_are_answered_with_pong() {
    let mut h = Harness::new();
    let a = h.connect();
    let out = h.send(a, r#"{"type":"Ping"}"#);
    assert_eq!(out.texts(a), [r#"{"type":"Pong"}"#]);
    let out = h.step(signal_fish_core::Event::PongFrame { conn: a });
    assert_eq!(out.texts(a), [r#"{"type":"Pong"}"#]);
}

#[test]
fn frames_for_unknown_connections_are_ignored() {
    let mut h = Harness::new();
    let ghost = signal_fish_core::ConnId(999);
    assert!(h.send(ghost, r#"{"type":"Ping"}"#).nothing_to(ghost));
    assert!(h.send_binary(ghost, &[1, 2, 3]).nothing_to(ghost));
    assert!(h.drop_conn(ghost).nothing_to(ghost));
    assert_eq!(h.engine().connection_count(), 0);
}
