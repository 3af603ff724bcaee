//! Authentication on and off (BEHAVIOUR §2, DECISIONS D4–D6).

mod support;

use serde_json::json;
use signal_fish_core::config::AuthorizedApp;
use signal_fish_core::{close_code, Config};
use support::*;

fn auth_config(rate_limit_per_minute: Option<u32>) -> Config {
    let mut config = Config::default();
    config.security.require_websocket_auth = true;
    config.security.authorized_apps = vec![AuthorizedApp {
        app_id: "my-game".into(),
        app_secret: "unused".into(),
        app_name: "My Game".into(),
        max_rooms: Some(1),
        max_players_per_room: Some(4),
        rate_limit_per_minute,
    }];
    config
}

const AUTH: &str = r#"{"type":"Authenticate","data":{"app_id":"my-game"}}"#;

#[test]
fn auth_off_answers_authenticate_and_protocol_info() {
    let mut h = Harness::new();
    let a = h.connect();
    let out = h.send(a, r#"{"type":"Authenticate","data":{"app_id":"anything","sdk_version":"0.14.0"}}"#);
    let texts = out.texts(a);
    assert_eq!(
        texts[0],
        r#"{"type":"Authenticated","data":{"app_name":"default","rate_limits":{"per_minute":1000,"per_hour":10000,"per_day":100000}}}"#
    );
    assert_eq!(
        texts[1],
        r#"{"type":"ProtocolInfo","data":{"sdk_version":"0.14.0","capabilities":["reconnection","spectator-mode","rate-limits-v2"],"game_data_formats":["json","message_pack"],"player_name_rules":{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}}}"#
    );
    assert_eq!(texts.len(), 2);
    // A second Authenticate is ignored.
    assert!(h.send(a, r#"{"type":"Authenticate","data":{"app_id":"x"}}"#).nothing_to(a));
}

#[test]
fn authenticate_is_optional_when_auth_is_off() {
    let mut h = Harness::new();
    let a = h.connect();
    h.create(a, "g", "Alice", 2);
}

#[test]
fn protocol_info_for_a_known_platform() {
    let mut h = Harness::new();
    let a = h.connect();
    let out = h.send(
        a,
        r#"{"type":"Authenticate","data":{"app_id":"x","platform":"Unity","sdk_version":"1.12.0"}}"#,
    );
    let info = &out.to(a)[1];
    assert_eq!(info["type"], "ProtocolInfo");
    assert_eq!(info["data"]["platform"], "Unity");
    assert_eq!(info["data"]["minimum_version"], "1.10.0");
    assert_eq!(info["data"]["recommended_version"], "1.12.0");
    assert_eq!(
        info["data"]["capabilities"],
        json!([
            "reconnection",
            "spectator-mode",
            "rate-limits-v2",
            "relay-matchbox",
            "relay-mirror",
            "relay-fishnet"
        ])
    );
    assert_eq!(
        info["data"]["notes"],
        "Upgrade to 1.12.x for deterministic reconnect handling and spectator patches."
    );
}

#[test]
fn sdk_below_minimum_is_refused_and_the_client_may_retry() {
    let mut h = Harness::new();
    let a = h.connect();
    let out = h
        .send(a, r#"{"type":"Authenticate","data":{"app_id":"x","platform":"godot","sdk_version":"0.8.0"}}"#);
    let reply = out.only(a);
    assert_eq!(reply["type"], "AuthenticationError");
    assert_eq!(reply["data"]["error_code"], "SDK_VERSION_UNSUPPORTED");
    assert_eq!(
        reply["data"]["error"],
        "SDK version `0.8.0` for platform `godot` is below the minimum supported version `0.9.0`"
    );
    assert_eq!(out.close_code(a), None);
    let out = h
        .send(a, r#"{"type":"Authenticate","data":{"app_id":"x","platform":"godot","sdk_version":"0.9.1"}}"#);
    assert_eq!(out.types(a), ["Authenticated", "ProtocolInfo"]);
}

#[test]
fn unsupported_format_falls_back_to_json_with_an_error_first() {
    let mut h = Harness::new();
    let a = h.connect();
    let out = h.send(a, r#"{"type":"Authenticate","data":{"app_id":"x","game_data_format":"rkyv"}}"#);
    let all = out.to(a);
    assert_eq!(
        error_of(&all[0]),
        (
            "Requested game data format Rkyv is not supported. Server supports: Json, MessagePack. Falling back to JSON."
                .to_owned(),
            "UNSUPPORTED_GAME_DATA_FORMAT".to_owned()
        )
    );
    assert_eq!(all[1]["type"], "Authenticated");
    assert_eq!(all[2]["data"]["game_data_formats"], json!(["json", "message_pack"]));

    let mut config = Config::default();
    config.protocol.enable_message_pack_game_data = false;
    let mut h = Harness::with_config(config);
    let b = h.connect();
    let out = h.send(b, r#"{"type":"Authenticate","data":{"app_id":"x","game_data_format":"message_pack"}}"#);
    let all = out.to(b);
    assert_eq!(
        error_of(&all[0]).0,
        "Requested game data format MessagePack is not supported. Server supports: Json. Falling back to JSON."
    );
    assert_eq!(all[2]["data"]["game_data_formats"], json!(["json"]));
}

#[test]
fn auth_on_success_advertises_the_app_limits() {
    let mut h = Harness::with_config(auth_config(Some(60)));
    let a = h.connect();
    let out = h.send(a, AUTH);
    assert_eq!(
        out.texts(a)[0],
        r#"{"type":"Authenticated","data":{"app_name":"My Game","rate_limits":{"per_minute":60,"per_hour":3600,"per_day":86400}}}"#
    );
    let mut h = Harness::with_config(auth_config(None));
    let a = h.connect();
    let out = h.send(a, AUTH);
    assert_eq!(
        out.to(a)[0]["data"]["rate_limits"],
        json!({"per_minute":1000,"per_hour":60000,"per_day":1440000})
    );
}

#[test]
fn auth_on_unknown_app_is_refused_and_closed() {
    let mut h = Harness::with_config(auth_config(None));
    let a = h.connect();
    let out = h.send(a, r#"{"type":"Authenticate","data":{"app_id":"other"}}"#);
    assert_eq!(
        out.texts(a),
        [r#"{"type":"AuthenticationError","data":{"error":"InvalidAppId","error_code":"INVALID_APP_ID"}}"#]
    );
    assert_eq!(out.close_code(a), Some(close_code::POLICY));
    assert_eq!(h.engine().connection_count(), 0);
}

#[test]
fn auth_on_messages_before_authentication_are_refused_and_closed() {
    let mut h = Harness::with_config(auth_config(None));
    let a = h.connect();
    let out = h.send(a, r#"{"type":"Ping"}"#);
    assert_eq!(
        out.texts(a),
        [
            r#"{"type":"Error","data":{"message":"Authentication required","error_code":"AUTHENTICATION_REQUIRED"}}"#
        ]
    );
    assert_eq!(out.close_code(a), Some(close_code::POLICY));

    let b = h.connect();
    let out = h.send_binary(b, &[0x90]);
    assert_eq!(
        error_of(&out.only(b)),
        ("Authentication required before sending binary data".into(), "AUTHENTICATION_REQUIRED".into())
    );
    assert_eq!(out.close_code(b), Some(close_code::POLICY));

    // Invalid JSON before authentication only gets INVALID_INPUT.
    let c = h.connect();
    let out = h.send(c, "nope");
    assert_eq!(error_of(&out.only(c)).1, "INVALID_INPUT");
    assert_eq!(out.close_code(c), None);
}

#[test]
fn auth_on_per_app_rate_limit_slides_over_a_minute() {
    let mut h = Harness::with_config(auth_config(Some(2)));
    for _ in 0..2 {
        let a = h.connect();
        assert_eq!(h.send(a, AUTH).types(a), ["Authenticated", "ProtocolInfo"]);
    }
    let c = h.connect();
    let out = h.send(c, AUTH);
    assert_eq!(
        out.texts(c),
        [
            r#"{"type":"AuthenticationError","data":{"error":"RateLimitExceeded","error_code":"RATE_LIMIT_EXCEEDED"}}"#
        ]
    );
    assert_eq!(out.close_code(c), Some(close_code::POLICY));
    h.advance(secs(60));
    let d = h.connect();
    assert_eq!(h.send(d, AUTH).types(d), ["Authenticated", "ProtocolInfo"]);
}

#[test]
fn auth_timeout_closes_with_an_error() {
    let mut h = Harness::with_config(auth_config(None));
    let a = h.connect();
    let out = h.advance(secs(9));
    assert!(out.nothing_to(a));
    let out = h.advance(secs(1));
    assert_eq!(
        error_of(&out.only(a)),
        (
            "Authentication timeout - must authenticate within 10 seconds".into(),
            "AUTHENTICATION_TIMEOUT".into()
        )
    );
    assert_eq!(out.close_code(a), Some(close_code::POLICY));
    assert_eq!(h.engine().counters().auth_timeouts_total, 1);

    // Authenticating in time cancels the deadline; failed SDK attempts do not extend it.
    let b = h.connect();
    h.send(b, AUTH);
    assert!(h.advance(secs(20)).nothing_to(b));
}

#[test]
fn per_app_room_and_player_limits_are_enforced() {
    let mut h = Harness::with_config(auth_config(None));
    let a = h.connect();
    h.send(a, AUTH);
    let out = h.send(a, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"A","max_players":5}}"#);
    assert_eq!(
        join_failure(&out.only(a)),
        ("Max players cannot exceed 4".into(), "INVALID_MAX_PLAYERS".into())
    );
    let joined = h.send(a, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"A"}}"#).only(a);
    assert_eq!(joined["data"]["max_players"], 4, "the default is clamped to the app's limit");
    let b = h.connect();
    h.send(b, AUTH);
    let out = h.send(b, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"B","max_players":2}}"#);
    assert_eq!(
        join_failure(&out.only(b)),
        ("App `my-game` already has 1 rooms (limit 1)".into(), "MAX_ROOMS_PER_GAME_EXCEEDED".into())
    );
}
