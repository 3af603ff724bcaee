//! Spectators (BEHAVIOUR §11, DECISIONS D14).

mod support;

use serde_json::json;
use signal_fish_core::Config;
use support::*;

fn spectate(h: &mut Harness, conn: signal_fish_core::ConnId, code: &str, name: &str) -> Output {
    h.send_json(
        conn,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":name}}),
    )
}

#[test]
fn join_watch_and_leave() {
    let mut h = Harness::new();
    let (a, s1, s2) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    let out = spectate(&mut h, s1, &code.to_lowercase(), "Eve");
    let joined = out.only(s1);
    let eve = h.player_id(s1);
    assert_eq!(joined["type"], "SpectatorJoined");
    assert_eq!(joined["data"]["spectator_id"], eve.as_str());
    assert_eq!(joined["data"]["room_code"], code.as_str());
    assert_eq!(joined["data"]["reason"], "joined");
    assert_eq!(joined["data"]["current_players"][0]["name"], "Alice");
    assert_eq!(joined["data"]["current_spectators"][0]["id"], eve.as_str());
    let announce = out.only(a);
    assert_eq!(announce["type"], "NewSpectatorJoined");
    assert_eq!(announce["data"]["spectator"]["name"], "Eve");
    assert_eq!(announce["data"]["reason"], "joined");

    let out = spectate(&mut h, s2, &code, "Finn");
    assert_eq!(out.to(s1)[0]["type"], "NewSpectatorJoined", "spectators see other spectators arrive");
    assert_eq!(out.to(s1)[0]["data"]["current_spectators"].as_array().unwrap().len(), 2);

    let out = h.send(s1, r#"{"type":"LeaveSpectator"}"#);
    let left = out.only(s1);
    assert_eq!(left["type"], "SpectatorLeft");
    assert_eq!(left["data"]["reason"], "voluntary_leave");
    assert_eq!(left["data"]["room_code"], code.as_str());
    assert_eq!(left["data"]["current_spectators"].as_array().unwrap().len(), 1);
    for member in [a, s2] {
        let gone = out.only(member);
        assert_eq!(gone["type"], "SpectatorDisconnected");
        assert_eq!(gone["data"]["spectator_id"], eve.as_str());
        assert_eq!(gone["data"]["reason"], "voluntary_leave");
    }
    let out = h.drop_conn(s2);
    assert_eq!(out.only(a)["data"]["reason"], "disconnected");
}

#[test]
fn spectator_failures() {
    let mut config = Config::default();
    config.server.max_spectators_per_room = 1;
    let mut h = Harness::with_config(config);
    let (a, s1, s2) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    let failed = |v: serde_json::Value| {
        assert_eq!(v["type"], "SpectatorJoinFailed", "{v}");
        (
            v["data"]["reason"].as_str().unwrap().to_owned(),
            v["data"]["error_code"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(failed(spectate(&mut h, s1, &code, " Eve").only(s1)).1, "INVALID_PLAYER_NAME");
    assert_eq!(
        failed(spectate(&mut h, s1, "ZZZZZZ", "Eve").only(s1)),
        ("Room not found".into(), "ROOM_NOT_FOUND".into())
    );
    assert_eq!(
        failed(spectate(&mut h, a, &code, "Al").only(a)),
        ("Already in a room".into(), "ALREADY_IN_ROOM".into())
    );
    spectate(&mut h, s1, &code, "Eve");
    assert_eq!(failed(spectate(&mut h, s1, &code, "Eve").only(s1)).1, "ALREADY_IN_ROOM");
    assert_eq!(
        failed(spectate(&mut h, s2, &code, "Finn").only(s2)),
        ("Spectator limit reached".into(), "TOO_MANY_SPECTATORS".into())
    );
    // A spectator cannot also be a player.
    let reply = h.send(s1, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"Eve"}}"#).only(s1);
    assert_eq!(join_failure(&reply).1, "ALREADY_IN_ROOM");
    assert_eq!(
        error_of(&h.send(s2, r#"{"type":"LeaveSpectator"}"#).only(s2)),
        ("You are not currently spectating a room".into(), "NOT_A_SPECTATOR".into())
    );
    // Spectators are not players: ready gets NOT_IN_ROOM.
    assert_eq!(error_of(&h.send(s1, r#"{"type":"PlayerReady"}"#).only(s1)).1, "NOT_IN_ROOM");
}

#[test]
fn spectators_receive_room_broadcasts() {
    let mut h = Harness::new();
    let (a, b, s) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 2);
    spectate(&mut h, s, &code, "Eve");
    let out = h.join(b, "g", &code, "Bob");
    assert_eq!(out.types(s), ["PlayerJoined", "LobbyStateChanged"]);
    let out = h.send(a, r#"{"type":"GameData","data":{"data":{"x":1}}}"#);
    assert_eq!(out.types(s), ["GameData"]);
    let out = h.send(b, r#"{"type":"LeaveRoom"}"#);
    assert_eq!(out.types(s), ["PlayerLeft", "LobbyStateChanged"]);
}
