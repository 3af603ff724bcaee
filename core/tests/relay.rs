//! Game-data relay, JSON and MessagePack (BEHAVIOUR §8, PROTOCOL §2.2, DECISIONS D21).

mod support;

use serde_json::json;
use signal_fish_core::Config;
use support::*;

fn room_of_three(h: &mut Harness) -> [signal_fish_core::ConnId; 4] {
    let (a, b, c, s) = (h.connect(), h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.join(c, "g", &code, "Carol");
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    [a, b, c, s]
}

#[test]
fn json_payload_is_spliced_byte_for_byte_without_echo() {
    let mut h = Harness::new();
    let [a, b, c, s] = room_of_three(&mut h);
    let payload = r#"{"z": 1, "a":[1.50,"é\u00e9"] ,"n":null}"#;
    let out = h.send(a, &format!(r#"{{"type":"GameData","data":{{"data":{payload}}}}}"#));
    let expected =
        format!(r#"{{"type":"GameData","data":{{"from_player":"{}","data":{payload}}}}}"#, h.player_id(a));
    for member in [b, c, s] {
        assert_eq!(out.texts(member), std::slice::from_ref(&expected), "member {member}");
    }
    assert!(out.nothing_to(a), "no echo to the sender");
    assert_eq!(h.engine().counters().game_data_messages_total, 1);
    assert_eq!(h.engine().counters().game_data_deliveries_total, 3);
    for scalar in ["null", "7", "\"text\"", "[1,2]", "true"] {
        let out = h.send(b, &format!(r#"{{"type":"GameData","data":{{"data":{scalar}}}}}"#));
        assert!(out.texts(a)[0].ends_with(&format!(r#","data":{scalar}}}}}"#)));
    }
}

#[test]
fn game_data_outside_a_room_or_from_spectators_is_dropped_silently() {
    let mut h = Harness::new();
    let [_, b, _, s] = room_of_three(&mut h);
    let lonely = h.connect();
    let data = r#"{"type":"GameData","data":{"data":1}}"#;
    let out = h.send(lonely, data);
    assert!(out.0.is_empty(), "{:?}", out.0);
    let out = h.send(s, data);
    assert!(out.nothing_to(b) && out.nothing_to(s));
}

fn msgpack_auth(h: &mut Harness, conn: signal_fish_core::ConnId) {
    let out =
        h.send(conn, r#"{"type":"Authenticate","data":{"app_id":"x","game_data_format":"message_pack"}}"#);
    assert_eq!(out.types(conn), ["Authenticated", "ProtocolInfo"]);
}

#[test]
fn binary_game_data_reaches_msgpack_and_json_recipients() {
    let mut h = Harness::new();
    let (a, b, c) = (h.connect(), h.connect(), h.connect());
    msgpack_auth(&mut h, a);
    msgpack_auth(&mut h, b);
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.join(c, "g", &code, "Carol");
    // msgpack {"pos":[1,2],"n":"x"}
    let payload = [0x82, 0xa3, b'p', b'o', b's', 0x92, 0x01, 0x02, 0xa1, b'n', 0xa1, b'x'];
    let out = h.send_binary(a, &payload);
    let alice: uuid::Uuid = h.player_id(a).parse().unwrap();
    let mut frame = vec![0x83, 0xab];
    frame.extend_from_slice(b"from_player");
    frame.extend_from_slice(&[0xc4, 0x10]);
    frame.extend_from_slice(alice.as_bytes());
    frame.push(0xa8);
    frame.extend_from_slice(b"encoding");
    frame.push(0xac);
    frame.extend_from_slice(b"message_pack");
    frame.push(0xa7);
    frame.extend_from_slice(b"payload");
    frame.extend_from_slice(&[0xc4, payload.len() as u8]);
    frame.extend_from_slice(&payload);
    assert_eq!(out.binaries(b), [frame]);
    assert_eq!(
        out.texts(c),
        [format!(
            r#"{{"type":"GameData","data":{{"from_player":"{alice}","data":{{"n":"x","pos":[1,2]}}}}}}"#
        )]
    );
    assert!(out.nothing_to(a));

    // A payload with no JSON form reaches MessagePack recipients and is counted for JSON ones.
    let out = h.send_binary(a, &[0xc4, 0x01, 0xff]);
    assert_eq!(out.binaries(b).len(), 1);
    assert!(out.nothing_to(c));
    assert_eq!(h.engine().counters().game_data_untranslatable_total, 1);
    // JSON game data from a MessagePack sender is text for everyone.
    let out = h.send(a, r#"{"type":"GameData","data":{"data":[1]}}"#);
    assert_eq!(out.texts(b).len(), 1);
    assert_eq!(out.texts(c).len(), 1);
}

#[test]
fn binary_frames_are_refused_on_json_connections_and_when_too_large() {
    let mut config = Config::default();
    config.security.max_message_size = 100;
    let mut h = Harness::with_config(config);
    let (a, b) = (h.connect(), h.connect());
    let out = h.send_binary(a, &[0x01]);
    assert_eq!(
        error_of(&out.only(a)),
        ("Binary payloads are disabled for this connection".into(), "INVALID_INPUT".into())
    );
    assert_eq!(out.close_code(a), None);
    msgpack_auth(&mut h, b);
    let out = h.send_binary(b, &[0u8; 101]);
    assert_eq!(
        error_of(&out.only(b)),
        ("Binary payload exceeded maximum size (100 bytes)".into(), "MESSAGE_TOO_LARGE".into())
    );
    // Not in a room: silently dropped.
    assert!(h.send_binary(b, &[0x01]).nothing_to(b));
}

#[test]
fn per_sender_order_is_kept() {
    let mut h = Harness::new();
    let [a, b, _, _] = room_of_three(&mut h);
    let mut received = Vec::new();
    for i in 0..50 {
        let out = h.send(a, &format!(r#"{{"type":"GameData","data":{{"data":{i}}}}}"#));
        received.extend(out.to(b).into_iter().map(|v| v["data"]["data"].as_i64().unwrap()));
    }
    assert_eq!(received, (0..50).collect::<Vec<_>>());
}
