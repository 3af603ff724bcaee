//! End to end over real sockets: rooms, relay, lobby, authority, spectators, leaving.

mod support;

use support::{test_config, Client, TestServer};

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

    // Game data is relayed byte for byte, key order included.
    alice.send_json(r#"{"type":"GameData","data":{"data":{"z":1,"a":[true,null],"m":{"k":"v"}}}}"#);
    let relayed = bob.recv_text();
    let parsed: serde_json::Value = serde_json::from_str(&relayed).unwrap();
    assert_eq!(parsed["type"], "GameData");
    assert_eq!(parsed["data"]["from_player"], joined["player_id"]);
    assert!(relayed.contains(r#"{"z":1,"a":[true,null],"m":{"k":"v"}}"#), "{relayed}");
}
