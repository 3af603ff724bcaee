//! The blocking example server (`examples/blocking_server.rs`: std threads, blocking
//! WebSockets, no async runtime) serves the protocol: two tungstenite clients create and
//! join a room and exchange game data, byte for byte as PROTOCOL.md gives the messages.

// The test hosts the example server on a thread of its own.
#![allow(clippy::disallowed_methods)]

#[allow(dead_code)] // `main` is the example's entry point, unused here.
#[path = "../examples/blocking_server.rs"]
mod blocking_server;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use serde_json::Value;
use signal_fish_core::Config;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Longest any read waits: a silent server fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the example on 127.0.0.1:0. Its threads end with the test process.
fn start(config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || blocking_server::run(listener, config));
    addr
}

struct Client {
    ws: WebSocket<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (ws, response) = tungstenite::client(format!("ws://{addr}/v2/ws"), stream).expect("handshake");
        assert_eq!(response.status(), 101);
        Client { ws }
    }

    fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next data or close message; WebSocket pings are skipped.
    fn read(&mut self) -> Message {
        loop {
            match self.ws.read().expect("read") {
                Message::Ping(_) => continue,
                message => return message,
            }
        }
    }

    /// The next text frame, exactly as sent.
    fn recv(&mut self) -> String {
        match self.read() {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// `data.<key>` of a server message, as a string.
fn field(message: &str, path: &[&str]) -> String {
    let value: Value = serde_json::from_str(message).expect("server sent invalid JSON");
    let found = path.iter().fold(&value["data"], |v, key| match key.parse::<usize>() {
        Ok(index) => &v[index],
        Err(_) => &v[*key],
    });
    found.as_str().unwrap_or_else(|| panic!("no string at {path:?} in {message}")).to_owned()
}

#[test]
fn two_clients_create_join_and_exchange_game_data() {
    let addr = start(Config::default());
    let mut alice = Client::connect(addr);
    let mut bob = Client::connect(addr);

    alice
        .send(r#"{"type":"JoinRoom","data":{"game_name":"blocking","player_name":"alice","max_players":2}}"#);
    let joined = alice.recv();
    let (room, code, a) =
        (field(&joined, &["room_id"]), field(&joined, &["room_code"]), field(&joined, &["player_id"]));
    let a_at = field(&joined, &["current_players", "0", "connected_at"]);
    let alice_info = format!(
        r#"{{"id":"{a}","name":"alice","is_authority":true,"is_ready":false,"connected_at":"{a_at}"}}"#
    );
    assert_eq!(
        joined,
        format!(
            r#"{{"type":"RoomJoined","data":{{"room_id":"{room}","room_code":"{code}","player_id":"{a}","game_name":"blocking","max_players":2,"supports_authority":true,"current_players":[{alice_info}],"is_authority":true,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[]}}}}"#
        )
    );

    // Room codes are case-insensitive; bob's join fills the room: both move to the lobby.
    bob.send(&format!(
        r#"{{"type":"JoinRoom","data":{{"game_name":"blocking","player_name":"bob","room_code":"{}"}}}}"#,
        code.to_lowercase()
    ));
    let joined = bob.recv();
    let b = field(&joined, &["player_id"]);
    let b_at = field(&joined, &["current_players", "1", "connected_at"]);
    let bob_info = format!(
        r#"{{"id":"{b}","name":"bob","is_authority":false,"is_ready":false,"connected_at":"{b_at}"}}"#
    );
    assert_eq!(
        joined,
        format!(
            r#"{{"type":"RoomJoined","data":{{"room_id":"{room}","room_code":"{code}","player_id":"{b}","game_name":"blocking","max_players":2,"supports_authority":true,"current_players":[{alice_info},{bob_info}],"is_authority":false,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[]}}}}"#
        )
    );
    let lobby =
        r#"{"type":"LobbyStateChanged","data":{"lobby_state":"lobby","ready_players":[],"all_ready":false}}"#;
    assert_eq!(bob.recv(), lobby);
    assert_eq!(alice.recv(), format!(r#"{{"type":"PlayerJoined","data":{{"player":{bob_info}}}}}"#));
    assert_eq!(alice.recv(), lobby);

    // Game data is relayed byte for byte (key order and spacing kept), never echoed.
    alice.send(r#"{"type":"GameData","data":{"data":{"z":1, "a":[2,3]}}}"#);
    assert_eq!(
        bob.recv(),
        format!(r#"{{"type":"GameData","data":{{"from_player":"{a}","data":{{"z":1, "a":[2,3]}}}}}}"#)
    );
    bob.send(r#"{"type":"GameData","data":{"data":"gg"}}"#);
    assert_eq!(alice.recv(), format!(r#"{{"type":"GameData","data":{{"from_player":"{b}","data":"gg"}}}}"#));
    // A JSON Ping is answered in order: nothing else was queued for either client.
    for client in [&mut alice, &mut bob] {
        client.send(r#"{"type":"Ping"}"#);
        assert_eq!(client.recv(), r#"{"type":"Pong"}"#);
    }

    // Bob's socket closes without LeaveRoom: alice sees him leave and the lobby reset.
    bob.ws.close(None).expect("close");
    assert!(matches!(bob.read(), Message::Close(_)), "the server answers the close handshake");
    assert_eq!(alice.recv(), format!(r#"{{"type":"PlayerLeft","data":{{"player_id":"{b}"}}}}"#));
    assert_eq!(
        alice.recv(),
        r#"{"type":"LobbyStateChanged","data":{"lobby_state":"waiting","ready_players":[],"all_ready":false}}"#
    );
}

#[test]
fn the_engine_timer_closes_a_silent_connection() {
    // Only the engine's poll_timeout, honoured with recv_timeout, can end this connection.
    let mut config = Config::default();
    config.server.ping_timeout = 1;
    let addr = start(config);
    let mut silent = Client::connect(addr);
    match silent.read() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}
