//! End to end over real sockets: connection caps, message size limits, slow consumers,
//! authentication on and off, liveness timeout, WebSocket control frames, shutdown.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use signal_fish_core::config::AuthorizedApp;
use support::{eventually, prom_metric, test_config, Client, TestServer, IO_TIMEOUT};
use tungstenite::Message;

#[test]
fn the_per_ip_cap_refuses_with_an_error_then_1008() {
    let mut config = test_config();
    config.security.max_connections_per_ip = 2;
    let server = TestServer::start(config);
    let mut first = Client::connect(&server);
    let _second = Client::connect(&server);
    let mut third = Client::connect(&server);
    let error = third.expect("Error");
    assert_eq!(error["error_code"], "TOO_MANY_CONNECTIONS");
    assert_eq!(error["message"], "Too many connections from your IP (2/2)");
    assert_eq!(third.expect_close().0, 1008);
    // Another source address has its own allowance; the first client is unaffected.
    let mut other = Client::connect_from(server.addr, "/v2/ws", Some("127.0.0.2"));
    other.send_json(r#"{"type":"Ping"}"#);
    other.expect("Pong");
    first.send_json(r#"{"type":"Ping"}"#);
    first.expect("Pong");
}

#[test]
fn frames_above_the_limit_get_an_error_and_above_the_hard_cap_close_1009() {
    let mut config = test_config();
    config.security.max_message_size = 1024;
    assert_eq!(config.hard_message_cap(), 4096);
    let server = TestServer::start(config);
    let padded = |len: usize| {
        let text = format!(r#"{{"type":"Ping","pad":"{}"}}"#, "x".repeat(len - 24));
        assert_eq!(text.len(), len);
        text
    };

    let mut client = Client::connect(&server);
    client.send_json(&padded(2000));
    let error = client.expect("Error");
    assert_eq!(error["error_code"], "MESSAGE_TOO_LARGE");
    client.send_json(&padded(1000));
    client.expect("Pong");
    client.send_json(&padded(5000));
    assert_eq!(client.expect_close().0, 1009);

    let mut binary = Client::connect(&server);
    binary.send(Message::binary(vec![0u8; 5000]));
    assert_eq!(binary.expect_close().0, 1009);
    assert!(eventually(|| prom_metric(server.addr, "signal_fish_connections_active") == 0));
}

#[test]
fn a_client_that_does_not_read_is_closed_with_1008() {
    let mut config = test_config();
    config.websocket.max_outbound_queue_bytes = 4096;
    let server = TestServer::start(config);
    let mut alice = Client::connect(&server);
    let code = alice.join("demo", "Alice", None)["room_code"].as_str().unwrap().to_owned();
    let mut slow = Client::connect(&server);
    slow.join("demo", "Slow", Some(&code));
    alice.expect("PlayerJoined");

    // Alice talks; Slow reads nothing until the server gives up on it.
    let payload = "y".repeat(16 * 1024);
    let message = format!(r#"{{"type":"GameData","data":{{"data":"{payload}"}}}}"#);
    let mut sent = 0;
    while prom_metric(server.addr, "signal_fish_slow_consumers_closed_total") == 0 {
        assert!(sent < 4000, "no slow-consumer close after {sent} messages");
        for _ in 0..50 {
            alice.send_json(&message);
        }
        sent += 50;
    }
    // Slow gets what the writer had already taken, then the 1008. That may be nothing:
    // when the queue overflows before the writer ran, every unsent frame goes back to
    // the engine (for a reconnect, D19), not to the socket.
    let (code, before) = slow.expect_close();
    assert_eq!(code, 1008);
    assert!(before.iter().all(|m| matches!(m, Message::Text(t) if t.contains("GameData"))));
    // Alice is fine; Slow did not opt in to reconnection, so it left the room.
    alice.expect("PlayerLeft");
    alice.send_json(r#"{"type":"Ping"}"#);
    alice.expect("Pong");
}

#[test]
fn authentication_off_answers_authenticate_anyway() {
    let server = TestServer::start(test_config());
    let mut client = Client::connect(&server);
    client.send_json(r#"{"type":"Authenticate","data":{"app_id":"anything"}}"#);
    let authenticated = client.expect("Authenticated");
    assert_eq!(authenticated["app_name"], "default");
    assert_eq!(authenticated["rate_limits"], json!({"per_minute":1000,"per_hour":10000,"per_day":100000}));
    assert!(client.expect("ProtocolInfo")["game_data_formats"].is_array());
}

#[test]
fn authentication_on_requires_a_known_app_first() {
    let mut config = test_config();
    config.security.require_websocket_auth = true;
    config.security.authorized_apps = vec![AuthorizedApp {
        app_id: "my-game".into(),
        app_secret: "unused".into(),
        app_name: "My Game".into(),
        max_rooms: None,
        max_players_per_room: None,
        rate_limit_per_minute: Some(60),
    }];
    let server = TestServer::start(config);

    let mut early = Client::connect(&server);
    early.send_json(r#"{"type":"JoinRoom","data":{"game_name":"demo","player_name":"A"}}"#);
    assert_eq!(early.expect("Error")["error_code"], "AUTHENTICATION_REQUIRED");
    assert_eq!(early.expect_close().0, 1008);

    let mut stranger = Client::connect(&server);
    stranger.send_json(r#"{"type":"Authenticate","data":{"app_id":"not-listed"}}"#);
    assert_eq!(stranger.expect("AuthenticationError")["error_code"], "INVALID_APP_ID");
    assert_eq!(stranger.expect_close().0, 1008);

    let mut member = Client::connect(&server);
    member.send_json(r#"{"type":"Authenticate","data":{"app_id":"my-game"}}"#);
    let authenticated = member.expect("Authenticated");
    assert_eq!(authenticated["app_name"], "My Game");
    assert_eq!(authenticated["rate_limits"]["per_hour"], 3600);
    member.expect("ProtocolInfo");
    assert_eq!(member.join("demo", "A", None)["game_name"], "demo");
}

#[test]
fn a_silent_connection_is_closed_by_the_engines_timer() {
    let mut config = test_config();
    config.server.ping_timeout = 1;
    let server = TestServer::start(config);
    let mut chatty = Client::connect(&server);
    let mut silent = Client::connect(&server);
    let started = Instant::now();
    // Any inbound frame refreshes liveness: keep one client talking past the timeout.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(250));
        chatty.send_json(r#"{"type":"Ping"}"#);
        chatty.expect("Pong");
    }
    let (code, _) = silent.expect_close();
    assert_eq!(code, 1001);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < IO_TIMEOUT, "{waited:?}");
    chatty.send_json(r#"{"type":"Ping"}"#);
    chatty.expect("Pong");
}

#[test]
fn websocket_control_frames() {
    let server = TestServer::start(test_config());
    let mut client = Client::connect(&server);
    // A ping frame is answered by the WebSocket layer with a pong frame.
    client.send(Message::Ping(b"hi".to_vec().into()));
    match client.ws.read().expect("read") {
        Message::Pong(data) => assert_eq!(&data[..], b"hi"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // A pong frame counts as a heartbeat and is answered with a JSON Pong.
    client.send(Message::Pong(Vec::new().into()));
    client.expect("Pong");
    // Binary frames need a MessagePack connection.
    client.send(Message::binary(vec![0x81, 0xa1, 0x78, 0x01]));
    assert_eq!(client.expect("Error")["message"], "Binary payloads are disabled for this connection");
}

#[test]
fn shutdown_closes_every_connection_with_1001_and_stops_listening() {
    let mut server = TestServer::start(test_config());
    let mut alice = Client::connect(&server);
    alice.join("demo", "Alice", None);
    let mut bob = Client::connect(&server);
    let addr = server.addr;
    let closer = std::thread::spawn(move || server.shutdown());
    assert_eq!(alice.expect_close().0, 1001);
    assert_eq!(bob.expect_close().0, 1001);
    let took = closer.join().unwrap();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}
