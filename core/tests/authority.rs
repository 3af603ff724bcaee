//! Authority requests (BEHAVIOUR §7, DECISIONS D12–D13).

mod support;

use serde_json::json;
use support::*;

const CLAIM: &str = r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#;
const RELEASE: &str = r#"{"type":"AuthorityRequest","data":{"become_authority":false}}"#;

fn denied(reason: &str, code: &str) -> serde_json::Value {
    json!({"type":"AuthorityResponse","data":{"granted":false,"reason":reason,"error_code":code}})
}

#[test]
fn release_claim_conflict_and_broadcasts() {
    let mut h = Harness::new();
    let (a, b, s) = (h.connect(), h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    h.send_json(
        s,
        json!({"type":"JoinAsSpectator","data":{"game_name":"g","room_code":code,"spectator_name":"Eve"}}),
    );
    let (alice, bob) = (h.player_id(a), h.player_id(b));

    assert_eq!(
        h.send(b, CLAIM).to(b),
        [denied("Another player already has authority", "AUTHORITY_CONFLICT")]
    );
    assert_eq!(
        h.send(b, RELEASE).to(b),
        [denied("You do not have authority to release", "AUTHORITY_DENIED")]
    );
    // Claiming what you hold is granted without a broadcast.
    let out = h.send(a, CLAIM);
    assert_eq!(out.texts(a), [r#"{"type":"AuthorityResponse","data":{"granted":true,"reason":null}}"#]);
    assert!(out.nothing_to(b));

    let out = h.send(a, RELEASE);
    assert_eq!(
        out.texts(a),
        [
            r#"{"type":"AuthorityResponse","data":{"granted":true,"reason":null}}"#.to_owned(),
            r#"{"type":"AuthorityChanged","data":{"authority_player":null,"you_are_authority":false}}"#
                .to_owned()
        ]
    );
    for member in [b, s] {
        assert_eq!(
            out.to(member),
            [json!({"type":"AuthorityChanged","data":{"authority_player":null,"you_are_authority":false}})]
        );
    }
    let out = h.send(b, CLAIM);
    assert_eq!(out.to(b)[0]["data"]["granted"], true);
    assert_eq!(
        out.to(b)[1],
        json!({"type":"AuthorityChanged","data":{"authority_player":bob,"you_are_authority":true}})
    );
    assert_eq!(
        out.to(a),
        [json!({"type":"AuthorityChanged","data":{"authority_player":bob,"you_are_authority":false}})]
    );
    assert_eq!(
        out.to(s),
        [json!({"type":"AuthorityChanged","data":{"authority_player":bob,"you_are_authority":false}})]
    );
    let _ = alice;
}

#[test]
fn holder_leaving_clears_authority_with_a_broadcast() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "g", "Alice", 3);
    h.join(b, "g", &code, "Bob");
    let out = h.drop_conn(a);
    assert_eq!(out.types(b), ["PlayerLeft", "AuthorityChanged"],);
    assert_eq!(out.to(b)[1]["data"], json!({"authority_player":null,"you_are_authority":false}));
    // Nobody holds it now, so Bob may claim it.
    assert_eq!(h.send(b, CLAIM).to(b)[0]["data"]["granted"], true);
}

#[test]
fn rooms_without_authority_and_players_without_rooms() {
    let mut h = Harness::new();
    let a = h.connect();
    assert_eq!(h.send(a, CLAIM).to(a), [denied("Not in a room", "NOT_IN_ROOM")]);
    h.send(a, r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"A","supports_authority":false}}"#);
    assert_eq!(
        h.send(a, CLAIM).to(a),
        [denied("Room does not support authority", "AUTHORITY_NOT_SUPPORTED")]
    );
}
