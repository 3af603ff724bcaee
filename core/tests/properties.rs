//! Properties: codec round trips, room codes, tokens, rate-limit laws, and random
//! operation sequences that pass every check of the shared driver.

mod support;

use proptest::prelude::*;
use signal_fish_core::protocol::{
    Authenticate, ClientMessage, JoinAsSpectator, JoinRoom, RawJsonRef, Reconnect,
};
use signal_fish_core::testkit::{ops_from_bytes, OpRunner};
use signal_fish_core::{Config, Engine, EngineRng, Instant, ROOM_CODE_ALPHABET};
use support::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn client_message() -> impl Strategy<Value = String> {
    let uuid = any::<u128>().prop_map(uuid::Uuid::from_u128);
    prop_oneof![
        (text(), proptest::option::of(text()), proptest::option::of(text())).prop_map(
            |(app_id, sdk_version, platform)| {
                ClientMessage::Authenticate(Authenticate {
                    app_id,
                    sdk_version,
                    platform,
                    game_data_format: None,
                    protocol_version: None,
                })
                .encode()
            }
        ),
        (
            text(),
            proptest::option::of(text()),
            text(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(game_name, room_code, player_name, max_players, supports_authority)| {
                ClientMessage::JoinRoom(JoinRoom {
                    game_name,
                    room_code,
                    player_name,
                    max_players,
                    supports_authority,
                    relay_transport: None,
                })
                .encode()
            }),
        any::<bool>().prop_map(|b| ClientMessage::AuthorityRequest { become_authority: b }.encode()),
        (uuid.clone(), uuid, text()).prop_map(|(player_id, room_id, auth_token)| {
            ClientMessage::Reconnect(Reconnect { player_id, room_id, auth_token }).encode()
        }),
        (text(), text(), text()).prop_map(|(game_name, room_code, spectator_name)| {
            ClientMessage::JoinAsSpectator(JoinAsSpectator { game_name, room_code, spectator_name }).encode()
        }),
        any::<i64>().prop_map(|n| format!(r#"{{"type":"GameData","data":{{"data":[{n},"x"]}}}}"#)),
        prop_oneof![Just("LeaveRoom"), Just("PlayerReady"), Just("Ping"), Just("LeaveSpectator")]
            .prop_map(|t| format!(r#"{{"type":"{t}"}}"#)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn client_messages_round_trip(text in client_message()) {
        let decoded = ClientMessage::decode(&text).expect("encoded messages decode");
        prop_assert_eq!(decoded.encode(), text);
    }

    #[test]
    fn arbitrary_text_never_panics_the_decoder(text in "\\PC{0,64}") {
        let _ = ClientMessage::decode(&text);
    }

    #[test]
    fn game_data_payload_is_kept_verbatim(n in any::<i64>(), s in "[a-z ]{0,8}") {
        let payload = format!(r#"{{ "s" : "{s}", "n":{n} }}"#);
        let text = format!(r#"{{"type":"GameData","data":{{"data":{payload}}}}}"#);
        match ClientMessage::decode(&text).unwrap() {
            ClientMessage::GameData { data, .. } => prop_assert_eq!(RawJsonRef::get(&data), payload.as_str()),
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }

    #[test]
    fn room_codes_use_the_alphabet(seed in any::<[u8; 32]>(), length in 1usize..20) {
        let mut rng = EngineRng::from_seed(seed);
        let code = rng.room_code(length);
        prop_assert_eq!(code.len(), length);
        prop_assert!(code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b)));
    }

    #[test]
    fn tokens_are_unique_128_bit_hex(seed in any::<[u8; 32]>()) {
        let mut rng = EngineRng::from_seed(seed);
        let tokens: std::collections::BTreeSet<String> = (0..64).map(|_| rng.token()).collect();
        prop_assert_eq!(tokens.len(), 64);
        prop_assert!(tokens.iter().all(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn generated_room_codes_are_unique_per_game(seed in any::<[u8; 32]>()) {
        let mut config = Config::default();
        config.protocol.room_code_length = 4;
        config.security.max_connections_per_ip = 1000;
        config.rate_limit.max_room_creations = 1000;
        let mut h = Harness::with_seed(config, seed);
        let mut codes = std::collections::BTreeSet::new();
        for i in 0..60 {
            let c = h.connect();
            let (code, _) = h.create(c, "g", &format!("P{i}"), 2);
            prop_assert!(code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b)));
            prop_assert!(codes.insert(code));
        }
    }

    /// The fixed-window limiter agrees with a reference model for any timing.
    #[test]
    fn rate_limit_matches_the_fixed_window_model(
        steps in proptest::collection::vec((0u64..40, any::<bool>()), 1..60),
        max_creations in 1u32..4,
        max_joins in 0u32..6,
    ) {
        let mut config = Config::default();
        config.rate_limit.max_room_creations = max_creations;
        config.rate_limit.max_join_attempts = max_joins;
        config.rate_limit.time_window = 30;
        config.server.ping_timeout = 100_000;
        config.security.max_connections_per_ip = 1000;
        config.server.max_rooms_per_game = 100_000;
        config.protocol.max_players_limit = 100;
        let mut h = Harness::with_config(config);
        // Joins go into a room created from another address (its own window); a
        // `JoinRoom` with a code that names no room would be a creation.
        let host = h.connect_to("/v2/ws", "10.9.9.9");
        let created = h.send(host, r#"{"type":"JoinRoom","data":{"game_name":"g","room_code":"HOST01","player_name":"Host","max_players":100}}"#);
        prop_assert_eq!(&created.only(host)["type"], "RoomJoined");
        let (mut start, mut creations, mut joins): (Option<u64>, u32, u32) = (None, 0, 0);
        let mut elapsed = 0u64;
        for (i, (wait, create)) in steps.into_iter().enumerate() {
            h.advance(secs(wait));
            elapsed += wait;
            if start.is_none_or(|s| elapsed - s >= 30) {
                start = Some(elapsed);
                creations = 0;
                joins = 0;
            }
            let expect_ok = if create { creations < max_creations } else { joins < max_joins };
            if expect_ok {
                if create { creations += 1; }
                joins += 1;
            }
            let c = h.connect();
            let text = if create {
                format!(r#"{{"type":"JoinRoom","data":{{"game_name":"g","player_name":"P{i}"}}}}"#)
            } else {
                format!(r#"{{"type":"JoinRoom","data":{{"game_name":"g","room_code":"HOST01","player_name":"P{i}"}}}}"#)
            };
            let reply = h.send(c, &text).only(c);
            prop_assert_eq!(reply["type"] == "RoomJoined", expect_ok, "step {}: {}", i, reply);
            if !expect_ok {
                prop_assert_eq!(&reply["data"]["error_code"], "RATE_LIMIT_EXCEEDED");
            }
        }
    }

    /// Any sequence of the shared operations passes every check of the shared driver
    /// (no panic, invariants, nothing after a close, no timer left due, every HTTP request
    /// answered) and of the clients (game data in order, membership as told).
    #[test]
    fn random_operation_sequences_pass_every_check(bytes in proptest::collection::vec(any::<u8>(), 0..3000), seed in any::<[u8; 32]>()) {
        let mut config = Config::default();
        config.server.event_buffer_size = 4;
        config.server.ping_timeout = 60;
        config.server.reconnection_window = 120;
        config.server.empty_room_timeout = 100;
        let mut runner = OpRunner::new(Engine::new(config, seed, Instant::ZERO, UNIX_MS), Instant::ZERO);
        for op in ops_from_bytes(&bytes, 120) {
            runner.apply(&op);
            if let Err(problem) = runner.check() {
                prop_assert!(false, "{} after {:?}", problem, op);
            }
        }
    }
}
