//! Ready toggles, game start and connection info (BEHAVIOUR §6, DECISIONS D9).

mod support;

use serde_json::json;
use support::*;

const READY: &str = r#"{"type":"PlayerReady"}"#;

#[test]
fn ready_outside_a_room_or_before_the_lobby_is_refused() {
    let mut h = Harness::new();
    let a = h.connect();
    assert_eq!(error_of(&h.send(a, READY).only(a)), ("Not in a room".into(), "NOT_IN_ROOM".into()));
    h.create(a, "g", "A", 2);
    assert_eq!(
        error_of(&h.send(a, READY).only(a)),
        (
            "Cannot change ready status. Room must be in lobby state (full with all players joined).".into(),
            "INVALID_ROOM_STATE".into()
        )
    );
}

#[test]
fn a_full_ready_round_finalizes_and_starts_the_game() {
    let mut h = Harness::new();
    let (a, b, s) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.send(a, r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"192.168.1.10","port":7777}}}"#);
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    h.join(b, "g", &code, "Bob");
    let (alice, bob) = (h.player_id(a), h.player_id(b));

    let out = h.send(a, READY);
    for member in [a, b, s] {
        assert_eq!(
            out.to(member),
            [
                json!({"type":"LobbyStateChanged","data":{"lobby_state":"lobby","ready_players":[alice],"all_ready":false}})
            ]
        );
    }
    // Toggle off and on again.
    let out = h.send(a, READY);
    assert_eq!(out.to(b)[0]["data"]["ready_players"], json!([]));
    h.send(a, READY);

    let out = h.send(b, READY);
    for member in [a, b, s] {
        let got = out.to(member);
        assert_eq!(
            got[0],
            json!({"type":"LobbyStateChanged","data":{"lobby_state":"finalized","ready_players":[alice, bob],"all_ready":true}})
        );
        assert_eq!(
            got[1],
            json!({"type":"GameStarting","data":{"peer_connections":[
                {"player_id":alice,"player_name":"Alice","is_authority":true,"relay_type":"matchbox",
                 "connection_info":{"type":"direct","host":"192.168.1.10","port":7777}},
                {"player_id":bob,"player_name":"Bob","is_authority":false,"relay_type":"matchbox"}]}})
        );
    }
    // Snapshots report the real state (D9).
    let c = h.connect();
    let watched = h
        .send_json(
            c,
            json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Cy"}}),
        )
        .only(c);
    assert_eq!(watched["data"]["lobby_state"], "finalized");
    assert_eq!(watched["data"]["current_players"][0]["is_ready"], true);
    // Ready toggles are closed once the game is starting.
    assert_eq!(error_of(&h.send(a, READY).only(a)).1, "INVALID_ROOM_STATE");
}

#[test]
fn leaving_during_the_lobby_returns_to_waiting_and_clears_ready() {
    let mut h = Harness::new();
    let (a, b, c) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.join(b, "g", &code, "Bob");
    h.send(a, READY);
    let out = h.send(b, r#"{"type":"LeaveRoom"}"#);
    let bob = h.player_id(b);
    assert_eq!(
        out.to(a),
        [
            json!({"type":"PlayerLeft","data":{"player_id":bob}}),
            json!({"type":"LobbyStateChanged","data":{"lobby_state":"waiting","ready_players":[],"all_ready":false}})
        ]
    );
    // A newcomer refills the lobby with nobody ready: Alice's old ready state is gone.
    let out = h.join(c, "g", &code, "Carol");
    let joined = &out.to(c)[0]["data"];
    assert_eq!(joined["lobby_state"], "waiting");
    assert_eq!(joined["ready_players"], json!([]));
    assert_eq!(out.to(a)[1]["data"]["lobby_state"], "lobby");
    let out = h.send(c, READY);
    assert_eq!(out.to(a)[0]["data"]["all_ready"], false, "Alice must ready again");
}

#[test]
fn a_single_seat_room_is_a_lobby_at_once() {
    let mut h = Harness::new();
    let a = h.connect();
    let out =
        h.send(a, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"Solo","max_players":1}}"#);
    assert_eq!(out.types(a), ["RoomJoined", "LobbyStateChanged"]);
    assert_eq!(out.to(a)[1]["data"]["lobby_state"], "lobby");
    let out = h.send(a, READY);
    assert_eq!(out.types(a), ["LobbyStateChanged", "GameStarting"]);
    assert_eq!(out.to(a)[0]["data"]["lobby_state"], "finalized");
}

#[test]
fn start_game_from_newer_sdks_is_accepted_once_the_game_starts() {
    const START: &str = r#"{"type":"StartGame"}"#;
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    assert_eq!(error_of(&h.send(a, START).only(a)), ("Not in a room".into(), "NOT_IN_ROOM".into()));
    let (code, _) = h.create(a, "g", "Alice", 2);
    h.join(b, "g", &code, "Bob");
    assert_eq!(
        error_of(&h.send(a, START).only(a)),
        ("Cannot start the game: it starts when every player is ready".into(), "INVALID_ROOM_STATE".into())
    );
    h.send(a, READY);
    let out = h.send(b, READY);
    assert_eq!(out.types(a), ["LobbyStateChanged", "GameStarting"]);
    assert!(h.send(a, START).nothing_to(a), "the game is already starting: nothing to say");
}

#[test]
fn connection_info_is_stored_silently_and_shown_in_snapshots() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let info = r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"relay","host":"r.example","port":9000,"allocation_id":"al","token":"tk"}}}"#;
    assert_eq!(error_of(&h.send(a, info).only(a)), ("Not in a room".into(), "NOT_IN_ROOM".into()));
    let (code, _) = h.create(a, "g", "Alice", 3);
    assert!(h.send(a, info).nothing_to(a));
    let out = h.join(b, "g", &code, "Bob");
    assert_eq!(
        out.to(b)[0]["data"]["current_players"][0]["connection_info"],
        json!({"type":"relay","host":"r.example","port":9000,"transport":"auto","allocation_id":"al","token":"tk"})
    );
    // Every connection-info variant is echoed as the protocol defines it.
    for (input, echoed) in [
        (json!({"type":"unity_relay","allocation_id":"a","connection_data":"c","key":"k"}), None),
        (
            json!({"type":"webrtc","ice_candidates":["c1"]}),
            Some(json!({"type":"webrtc","sdp":null,"ice_candidates":["c1"]})),
        ),
        (json!({"type":"custom","data":{"b":1,"a":[null]}}), None),
        (
            json!({"type":"relay","host":"h","port":1,"transport":"udp","allocation_id":"a","token":"t","client_id":7}),
            None,
        ),
    ] {
        h.send_json(a, json!({"type":"ProvideConnectionInfo","data":{"connection_info":input}}));
        let c = h.connect();
        let watched = h
            .send_json(c, json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"W"}}))
            .only(c);
        assert_eq!(watched["data"]["current_players"][0]["connection_info"], echoed.unwrap_or(input));
    }
}
