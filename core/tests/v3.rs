//! Protocol v3, relay subset (PROTOCOL §12, DECISIONS D53–D56): negotiation, stamps,
//! delivery classes, reconnection with watermarks, and v2 bytes untouched beside it.

mod support;

use serde_json::{json, Value};
use signal_fish_core::{Config, ConnId};
use support::{error_of, secs, Harness};

/// Authenticates `conn` asking for `version` (none: the path's), returns what it got.
fn authenticate(h: &mut Harness, conn: ConnId, version: Option<u16>) -> Vec<Value> {
    let mut data = json!({"app_id":"any","sdk_version":"0.14.0"});
    if let Some(version) = version {
        data["protocol_version"] = json!(version);
    }
    h.send_json(conn, json!({"type":"Authenticate","data":data})).to(conn)
}

/// A connection that negotiated v3 on `/v2/ws`, as SDK 0.14's `enable_v3()` does.
fn connect_v3(h: &mut Harness) -> ConnId {
    let conn = h.connect();
    let got = authenticate(h, conn, Some(3));
    assert_eq!(got[1]["data"]["protocol_version"], 3, "{got:?}");
    conn
}

fn protocol_info(got: &[Value]) -> &Value {
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["type"], "Authenticated");
    assert_eq!(got[1]["type"], "ProtocolInfo");
    &got[1]["data"]
}

fn game_data(h: &mut Harness, conn: ConnId, data: Value) -> support::Output {
    h.send_json(conn, json!({"type":"GameData","data":data}))
}

#[test]
fn v3_is_negotiated_in_authenticate_and_announced_in_protocol_info() {
    let mut h = Harness::new();
    let conn = h.connect();
    let got = authenticate(&mut h, conn, Some(3));
    let info = protocol_info(&got);
    assert_eq!(info["protocol_version"], 3);
    assert_eq!(info["min_protocol_version"], 2);
    assert_eq!(info["max_protocol_version"], 3);
    assert_eq!(info["transports"], json!(["websocket"]));
    assert_eq!(info["max_outbound_message_size"], 1 << 20);
    assert!(info["implementation_version"].as_str().unwrap().starts_with("signal-fish "));
    assert_eq!(info["game_data_formats"], json!(["json", "message_pack"]));
    assert!(!info["capabilities"].as_array().unwrap().contains(&json!("room_operation_ids")));

    // A client asking for more than the server speaks gets the newest it does.
    let conn = h.connect();
    assert_eq!(protocol_info(&authenticate(&mut h, conn, Some(9)))["protocol_version"], 3);
    // Without a version, the path decides: /v3/ws is 3, /v2/ws is 2.
    let conn = h.connect_to("/v3/ws", "127.0.0.1");
    assert_eq!(protocol_info(&authenticate(&mut h, conn, None))["protocol_version"], 3);
}

#[test]
fn a_v2_client_gets_v2_protocol_info_without_any_v3_field() {
    let mut h = Harness::new();
    for asked in [None, Some(2)] {
        let conn = h.connect();
        let info = protocol_info(&authenticate(&mut h, conn, asked)).as_object().unwrap().clone();
        for key in [
            "protocol_version",
            "min_protocol_version",
            "max_protocol_version",
            "transports",
            "max_outbound_message_size",
            "implementation_version",
        ] {
            assert!(!info.contains_key(key), "v2 ProtocolInfo has {key}: {info:?}");
        }
    }
    // A server capped at 2 answers a v3 request in v2.
    let mut config = Config::default();
    config.protocol.max_protocol_version = 2;
    let mut h = Harness::with_config(config);
    let conn = h.connect_to("/v3/ws", "127.0.0.1");
    assert!(protocol_info(&authenticate(&mut h, conn, Some(3))).get("protocol_version").is_none());
}

#[test]
fn a_version_below_the_minimum_is_refused_and_the_connection_closed() {
    let mut config = Config::default();
    config.protocol.min_protocol_version = 3;
    let mut h = Harness::with_config(config);
    let conn = h.connect();
    let out = h.send_json(conn, json!({"type":"Authenticate","data":{"app_id":"a","protocol_version":2}}));
    assert_eq!(
        out.only(conn),
        json!({"type":"AuthenticationError","data":{
            "error":"Client protocol version 2 is below the server minimum 3",
            "error_code":"UNSUPPORTED_PROTOCOL_VERSION"}})
    );
    assert_eq!(out.close_code(conn), Some(1008));
    // Without a version, /v2/ws stands for 2: refused too (a v2 client must not get v3
    // fields); /v3/ws is accepted.
    let conn = h.connect();
    let out = h.send_json(conn, json!({"type":"Authenticate","data":{"app_id":"a"}}));
    assert_eq!(out.only(conn)["data"]["error_code"], "UNSUPPORTED_PROTOCOL_VERSION");
    let conn = h.connect_to("/v3/ws", "127.0.0.1");
    assert_eq!(protocol_info(&authenticate(&mut h, conn, None))["protocol_version"], 3);
}

#[test]
fn stamps_go_to_v3_recipients_and_v2_bytes_stay_as_they_were() {
    let mut h = Harness::new();
    let alice = connect_v3(&mut h);
    let bob = h.connect();
    let (code, joined) = h.create(alice, "g", "Alice", 4);
    assert_eq!(joined["current_players"][0]["epoch"], 1);
    assert_eq!(joined["current_players"][0]["seq"], 0);
    assert!(joined["reconnection_token"].is_string(), "v3 gets a token without opting in");

    let out = h.join(bob, "g", &code, "Bob");
    let bob_joined = &out.to(bob)[0]["data"];
    assert!(bob_joined["current_players"][0].get("epoch").is_none(), "v2 snapshot unchanged");
    assert!(bob_joined.get("reconnection_token").is_none());
    let announce = &out.to(alice)[0];
    assert_eq!(announce["type"], "PlayerJoined");
    assert_eq!(
        (announce["data"]["player"]["epoch"].clone(), announce["data"]["player"]["seq"].clone()),
        (json!(1), json!(0))
    );

    let alice_id = h.player_id(alice);
    let bob_id = h.player_id(bob);
    for n in 1..=3 {
        let out = game_data(&mut h, alice, json!({"data":{"n":n}}));
        assert_eq!(
            out.texts(bob),
            [format!(r#"{{"type":"GameData","data":{{"from_player":"{alice_id}","data":{{"n":{n}}}}}}}"#)],
            "a v2 recipient gets the v2 bytes"
        );
    }
    // A v2 sender is stamped too: a v3 recipient sees its seqs from 1.
    let out = game_data(&mut h, bob, json!({"data":"hi"}));
    assert_eq!(
        out.texts(alice),
        [format!(
            r#"{{"type":"GameData","data":{{"from_player":"{bob_id}","data":"hi","seq":1,"epoch":1}}}}"#
        )]
    );

    // A v3 newcomer's snapshot says where each sender stands.
    let carol = connect_v3(&mut h);
    let out = h.join(carol, "g", &code, "Carol");
    let players = &out.to(carol)[0]["data"]["current_players"];
    let stamps: Vec<(Value, Value)> =
        players.as_array().unwrap().iter().map(|p| (p["epoch"].clone(), p["seq"].clone())).collect();
    assert_eq!(stamps, [(json!(1), json!(3)), (json!(1), json!(1)), (json!(1), json!(0))]);
    let out = game_data(&mut h, alice, json!({"data":4}));
    assert_eq!(out.to(carol)[0]["data"]["seq"], 4, "the next seq after the snapshot's");
}

#[test]
fn leaving_ends_an_epoch_with_its_final_seq_and_a_rejoin_starts_the_next() {
    let mut h = Harness::new();
    let alice = connect_v3(&mut h);
    let bob = connect_v3(&mut h);
    let (code, _) = h.create(alice, "g", "Alice", 4);
    h.join(bob, "g", &code, "Bob");
    let bob_id = h.player_id(bob);
    game_data(&mut h, bob, json!({"data":1}));
    game_data(&mut h, bob, json!({"data":2}));
    let out = h.send_json(bob, json!({"type":"LeaveRoom"}));
    assert_eq!(
        out.only(alice),
        json!({"type":"PlayerLeft","data":{"player_id":bob_id,"epoch":1,"final_seq":2}})
    );
    let out = h.join(bob, "g", &code, "Bob");
    assert_eq!(out.only(alice)["data"]["player"]["epoch"], 2, "an epoch never repeats for a player id");
    let out = game_data(&mut h, bob, json!({"data":3}));
    assert_eq!(
        (out.to(alice)[0]["data"]["epoch"].clone(), out.to(alice)[0]["data"]["seq"].clone()),
        (json!(2), json!(1))
    );
}

#[test]
fn delivery_classes_are_checked_for_v3_senders_and_echoed_to_v3_recipients() {
    let mut h = Harness::new();
    let alice = connect_v3(&mut h);
    let bob = connect_v3(&mut h);
    let carl = h.connect();
    let (code, _) = h.create(alice, "g", "Alice", 4);
    h.join(bob, "g", &code, "Bob");
    h.join(carl, "g", &code, "Carl");

    let out = game_data(&mut h, alice, json!({"data":1,"class":"latest","key":7}));
    let to_bob = &out.to(bob)[0]["data"];
    assert_eq!(
        (to_bob["class"].clone(), to_bob["key"].clone(), to_bob["seq"].clone()),
        (json!("latest"), json!(7), json!(1))
    );
    assert!(out.to(carl)[0]["data"].get("class").is_none(), "v2 recipients never see v3 fields");

    for bad in [
        json!({"data":1,"class":"latest"}),
        json!({"data":1,"class":"volatile","key":1}),
        json!({"data":1,"class":"someday"}),
    ] {
        let out = game_data(&mut h, alice, bad);
        let (message, code) = error_of(&out.only(alice));
        assert_eq!(code, "INVALID_DELIVERY_CLASS");
        assert_eq!(
            message,
            "Invalid delivery class: latest requires a key; reliable and volatile forbid one"
        );
        assert!(out.nothing_to(bob), "a refused message is not relayed");
    }
    let out = game_data(&mut h, alice, json!({"data":2,"class":"volatile"}));
    assert_eq!(out.to(bob)[0]["data"]["seq"], 2, "refused messages take no seq");
    // v2 senders' extra fields are ignored, as v2 always did.
    let out = game_data(&mut h, carl, json!({"data":3,"class":"latest"}));
    assert_eq!(out.to(bob)[0]["data"]["seq"], 1);
    assert!(out.to(bob)[0]["data"].get("class").is_none());
}

#[test]
fn transport_status_is_ignored_and_signal_refused_on_v3_only() {
    let mut h = Harness::new();
    let alice = connect_v3(&mut h);
    let (_, _) = h.create(alice, "g", "Alice", 2);
    let status = json!({"type":"TransportStatus","data":{"transport":"relay","connected":true}});
    assert!(h.send_json(alice, status.clone()).nothing_to(alice));
    let out = h.send_json(alice, json!({"type":"Signal","data":{"target":"x","signal":{}}}));
    let (message, code) = error_of(&out.only(alice));
    assert_eq!(
        (message.as_str(), code.as_str()),
        ("WebRTC transport was not negotiated for this connection", "UNSUPPORTED_TRANSPORT")
    );

    let carl = h.connect();
    let out = h.send_json(carl, status);
    assert_eq!(error_of(&out.only(carl)), ("Invalid client message".to_owned(), "INVALID_INPUT".to_owned()));
}

#[test]
fn a_v3_player_reconnects_without_opting_in_and_gets_watermarks_not_game_data() {
    let mut config = Config::default();
    // Bob stays connected through the reservation window without pinging.
    config.server.ping_timeout = 1000;
    let mut h = Harness::with_config(config);
    let alice = connect_v3(&mut h);
    let bob = connect_v3(&mut h);
    let (code, joined) = h.create(alice, "g", "Alice", 2);
    let token = joined["reconnection_token"].as_str().unwrap().to_owned();
    let room_id = joined["room_id"].as_str().unwrap().to_owned();
    h.join(bob, "g", &code, "Bob");
    let (alice_id, bob_id) = (h.player_id(alice), h.player_id(bob));
    game_data(&mut h, alice, json!({"data":1}));

    let out = h.drop_conn(alice);
    assert!(out.nothing_to(bob), "the seat is kept: nobody is told yet");
    game_data(&mut h, bob, json!({"data":"missed"}));
    game_data(&mut h, bob, json!({"data":"missed too"}));
    h.send_json(bob, json!({"type":"PlayerReady"}));

    let back = connect_v3(&mut h);
    let out = h.send_json(
        back,
        json!({"type":"Reconnect","data":{"player_id":alice_id,"room_id":room_id,"auth_token":token}}),
    );
    let resumed = out.only(back);
    assert_eq!(resumed["type"], "Reconnected");
    let data = &resumed["data"];
    assert_eq!(data["replay"], "complete");
    let missed: Vec<&str> =
        data["missed_events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(missed, ["LobbyStateChanged"], "room control only, no game data");
    assert_eq!(
        data["sender_watermarks"],
        json!([{"player_id":alice_id,"epoch":2,"seq":0},{"player_id":bob_id,"epoch":1,"seq":2}])
    );
    let stamps: Vec<(Value, Value)> = data["current_players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["epoch"].clone(), p["seq"].clone()))
        .collect();
    assert_eq!(stamps, [(json!(2), json!(0)), (json!(1), json!(2))], "watermarks equal the snapshot");
    let rotated = data["reconnection_token"].as_str().unwrap();
    assert!(!rotated.is_empty() && rotated != token);
    assert_eq!(out.only(bob), json!({"type":"PlayerReconnected","data":{"player_id":alice_id,"epoch":2}}));

    let out = game_data(&mut h, back, json!({"data":"again"}));
    let to_bob = &out.to(bob)[0]["data"];
    assert_eq!((to_bob["epoch"].clone(), to_bob["seq"].clone()), (json!(2), json!(1)));
    let out = game_data(&mut h, bob, json!({"data":"next"}));
    assert_eq!(out.to(back)[0]["data"]["seq"], 3, "after the watermark");

    // The seat expires at last: PlayerLeft carries the epoch that ended (then authority
    // and the lobby round go, as on v2).
    h.drop_conn(back);
    let out = h.advance(secs(301));
    assert_eq!(
        out.to(bob)[0],
        json!({"type":"PlayerLeft","data":{"player_id":alice_id,"epoch":2,"final_seq":1}})
    );
}

#[test]
fn binary_game_data_gets_the_v3_envelope_and_a_report_where_json_cannot_carry_it() {
    let mut h = Harness::new();
    let msgpack_auth = json!({"type":"Authenticate","data":{"app_id":"a","protocol_version":3,"game_data_format":"message_pack"}});
    let alice = h.connect();
    h.send_json(alice, msgpack_auth.clone());
    let bob = h.connect();
    h.send_json(bob, msgpack_auth);
    let carol = connect_v3(&mut h);
    let (code, _) = h.create(alice, "g", "Alice", 3);
    h.join(bob, "g", &code, "Bob");
    h.join(carol, "g", &code, "Carol");
    let alice_id = h.player_id(alice);

    // {"n":1}
    let out = h.send_binary(alice, &[0x81, 0xa1, b'n', 0x01]);
    let frame = &out.binaries(bob)[0];
    assert_eq!(frame[0], 0x85, "a 5-entry map");
    assert!(frame.ends_with(&[0xa3, b's', b'e', b'q', 0x01, 0xa5, b'e', b'p', b'o', b'c', b'h', 0x01]));
    assert_eq!(
        out.texts(carol),
        [format!(
            r#"{{"type":"GameData","data":{{"from_player":"{alice_id}","data":{{"n":1}},"seq":1,"epoch":1}}}}"#
        )]
    );

    // A bin value has no JSON form: Carol is told seq 2 will not come.
    let out = h.send_binary(alice, &[0xc4, 0x01, 0x00]);
    assert_eq!(out.binaries(bob).len(), 1);
    assert_eq!(
        out.only(carol),
        json!({"type":"DeliveryReport","data":{
            "per_class":{
                "reliable":{"delivered":0,"abandoned":0,"unsupported_format":1},
                "latest":{"delivered":0,"superseded":0,"dropped_full":0,"abandoned":0,"unsupported_format":0},
                "volatile":{"delivered":0,"dropped":0,"abandoned":0,"unsupported_format":0}},
            "gaps":[{"from_player":alice_id,"epoch":1,"from_seq":2,"to_seq":2,"reason":"unsupported_format"}]}})
    );
    let out = h.send_binary(alice, &[0xc4, 0x01, 0x00]);
    assert_eq!(out.only(carol)["data"]["per_class"]["reliable"]["unsupported_format"], 2, "cumulative");
    let out = h.send_binary(alice, &[0x02]);
    assert_eq!(out.only(carol)["data"]["seq"], 4);
}

#[test]
fn v3_spectators_get_stamped_snapshots_and_game_data() {
    let mut h = Harness::new();
    let alice = h.connect();
    let (code, _) = h.create(alice, "g", "Alice", 2);
    game_data(&mut h, alice, json!({"data":1}));
    let watcher = connect_v3(&mut h);
    let out = h.send_json(
        watcher,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    let joined = out.only(watcher);
    assert_eq!(joined["type"], "SpectatorJoined");
    assert_eq!(
        (
            joined["data"]["current_players"][0]["epoch"].clone(),
            joined["data"]["current_players"][0]["seq"].clone()
        ),
        (json!(1), json!(1))
    );
    let out = game_data(&mut h, alice, json!({"data":2}));
    assert_eq!(out.only(watcher)["data"]["seq"], 2);
}

#[test]
fn a_seat_is_resumed_only_in_the_version_it_was_taken_with() {
    let mut h = Harness::new();
    let alice = connect_v3(&mut h);
    let (_, joined) = h.create(alice, "g", "Alice", 2);
    let token = joined["reconnection_token"].as_str().unwrap().to_owned();
    let room_id = joined["room_id"].as_str().unwrap().to_owned();
    let alice_id = h.player_id(alice);
    h.drop_conn(alice);
    let reconnect =
        json!({"type":"Reconnect","data":{"player_id":alice_id,"room_id":room_id,"auth_token":token}});
    let v2 = h.connect_opted_in();
    let out = h.send_json(v2, reconnect.clone());
    assert_eq!(
        out.only(v2),
        json!({"type":"ReconnectionFailed","data":{
            "reason":"The seat was taken with another protocol version; reconnect with the same one",
            "error_code":"RECONNECTION_FAILED"}})
    );
    let v3 = connect_v3(&mut h);
    assert_eq!(h.send_json(v3, reconnect).only(v3)["type"], "Reconnected", "the seat is still there");
}

#[test]
fn authenticating_from_inside_a_room_keeps_the_version() {
    // Without required authentication a client may join first and authenticate later.
    let mut h = Harness::new();
    let alice = h.connect();
    let (_, joined) = h.create(alice, "g", "Alice", 2);
    assert!(joined.get("reconnection_token").is_none());
    let got = authenticate(&mut h, alice, Some(3));
    assert!(protocol_info(&got).get("protocol_version").is_none(), "still v2: {got:?}");
    let bob = connect_v3(&mut h);
    let code = joined["room_code"].as_str().unwrap().to_owned();
    let out = h.join(bob, "g", &code, "Bob");
    assert!(out.to(alice)[0]["data"]["player"].get("epoch").is_none(), "alice gets v2 bytes");
}
