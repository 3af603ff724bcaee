//! Exact bytes and serde round trips for every message of PROTOCOL.md §5–§6 and the v3
//! additions of §12, using the specification's own examples.

use signal_fish_core::protocol::{ClientMessage, ServerMessage, CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES};

/// PROTOCOL §5 examples (client → server), compact.
const CLIENT_EXAMPLES: &[&str] = &[
    r#"{"type":"Authenticate","data":{"app_id":"my-game","sdk_version":"1.0.0","platform":"godot","game_data_format":"message_pack"}}"#,
    r#"{"type":"JoinRoom","data":{"game_name":"space-race","room_code":"HK7T3W","player_name":"Bob","max_players":4,"supports_authority":true,"relay_transport":"auto"}}"#,
    r#"{"type":"JoinRoom","data":{"game_name":"space-race","player_name":"Alice"}}"#,
    r#"{"type":"LeaveRoom"}"#,
    r#"{"type":"GameData","data":{"data":{"action":"move","x":100,"y":200}}}"#,
    r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#,
    r#"{"type":"PlayerReady"}"#,
    r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"192.168.1.10","port":7777}}}"#,
    r#"{"type":"Ping"}"#,
    r#"{"type":"Reconnect","data":{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","auth_token":"f47ac10b-58cc-4372-a567-0e02b2c3d479"}}"#,
    r#"{"type":"JoinAsSpectator","data":{"game_name":"space-race","room_code":"HK7T3W","spectator_name":"Observer1"}}"#,
    r#"{"type":"LeaveSpectator"}"#,
    // Protocol v3 (PROTOCOL §12).
    r#"{"type":"Authenticate","data":{"app_id":"my-game","sdk_version":"0.14.0","protocol_version":3}}"#,
    r#"{"type":"GameData","data":{"data":{"x":2},"class":"latest","key":7}}"#,
];

/// PROTOCOL §6 examples (server → client), compact, plus the shapes §6 describes
/// without an example.
const SERVER_EXAMPLES: &[&str] = &[
    r#"{"type":"Authenticated","data":{"app_name":"My Game","rate_limits":{"per_minute":60,"per_hour":3600,"per_day":86400}}}"#,
    r#"{"type":"ProtocolInfo","data":{"platform":"godot","sdk_version":"1.0.0","minimum_version":"0.9.0","capabilities":["reconnection","spectator-mode","rate-limits-v2"],"game_data_formats":["json","message_pack"],"player_name_rules":{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}}}"#,
    r#"{"type":"AuthenticationError","data":{"error":"InvalidAppId","error_code":"INVALID_APP_ID"}}"#,
    r#"{"type":"RoomJoined","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","game_name":"space-race","max_players":2,"supports_authority":true,"current_players":[{"id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"2026-03-01T12:00:00.123456789Z"}],"is_authority":true,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[]}}"#,
    r#"{"type":"RoomJoinFailed","data":{"reason":"Room is full","error_code":"ROOM_FULL"}}"#,
    r#"{"type":"RoomLeft"}"#,
    r#"{"type":"PlayerJoined","data":{"player":{"id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a","name":"Bob","is_authority":false,"is_ready":false,"connected_at":"2026-03-01T12:00:05.500Z"}}}"#,
    r#"{"type":"PlayerLeft","data":{"player_id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"}}"#,
    r#"{"type":"GameData","data":{"from_player":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","data":{"action":"move","x":100,"y":200}}}"#,
    r#"{"type":"GameDataBinary","data":{"from_player":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","encoding":"message_pack","payload":[129,161,120,1]}}"#,
    r#"{"type":"AuthorityChanged","data":{"authority_player":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a","you_are_authority":false}}"#,
    r#"{"type":"AuthorityResponse","data":{"granted":true,"reason":null}}"#,
    r#"{"type":"AuthorityResponse","data":{"granted":false,"reason":"Another player already has authority","error_code":"AUTHORITY_CONFLICT"}}"#,
    r#"{"type":"LobbyStateChanged","data":{"lobby_state":"lobby","ready_players":["6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70"],"all_ready":false}}"#,
    r#"{"type":"GameStarting","data":{"peer_connections":[{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","player_name":"Alice","is_authority":true,"relay_type":"matchbox","connection_info":{"type":"direct","host":"192.168.1.10","port":7777}},{"player_id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a","player_name":"Bob","is_authority":false,"relay_type":"matchbox"}]}}"#,
    r#"{"type":"Pong"}"#,
    r#"{"type":"Reconnected","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","game_name":"space-race","max_players":2,"supports_authority":true,"current_players":[],"is_authority":false,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[],"missed_events":[]}}"#,
    r#"{"type":"Reconnected","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","game_name":"space-race","max_players":2,"supports_authority":true,"current_players":[],"is_authority":false,"lobby_state":"finalized","ready_players":[],"relay_type":"matchbox","current_spectators":[],"missed_events":[{"type":"PlayerLeft","data":{"player_id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"}},{"type":"Pong"}],"reconnection_token":"00112233445566778899aabbccddeeff"}}"#,
    r#"{"type":"ReconnectionFailed","data":{"reason":"Invalid reconnection token","error_code":"RECONNECTION_TOKEN_INVALID"}}"#,
    r#"{"type":"PlayerReconnected","data":{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70"}}"#,
    r#"{"type":"SpectatorJoined","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","spectator_id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","game_name":"space-race","current_players":[{"id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"2026-03-01T12:00:00.123456789Z"}],"current_spectators":[{"id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","name":"Observer1","connected_at":"2026-03-01T12:01:00.500Z"}],"lobby_state":"waiting","reason":"joined"}}"#,
    r#"{"type":"SpectatorJoinFailed","data":{"reason":"Room not found","error_code":"ROOM_NOT_FOUND"}}"#,
    r#"{"type":"SpectatorLeft","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","reason":"voluntary_leave","current_spectators":[]}}"#,
    r#"{"type":"SpectatorLeft","data":{"current_spectators":[]}}"#,
    r#"{"type":"NewSpectatorJoined","data":{"spectator":{"id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","name":"Observer1","connected_at":"2026-03-01T12:01:00.500Z"},"current_spectators":[{"id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","name":"Observer1","connected_at":"2026-03-01T12:01:00.500Z"}],"reason":"joined"}}"#,
    r#"{"type":"SpectatorDisconnected","data":{"spectator_id":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f","reason":"disconnected","current_spectators":[]}}"#,
    r#"{"type":"Error","data":{"message":"Invalid client message","error_code":"INVALID_INPUT"}}"#,
    r#"{"type":"Error","data":{"message":"no code"}}"#,
    // Protocol v3 (PROTOCOL §12).
    r#"{"type":"ProtocolInfo","data":{"sdk_version":"0.14.0","capabilities":[],"game_data_formats":["json","message_pack"],"protocol_version":3,"min_protocol_version":2,"max_protocol_version":3,"transports":["websocket"],"max_outbound_message_size":1048576,"implementation_version":"signal-fish 0.1.0"}}"#,
    r#"{"type":"PlayerJoined","data":{"player":{"id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a","name":"Bob","is_authority":false,"is_ready":false,"connected_at":"2026-03-01T12:00:05.500Z","epoch":1,"seq":0}}}"#,
    r#"{"type":"PlayerLeft","data":{"player_id":"0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a","epoch":1,"final_seq":12}}"#,
    r#"{"type":"GameData","data":{"from_player":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","data":{"x":2},"seq":2,"epoch":1,"class":"latest","key":7}}"#,
    r#"{"type":"PlayerReconnected","data":{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","epoch":2}}"#,
    r#"{"type":"Reconnected","data":{"room_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","room_code":"HK7T3W","player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","game_name":"space-race","max_players":2,"supports_authority":true,"current_players":[{"id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"2026-03-01T12:00:00.123456789Z","epoch":2,"seq":0}],"is_authority":true,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[],"missed_events":[],"replay":"complete","sender_watermarks":[{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","epoch":2,"seq":0}],"reconnection_token":"0b1c2d3e4f5a69788796a5b4c3d2e1f0"}}"#,
    r#"{"type":"DeliveryReport","data":{"per_class":{"reliable":{"delivered":0,"abandoned":0,"unsupported_format":1},"latest":{"delivered":0,"superseded":0,"dropped_full":0,"abandoned":0,"unsupported_format":0},"volatile":{"delivered":0,"dropped":0,"abandoned":0,"unsupported_format":0}},"gaps":[{"from_player":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","epoch":1,"from_seq":5,"to_seq":5,"reason":"unsupported_format"}]}}"#,
];

#[test]
fn every_client_example_decodes_and_encodes_to_the_same_bytes() {
    let mut seen = std::collections::BTreeSet::new();
    for text in CLIENT_EXAMPLES {
        let message = ClientMessage::decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        seen.insert(message.type_name());
        assert_eq!(&message.encode(), text);
    }
    assert_eq!(seen.len(), CLIENT_MESSAGE_TYPES.len(), "an example for every client message");
}

#[test]
fn every_server_example_round_trips_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for text in SERVER_EXAMPLES {
        let message = ServerMessage::decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        seen.insert(message.type_name());
        assert_eq!(&message.to_json(), text);
        assert_eq!(ServerMessage::decode(&message.to_json()).unwrap(), message);
        assert_eq!(&message.to_bytes()[..], text.as_bytes());
    }
    assert_eq!(seen.len(), SERVER_MESSAGE_TYPES.len(), "an example for every server message");
}

#[test]
fn every_connection_info_variant_round_trips() {
    for info in [
        r#"{"type":"direct","host":"h","port":1}"#,
        r#"{"type":"unity_relay","allocation_id":"a","connection_data":"c","key":"k"}"#,
        r#"{"type":"relay","host":"h","port":2,"transport":"udp","allocation_id":"a","token":"t","client_id":3}"#,
        r#"{"type":"relay","host":"h","port":2,"transport":"auto","allocation_id":"a","token":"t"}"#,
        r#"{"type":"webrtc","sdp":"v=0","ice_candidates":["c"]}"#,
        r#"{"type":"webrtc","sdp":null,"ice_candidates":[]}"#,
        r#"{"type":"custom","data":{"a":[1,{"b":null}]}}"#,
        r#"{"type":"custom","data":null}"#,
    ] {
        let text = format!(r#"{{"type":"ProvideConnectionInfo","data":{{"connection_info":{info}}}}}"#);
        let message = ClientMessage::decode(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(message.encode(), text);
    }
}
