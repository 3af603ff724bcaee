//! End to end over real sockets: rooms, relay, lobby, authority, spectators, leaving,
//! reconnection, ordering under load.

mod support;

use serde_json::Value;
use support::{eventually, http, test_config, Client, TestServer};

/// Alice creates a room (`max_players`), Bob joins it; returns (alice, bob, RoomJoined of
/// Alice, RoomJoined of Bob). Alice has consumed Bob's `PlayerJoined`.
fn pair(server: &TestServer, max_players: u8) -> (Client, Client, Value, Value) {
    let mut alice = Client::connect(server);
    let mut bob = Client::connect(server);
    alice.send_json(&format!(
        r#"{{"type":"JoinRoom","data":{{"game_name":"demo","player_name":"Alice","max_players":{max_players}}}}}"#
    ));
    let a = alice.expect("RoomJoined");
    let b = bob.join("demo", "Bob", Some(a["room_code"].as_str().unwrap()));
    assert_eq!(alice.expect("PlayerJoined")["player"]["id"], b["player_id"]);
    (alice, bob, a, b)
}

#[test]
fn two_clients_meet_in_a_room_and_relay_game_data() {
    let server = TestServer::start(test_config());
    let mut alice = Client::connect(&server);
    let mut bob = Client::connect(&server);

    let joined = alice.join("demo", "Alice", None);
    let code = joined["room_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    assert_eq!(joined["is_authority"], true);

    let bob_joined = bob.join("demo", "Bob", Some(&code));
    assert_eq!(bob_joined["room_code"], code.as_str());
    assert_eq!(bob_joined["current_players"].as_array().unwrap().len(), 2);
    let player_joined = alice.expect("PlayerJoined");
    assert_eq!(player_joined["player"]["name"], "Bob");

    // Game data is relayed byte for byte, key order included, and not echoed.
    alice.send_json(r#"{"type":"GameData","data":{"data":{"z":1,"a":[true,null],"m":{"k":"v"}}}}"#);
    let relayed = bob.recv_text();
    let parsed: Value = serde_json::from_str(&relayed).unwrap();
    assert_eq!(parsed["type"], "GameData");
    assert_eq!(parsed["data"]["from_player"], joined["player_id"]);
    assert!(relayed.contains(r#"{"z":1,"a":[true,null],"m":{"k":"v"}}"#), "{relayed}");
    alice.send_json(r#"{"type":"Ping"}"#);
    alice.expect("Pong");
}

#[test]
fn lobby_fills_players_get_ready_and_the_game_starts() {
    let server = TestServer::start(test_config());
    let (mut alice, mut bob, a, b) = pair(&server, 2);
    for client in [&mut alice, &mut bob] {
        let lobby = client.expect("LobbyStateChanged");
        assert_eq!(
            (lobby["lobby_state"].as_str(), lobby["all_ready"].as_bool()),
            (Some("lobby"), Some(false))
        );
    }
    alice.send_json(r#"{"type":"PlayerReady"}"#);
    for client in [&mut alice, &mut bob] {
        let lobby = client.expect("LobbyStateChanged");
        assert_eq!(lobby["ready_players"], serde_json::json!([a["player_id"]]));
    }
    bob.send_json(r#"{"type":"PlayerReady"}"#);
    for client in [&mut alice, &mut bob] {
        let lobby = client.expect("LobbyStateChanged");
        assert_eq!(
            (lobby["lobby_state"].as_str(), lobby["all_ready"].as_bool()),
            (Some("finalized"), Some(true))
        );
        let starting = client.expect("GameStarting");
        let peers = starting["peer_connections"].as_array().unwrap();
        let mut ids: Vec<&Value> = peers.iter().map(|p| &p["player_id"]).collect();
        ids.sort_by_key(|v| v.to_string());
        let mut expected = vec![&a["player_id"], &b["player_id"]];
        expected.sort_by_key(|v| v.to_string());
        assert_eq!(ids, expected);
    }
}

#[test]
fn authority_is_released_and_claimed() {
    let server = TestServer::start(test_config());
    let (mut alice, mut bob, _a, b) = pair(&server, 8);
    bob.send_json(r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#);
    let denied = bob.expect("AuthorityResponse");
    assert_eq!(
        (denied["granted"].as_bool(), denied["error_code"].as_str()),
        (Some(false), Some("AUTHORITY_CONFLICT"))
    );
    alice.send_json(r#"{"type":"AuthorityRequest","data":{"become_authority":false}}"#);
    assert_eq!(alice.expect("AuthorityResponse")["granted"], true);
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.expect("AuthorityChanged")["authority_player"], Value::Null);
    }
    bob.send_json(r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#);
    assert_eq!(bob.expect("AuthorityResponse")["granted"], true);
    let changed = bob.expect("AuthorityChanged");
    assert_eq!(
        (&changed["authority_player"], changed["you_are_authority"].as_bool()),
        (&b["player_id"], Some(true))
    );
    let changed = alice.expect("AuthorityChanged");
    assert_eq!(
        (&changed["authority_player"], changed["you_are_authority"].as_bool()),
        (&b["player_id"], Some(false))
    );
}

#[test]
fn a_spectator_watches_the_room_and_leaves() {
    let server = TestServer::start(test_config());
    let (mut alice, mut bob, a, _b) = pair(&server, 8);
    let mut carol = Client::connect(&server);
    let code = a["room_code"].as_str().unwrap();
    carol.send_json(&format!(
        r#"{{"type":"JoinAsSpectator","data":{{"game_name":"demo","room_code":"{code}","spectator_name":"Carol"}}}}"#
    ));
    let joined = carol.expect("SpectatorJoined");
    assert_eq!(joined["current_players"].as_array().unwrap().len(), 2);
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.expect("NewSpectatorJoined")["spectator"]["name"], "Carol");
    }
    alice.send_json(r#"{"type":"GameData","data":{"data":{"tick":1}}}"#);
    assert_eq!(bob.expect("GameData")["data"]["tick"], 1);
    assert_eq!(carol.expect("GameData")["from_player"], a["player_id"]);
    carol.send_json(r#"{"type":"LeaveSpectator"}"#);
    assert_eq!(carol.expect("SpectatorLeft")["reason"], "voluntary_leave");
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.expect("SpectatorDisconnected")["spectator_id"], joined["spectator_id"]);
    }
}

#[test]
fn leaving_tells_the_others_and_hands_back_authority() {
    let server = TestServer::start(test_config());
    let (mut alice, mut bob, a, _b) = pair(&server, 8);
    alice.send_json(r#"{"type":"LeaveRoom"}"#);
    alice.expect("RoomLeft");
    assert_eq!(bob.expect("PlayerLeft")["player_id"], a["player_id"]);
    assert_eq!(bob.expect("AuthorityChanged")["authority_player"], Value::Null);
    // Alice can join another room on the same connection.
    assert_eq!(alice.join("other", "Alice", None)["game_name"], "other");
}

#[test]
fn a_dropped_player_reconnects_with_its_token_and_gets_what_it_missed() {
    let server = TestServer::start(test_config());
    let mut alice = Client::connect_path(&server, "/v2/ws?reconnection_token=true");
    let a = alice.join("demo", "Alice", None);
    let token = a["reconnection_token"].as_str().expect("opted in: token present").to_owned();
    assert_eq!(token.len(), 32);
    let mut bob = Client::connect(&server);
    let b = bob.join("demo", "Bob", Some(a["room_code"].as_str().unwrap()));
    assert!(b.get("reconnection_token").is_none(), "not opted in: no token");
    alice.expect("PlayerJoined");

    // The socket dies without LeaveRoom; the seat is kept.
    drop(alice);
    assert!(eventually(|| http(server.addr, "GET", "/metrics/prom", &[])
        .body
        .contains("\nsignal_fish_reconnection_sessions_active 1\n")));
    bob.send_json(r#"{"type":"GameData","data":{"data":{"while":"away"}}}"#);

    let mut alice = Client::connect_path(&server, "/v2/ws?reconnection_token=true");
    alice.send_json(&format!(
        r#"{{"type":"Reconnect","data":{{"player_id":"{}","room_id":"{}","auth_token":"{token}"}}}}"#,
        a["player_id"].as_str().unwrap(),
        a["room_id"].as_str().unwrap()
    ));
    let back = alice.expect("Reconnected");
    assert_eq!(back["player_id"], a["player_id"]);
    let missed = back["missed_events"].as_array().unwrap();
    assert_eq!(missed.len(), 1, "{back}");
    assert_eq!(missed[0]["data"]["data"]["while"], "away");
    assert_ne!(back["reconnection_token"].as_str().unwrap(), token, "tokens rotate");
    assert_eq!(bob.expect("PlayerReconnected")["player_id"], a["player_id"]);
}

#[test]
fn a_burst_arrives_complete_and_in_order() {
    let server = TestServer::start(test_config());
    let (mut alice, mut bob, _a, _b) = pair(&server, 8);
    const N: usize = 500;
    for i in 0..N {
        alice.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{{"seq":{i}}}}}}}"#));
    }
    for i in 0..N {
        assert_eq!(bob.expect("GameData")["data"]["seq"], i, "frame {i}");
    }
    let prom = http(server.addr, "GET", "/metrics/prom", &[]).body;
    let read: u64 = metric(&prom, "signal_fish_bytes_read_total");
    let written: u64 = metric(&prom, "signal_fish_bytes_written_total");
    assert!(read > (N * 40) as u64 && written > (N * 60) as u64, "read {read}, written {written}");
}

fn metric(text: &str, name: &str) -> u64 {
    let line =
        text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} missing"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}
