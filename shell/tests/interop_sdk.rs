//! Interop with the official Rust client SDK (`signal-fish-client` from crates.io).
//!
//! The server runs in-process on its own smol thread; the SDK clients run on the test's
//! tokio runtime. The SDKs validate v2 messages strictly (an unknown shape, a v3 field on
//! a v2 connection, a room event out of phase), so the oracle is simple: every event a
//! client emits is the one the protocol promises, in order, and no `ProtocolViolation`,
//! `DecodeFailed`, `Error`, `AuthenticationError` or unexpected `Disconnected` ever
//! arrives. Each wait is bounded, so a server that stays silent fails the test.
//!
//! - 0.14 (strictest validator) goes through authenticate, create, join, spectate,
//!   authority, game data, ready/start and leave, with the flight recorder on and every
//!   byte the server sent each SDK captured on the way: replaying the recording must
//!   reproduce every frame each SDK was sent (issue 13).
//! - 0.10 (the release that accepts a v2 reconnection token) goes through a full
//!   reconnect with the token on `/v2/ws?reconnection_token=true` (DECISIONS D15–D16).
//! - 0.14 with `enable_v3()` and a `ReconnectPolicy` (PROTOCOL §12, DECISIONS D53–D56):
//!   its connection is cut at the socket, the SDK reconnects by itself, gets its seat
//!   back and plays on, on `/v2/ws` (where the SDK asks for v3 in `Authenticate`) and on
//!   `/v3/ws`.

mod support;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{http, test_config, TestServer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

use sfc010::SignalFishEvent as E10;
use sfc014::protocol::SpectatorStateChangeReason as Reason14;
use sfc014::protocol::{GameDataEncoding as Format14, LobbyState as Lobby14};
use sfc014::SignalFishEvent as E14;

/// Longest the test waits for any single event.
const WAIT: Duration = Duration::from_secs(10);
/// The app id the SDKs present (auth is off, so any id is accepted).
const APP: &str = "interop-tests";

/// What every SDK event stream must never carry in these tests.
trait SdkEvent: Debug {
    /// A description of the event when it reports a server fault.
    fn fault(&self) -> Option<String>;
}

impl SdkEvent for E14 {
    fn fault(&self) -> Option<String> {
        match self {
            E14::ProtocolViolation { kind, diagnostic } => {
                Some(format!("ProtocolViolation {kind:?}: {diagnostic}"))
            }
            E14::DecodeFailed { message_type, error, .. } => {
                Some(format!("DecodeFailed ({message_type:?}): {error}"))
            }
            E14::Error { message, error_code } => Some(format!("Error {error_code:?}: {message}")),
            E14::AuthenticationError { error, error_code } => {
                Some(format!("AuthenticationError {error_code:?}: {error}"))
            }
            E14::Disconnected { reason, .. } => Some(format!("Disconnected: {reason:?}")),
            _ => None,
        }
    }
}

impl SdkEvent for E10 {
    fn fault(&self) -> Option<String> {
        match self {
            E10::ProtocolViolation { kind, diagnostic } => {
                Some(format!("ProtocolViolation {kind:?}: {diagnostic}"))
            }
            E10::DecodeFailed { message_type, error, .. } => {
                Some(format!("DecodeFailed ({message_type:?}): {error}"))
            }
            E10::Error { message, error_code } => Some(format!("Error {error_code:?}: {message}")),
            E10::AuthenticationError { error, error_code } => {
                Some(format!("AuthenticationError {error_code:?}: {error}"))
            }
            E10::Disconnected { reason, .. } => Some(format!("Disconnected: {reason:?}")),
            _ => None,
        }
    }
}

/// One SDK client and its event stream.
struct Peer<C, E> {
    who: &'static str,
    client: C,
    events: Receiver<E>,
}

impl<C, E: SdkEvent> Peer<C, E> {
    /// The next event, whatever it is (bounded wait).
    async fn next_raw(&mut self) -> E {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("{}: the SDK's event stream ended", self.who),
            Err(_) => panic!("{}: no event within {WAIT:?}", self.who),
        }
    }

    /// The next event, which must not report a fault.
    async fn next(&mut self) -> E {
        let event = self.next_raw().await;
        if let Some(fault) = event.fault() {
            panic!("{}: the SDK reported {fault}", self.who);
        }
        event
    }
}

/// Takes the peer's next event and matches it, failing with what arrived instead.
macro_rules! expect {
    ($peer:expr, $pattern:pat => $out:expr) => {{
        let event = $peer.next().await;
        match event {
            $pattern => $out,
            #[allow(unreachable_patterns)]
            other => panic!("{}: expected {}, got {other:?}", $peer.who, stringify!($pattern)),
        }
    }};
    ($peer:expr, $pattern:pat) => {
        expect!($peer, $pattern => ())
    };
}

type Peer14 = Peer<sfc014::SignalFishClient, E14>;
type Peer10 = Peer<sfc010::SignalFishClient, E10>;

impl Peer14 {
    /// Connects and completes the handshake: `Connected`, `Authenticated`, `ProtocolInfo`.
    async fn connect(who: &'static str, url: &str) -> Peer14 {
        let transport = tokio::time::timeout(WAIT, sfc014::WebSocketTransport::connect(url))
            .await
            .unwrap_or_else(|_| panic!("{who}: connect timed out"))
            .unwrap_or_else(|e| panic!("{who}: connect failed: {e}"));
        let (client, events) = sfc014::SignalFishClient::start(transport, sfc014::SignalFishConfig::new(APP));
        let mut peer = Peer { who, client, events };
        expect!(peer, E14::Connected);
        let app_name = expect!(peer, E14::Authenticated { app_name, .. } => app_name);
        assert_eq!(app_name, "default");
        let formats = expect!(peer, E14::ProtocolInfo(info) => info.game_data_formats);
        assert_eq!(formats[0], Format14::Json);
        assert!(peer.client.snapshot().authenticated);
        peer
    }

    /// Ping, then the next event must be its `Pong`: everything the server sent this
    /// client before has been read and matched, so nothing unexpected is pending.
    async fn settle(&mut self) {
        self.client.ping().expect("ping");
        expect!(self, E14::Pong);
        let snapshot = self.client.snapshot();
        assert!(!snapshot.quarantined, "{}: the SDK quarantined the connection", self.who);
        assert_eq!(self.client.stats().messages_undecodable, 0, "{}", self.who);
    }
}

impl Peer10 {
    /// Connects and completes the handshake: `Connected`, `Authenticated`, `ProtocolInfo`.
    async fn connect(who: &'static str, url: &str) -> Peer10 {
        let transport = tokio::time::timeout(WAIT, sfc010::WebSocketTransport::connect(url))
            .await
            .unwrap_or_else(|_| panic!("{who}: connect timed out"))
            .unwrap_or_else(|e| panic!("{who}: connect failed: {e}"));
        let (client, events) = sfc010::SignalFishClient::start(transport, sfc010::SignalFishConfig::new(APP));
        let mut peer = Peer { who, client, events };
        expect!(peer, E10::Connected);
        let app_name = expect!(peer, E10::Authenticated { app_name, .. } => app_name);
        assert_eq!(app_name, "default");
        expect!(peer, E10::ProtocolInfo(_));
        peer
    }

    /// Ping, then the next event must be its `Pong` (see [`Peer14::settle`]).
    async fn settle(&mut self) {
        self.client.ping().expect("ping");
        expect!(self, E10::Pong);
        assert!(!self.client.snapshot().quarantined, "{}: the SDK quarantined the connection", self.who);
    }
}

/// SDK 0.14 through a whole room life: create, join (room fills: lobby), spectate,
/// authority release and claim, game data both ways, ready (game starts), leave.
#[tokio::test]
async fn sdk_0_14_room_lifecycle_without_protocol_violations() {
    let recording = std::env::temp_dir().join(format!("sfs-interop-recording-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&recording);
    let mut config = test_config();
    config.recorder.enabled = true;
    config.recorder.dir = recording.display().to_string();
    let mut server = TestServer::start(config);
    let tap = Tap::start(server.addr).await;
    let url = format!("ws://{}/v2/ws", tap.addr);
    lifecycle_0_14([url.clone(), url.clone(), url]).await;

    // The recording replays to exactly what the server sent each SDK.
    server.shutdown();
    let received = tap.finish().await;
    assert_eq!(received.len(), 3, "three SDK connections went through the tap");
    let replayed = replay_dir(&recording);
    assert_eq!(replayed.len(), received.len(), "one recorded connection per SDK connection");
    // The tap kept every frame the server wrote, so they must all be there. (The SDKs
    // closed their connections: the server's answering close frame is the transport's,
    // not an engine action, so closes are not compared.)
    for (i, (want, got)) in replayed.iter().zip(&received).enumerate() {
        assert!(got.frames.len() > 5, "connection {i} received the session");
        assert_eq!(want.frames, got.frames, "connection {i}: the replay differs from what the SDK was sent");
    }
    let _ = std::fs::remove_dir_all(&recording);
}

/// SDK 0.14 through a room's whole life, each peer on its own URL (one server, or
/// nodes of a cluster): create, join by code, spectate, authority release and claim,
/// game data both ways, ready (game starts), leave.
async fn lifecycle_0_14(urls: [String; 3]) {
    let [alice_url, bob_url, carol_url] = urls;
    let game = "interop-014";

    // Create: the creator holds authority; no reconnection token on a plain v2 connection.
    let mut alice = Peer14::connect("alice", &alice_url).await;
    alice.client.join_room(sfc014::JoinRoomParams::new(game, "alice").with_max_players(2)).unwrap();
    let (room_id, room_code, alice_id) = expect!(alice, E14::RoomJoined {
        room_id, room_code, player_id, game_name, max_players, supports_authority,
        current_players, is_authority, lobby_state, ready_players, current_spectators,
        ice_servers, reconnection_token, ..
    } => {
        assert_eq!(game_name, game);
        assert_eq!((max_players, supports_authority, is_authority), (2, true, true));
        assert_eq!(current_players.len(), 1);
        assert_eq!((current_players[0].id, current_players[0].name.as_str()), (player_id, "alice"));
        assert!(current_players[0].is_authority && !current_players[0].is_ready);
        assert_eq!(lobby_state, Lobby14::Waiting);
        assert!(ready_players.is_empty() && current_spectators.is_empty() && ice_servers.is_empty());
        assert_eq!(reconnection_token, None);
        (room_id, room_code, player_id)
    });
    assert_eq!(room_code.len(), 6, "default room code length");

    // Join by code: the room is full, so everyone moves to the lobby.
    let mut bob = Peer14::connect("bob", &bob_url).await;
    bob.client
        .join_room(sfc014::JoinRoomParams::new(game, "bob").with_room_code(room_code.to_lowercase()))
        .unwrap();
    let bob_id = expect!(bob, E14::RoomJoined {
        room_id: joined_room, room_code: joined_code, player_id, current_players, is_authority,
        lobby_state, reconnection_token, ..
    } => {
        assert_eq!((joined_room, joined_code.as_str()), (room_id, room_code.as_str()));
        assert!(!is_authority);
        let roster: Vec<_> =
            current_players.iter().map(|p| (p.id, p.name.as_str(), p.is_authority)).collect();
        assert_eq!(roster, [(alice_id, "alice", true), (player_id, "bob", false)]);
        assert_eq!(lobby_state, Lobby14::Waiting, "the snapshot precedes the lobby transition");
        assert_eq!(reconnection_token, None);
        player_id
    });
    let newcomer = expect!(alice, E14::PlayerJoined { player } => player);
    assert_eq!((newcomer.id, newcomer.name.as_str(), newcomer.is_authority), (bob_id, "bob", false));
    for peer in [&mut alice, &mut bob] {
        expect!(peer, E14::LobbyStateChanged { lobby_state: Lobby14::Lobby, ready_players, all_ready: false }
            => assert!(ready_players.is_empty()));
    }

    // Spectate: the watcher sees the roster; the players hear about the watcher.
    let mut carol = Peer14::connect("carol", &carol_url).await;
    carol.client.join_as_spectator(game.to_owned(), room_code.clone(), "carol".to_owned()).unwrap();
    let carol_id = expect!(carol, E14::SpectatorJoined {
        room_id: watched, spectator_id, current_players, current_spectators, lobby_state, reason, ..
    } => {
        assert_eq!(watched, room_id);
        let roster: Vec<_> = current_players.iter().map(|p| p.id).collect();
        assert_eq!(roster, [alice_id, bob_id]);
        assert_eq!(current_spectators.len(), 1);
        assert_eq!((current_spectators[0].id, current_spectators[0].name.as_str()), (spectator_id, "carol"));
        assert_eq!((lobby_state, reason), (Lobby14::Lobby, Some(Reason14::Joined)));
        spectator_id
    });
    for peer in [&mut alice, &mut bob] {
        expect!(peer, E14::NewSpectatorJoined { spectator, current_spectators, .. } => {
            assert_eq!((spectator.id, spectator.name.as_str()), (carol_id, "carol"));
            assert_eq!(current_spectators.len(), 1);
        });
    }

    // Authority: alice releases it, bob claims it, alice's claim then conflicts.
    alice.client.request_authority(false).unwrap();
    expect!(alice, E14::AuthorityResponse { granted: true, error_code: None, .. });
    for peer in [&mut alice, &mut bob, &mut carol] {
        expect!(peer, E14::AuthorityChanged { authority_player: None, you_are_authority: false });
    }
    bob.client.request_authority(true).unwrap();
    expect!(bob, E14::AuthorityResponse { granted: true, error_code: None, .. });
    expect!(bob, E14::AuthorityChanged { authority_player: Some(id), you_are_authority: true }
        => assert_eq!(id, bob_id));
    for peer in [&mut alice, &mut carol] {
        expect!(peer, E14::AuthorityChanged { authority_player: Some(id), you_are_authority: false }
            => assert_eq!(id, bob_id));
    }
    alice.client.request_authority(true).unwrap();
    expect!(alice, E14::AuthorityResponse { granted: false, error_code: Some(code), .. }
        => assert_eq!(code, sfc014::ErrorCode::AuthorityConflict));

    // Game data both ways; the spectator receives every relay (D14), senders get no echo.
    let from_alice = json!({"move": [1, 2], "note": "ünïcode", "nested": {"seq": 7}});
    alice.client.send_game_data(from_alice.clone()).unwrap();
    for peer in [&mut bob, &mut carol] {
        expect!(peer, E14::GameData { from_player, data, seq: None, epoch: None, .. } => {
            assert_eq!((from_player, data), (alice_id, from_alice.clone()));
        });
    }
    let from_bob = json!([true, null, 3.5, "x"]);
    bob.client.send_game_data(from_bob.clone()).unwrap();
    for peer in [&mut alice, &mut carol] {
        expect!(peer, E14::GameData { from_player, data, .. }
            => assert_eq!((from_player, data), (bob_id, from_bob.clone())));
    }

    // Ready: the second ready finalizes the lobby and the game starts (D9).
    alice.client.set_ready().unwrap();
    for peer in [&mut alice, &mut bob, &mut carol] {
        expect!(peer, E14::LobbyStateChanged { lobby_state: Lobby14::Lobby, ready_players, all_ready: false }
            => assert_eq!(ready_players, [alice_id]));
    }
    bob.client.set_ready().unwrap();
    for peer in [&mut alice, &mut bob, &mut carol] {
        expect!(peer, E14::LobbyStateChanged {
            lobby_state: Lobby14::Finalized, ready_players, all_ready: true
        } => assert_eq!(ready_players, [alice_id, bob_id]));
        expect!(peer, E14::GameStarting { peer_connections } => {
            let peers: Vec<_> = peer_connections
                .iter()
                .map(|p| (p.player_id, p.player_name.as_str(), p.is_authority))
                .collect();
            assert_eq!(peers, [(alice_id, "alice", false), (bob_id, "bob", true)]);
        });
    }

    // Leave: the spectator first, then the authority (authority cleared, lobby reset),
    // then the last player.
    carol.client.leave_spectator().unwrap();
    expect!(carol, E14::SpectatorLeft {
        room_id: Some(left), reason: Some(Reason14::VoluntaryLeave), current_spectators, ..
    } => {
        assert_eq!(left, room_id);
        assert!(current_spectators.is_empty());
    });
    for peer in [&mut alice, &mut bob] {
        expect!(peer, E14::SpectatorDisconnected {
            spectator_id, reason: Some(Reason14::VoluntaryLeave), current_spectators, spectator_count: None
        } => assert!(spectator_id == carol_id && current_spectators.is_empty()));
    }
    bob.client.leave_room().unwrap();
    expect!(bob, E14::RoomLeft);
    expect!(alice, E14::PlayerLeft { player_id, epoch: None, final_seq: None }
        => assert_eq!(player_id, bob_id));
    expect!(alice, E14::AuthorityChanged { authority_player: None, you_are_authority: false });
    expect!(alice, E14::LobbyStateChanged { lobby_state: Lobby14::Waiting, ready_players, all_ready: false }
        => assert!(ready_players.is_empty()));
    alice.client.leave_room().unwrap();
    expect!(alice, E14::RoomLeft);

    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.settle().await;
        assert_eq!(peer.client.snapshot().room_id, None, "{} is in no room", peer.who);
    }
    assert_eq!(alice.client.stats().game_data_received, 1);
    assert_eq!(carol.client.stats().game_data_received, 2);
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.client.shutdown().await;
    }
}

/// The bytes a server sent one connection, appended as they pass.
type Captured = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// A TCP relay in front of the server, one upstream connection per client, that keeps
/// every byte the server sent each connection (in the order they connected) to compare
/// with a replay of the server's recording.
struct Tap {
    addr: SocketAddr,
    captured: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
    copies: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Tap {
    async fn start(upstream: SocketAddr) -> Tap {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tap");
        let addr = listener.local_addr().expect("tap address");
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let copies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (list, tasks) = (captured.clone(), copies.clone());
        let accept = tokio::spawn(async move {
            // Bounded: the test opens a handful of connections.
            for _ in 0..64 {
                let Ok((client, _)) = listener.accept().await else { return };
                let server = TcpStream::connect(upstream).await.expect("tap connect");
                let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                list.lock().unwrap().push(bytes.clone());
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let down = tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                        bytes.lock().unwrap().extend_from_slice(&buffer[..n]);
                        // The client may be gone; the server's bytes are still kept.
                        let _ = client_write.write_all(&buffer[..n]).await;
                    }
                });
                tasks.lock().unwrap().extend([up, down]);
            }
        });
        Tap { addr, captured, copies, accept }
    }

    /// Waits (bounded) for every copy to end (the server has closed its sockets) and
    /// returns what the server sent each connection, decoded.
    async fn finish(self) -> Vec<signal_fish_core::recording::ConnectionOutput> {
        self.accept.abort();
        let tasks: Vec<_> = std::mem::take(&mut *self.copies.lock().unwrap());
        for task in tasks {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
        let captured = self.captured.lock().unwrap();
        captured.iter().map(|bytes| server_messages(&bytes.lock().unwrap())).collect()
    }
}

/// The messages and close in what a server sent one connection: the 101 response head,
/// then unmasked frames (RFC 6455 §5.2).
fn server_messages(bytes: &[u8]) -> signal_fish_core::recording::ConnectionOutput {
    use signal_fish_core::Outbound;
    let mut out = signal_fish_core::recording::ConnectionOutput::default();
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else { return out };
    let mut rest = &bytes[head_end + 4..];
    let mut partial: Option<(u8, Vec<u8>)> = None;
    while rest.len() >= 2 {
        let (fin, opcode, masked) = (rest[0] & 0x80 != 0, rest[0] & 0x0f, rest[1] & 0x80 != 0);
        assert!(!masked, "server frames are not masked");
        let (len, header) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        if rest.len() < header + len {
            break;
        }
        let payload = rest[header..header + len].to_vec();
        rest = &rest[header + len..];
        match opcode {
            0x8 => {
                out.close = Some(if payload.len() >= 2 {
                    u16::from_be_bytes([payload[0], payload[1]])
                } else {
                    1005
                });
                break;
            }
            0x9 | 0xA => {}
            0x0..=0x2 => {
                let (kind, mut data) = match (opcode, partial.take()) {
                    (0x0, Some((kind, data))) => (kind, data),
                    (kind, _) => (kind, Vec::new()),
                };
                data.extend_from_slice(&payload);
                if !fin {
                    partial = Some((kind, data));
                } else if kind == 0x1 {
                    out.frames.push(Outbound::Text(data.into()));
                } else {
                    out.frames.push(Outbound::Binary(data.into()));
                }
            }
            other => panic!("unexpected opcode {other:#x} from the server"),
        }
    }
    out
}

/// Replays the recording in `dir` (every file, in order, digests verified): what each
/// connection was sent, in the order connections opened.
fn replay_dir(dir: &std::path::Path) -> Vec<signal_fish_core::recording::ConnectionOutput> {
    use signal_fish_core::recording::{Delivered, RecordingFile, Replayer};
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).expect("recording folder").map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut replayer: Option<Replayer> = None;
    let mut delivered = Delivered::default();
    for path in &paths {
        let file = RecordingFile::read(&std::fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match &mut replayer {
            None => replayer = Some(Replayer::start(&file, true).unwrap_or_else(|e| panic!("{e}"))),
            Some(r) => r.next_file(&file).unwrap_or_else(|e| panic!("{e}")),
        }
        let r = replayer.as_mut().unwrap();
        r.replay_file(&file, |_, event, actions| {
            delivered.observe(event, actions);
            true
        })
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    delivered.in_open_order()
}

/// A one-connection TCP relay between an SDK client and the server. Aborting it closes
/// both sockets at once: the client's network is gone, with no WebSocket close and no
/// `LeaveRoom`, while the SDK object lives on.
struct Relay {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let task = tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.expect("relay accept");
            let mut server = TcpStream::connect(upstream).await.expect("relay connect");
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        Relay { addr, task }
    }

    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Waits (bounded) until the server's JSON metrics satisfy `check`.
async fn metrics_until(server: SocketAddr, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = http(server, "GET", "/metrics", &[]);
        assert_eq!(reply.status, 200);
        let metrics: Value = serde_json::from_str(&reply.body).expect("metrics JSON");
        if check(&metrics) {
            return;
        }
        assert!(Instant::now() < deadline, "metrics never showed {what}: {metrics}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SDK 0.10, opted in to reconnection tokens: a player's network drops, the others play
/// on, and a new connection resumes the seat with the token, receiving what it missed.
#[tokio::test]
async fn sdk_0_10_reconnects_with_its_token_and_receives_missed_events() {
    let server = TestServer::start(test_config());
    reconnect_0_10([server.addr; 3], true).await;
}

/// SDK 0.10's reconnect: alpha on `nodes[0]` (which makes the room) behind a relay the
/// test cuts, bravo on `nodes[1]`, the resumed connection on `nodes[2]` (one server three
/// times, or three nodes of a cluster). With `one_server`, the server's connection count
/// is checked too (on a cluster bravo's connection is counted by two nodes).
async fn reconnect_0_10(nodes: [SocketAddr; 3], one_server: bool) {
    let owner = nodes[0];
    let opted_in = "/v2/ws?reconnection_token=true";
    let game = "interop-010";

    // Alpha (0.10) opts in and connects through a relay the test can cut. Its default
    // join sends `max_players: null` and `supports_authority: null`: server defaults.
    let relay = Relay::start(owner).await;
    let mut alpha = Peer10::connect("alpha", &format!("ws://{}{opted_in}", relay.addr)).await;
    alpha.client.join_room(sfc010::JoinRoomParams::new(game, "alpha")).unwrap();
    let (room_id, room_code, alpha_id, token) = expect!(alpha, E10::RoomJoined {
        room_id, room_code, player_id, max_players, supports_authority, is_authority,
        current_players, reconnection_token, ..
    } => {
        assert_eq!((max_players, supports_authority, is_authority), (8, true, true));
        assert_eq!(current_players.len(), 1);
        (room_id, room_code, player_id, reconnection_token.expect("opted-in RoomJoined carries a token"))
    });
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{token}");
    assert_eq!(alpha.client.snapshot().reconnection_token.as_deref(), Some(token.as_str()));

    // Bravo uses the strict 0.14 SDK on a plain connection: no token for it, and the
    // whole disconnect/reconnect must look valid from its side too.
    let mut bravo = Peer14::connect("bravo", &format!("ws://{}/v2/ws", nodes[1])).await;
    bravo
        .client
        .join_room(sfc014::JoinRoomParams::new(game, "bravo").with_room_code(room_code.clone()))
        .unwrap();
    let bravo_id = expect!(bravo, E14::RoomJoined {
        player_id, reconnection_token: None, current_players, ..
    } => {
        assert_eq!(current_players.len(), 2);
        player_id
    });
    expect!(alpha, E10::PlayerJoined { player }
        => assert_eq!((player.id, player.name.as_str()), (bravo_id, "bravo")));
    alpha.client.send_game_data(json!({"turn": 0})).unwrap();
    expect!(bravo, E14::GameData { from_player, data, .. }
        => assert_eq!((from_player, data), (alpha_id, json!({"turn": 0}))));

    // Alpha's network drops. Its SDK notices; the server keeps the seat (D16).
    relay.cut().await;
    match alpha.next_raw().await {
        E10::Disconnected { .. } => {}
        other => panic!("alpha: expected Disconnected after the cut, got {other:?}"),
    }
    metrics_until(owner, "alpha's reserved seat", |m| {
        m["serverMetrics"]["reconnection"]["sessionsActive"] == 1
            && (!one_server || m["serverMetrics"]["connections"]["active"] == 1)
    })
    .await;

    // Bravo plays on; the events are buffered for alpha. Bravo hears nothing of the drop.
    let missed = [json!({"turn": 1, "by": "bravo"}), json!({"turn": 2, "by": "bravo"})];
    for data in &missed {
        bravo.client.send_game_data(data.clone()).unwrap();
    }
    bravo.settle().await;

    // A fresh 0.10 client resumes alpha's seat with the token.
    let mut again = Peer10::connect("alpha (reconnected)", &format!("ws://{}{opted_in}", nodes[2])).await;
    again.client.reconnect(alpha_id, room_id, token.clone()).unwrap();
    let fresh_token = expect!(again, E10::Reconnected {
        room_id: resumed_room, room_code: resumed_code, player_id, is_authority, current_players,
        missed_events, reconnection_token, ..
    } => {
        assert_eq!((resumed_room, resumed_code.as_str(), player_id), (room_id, room_code.as_str(), alpha_id));
        assert!(is_authority, "the seat keeps its authority");
        let roster: Vec<_> = current_players.iter().map(|p| (p.id, p.is_authority)).collect();
        assert_eq!(roster, [(alpha_id, true), (bravo_id, false)]);
        assert_eq!(missed_events.len(), missed.len(), "missed events: {missed_events:?}");
        for (event, expected) in missed_events.into_iter().zip(&missed) {
            match event {
                E10::GameData { from_player, data, seq: None, epoch: None, .. } => {
                    assert_eq!((from_player, &data), (bravo_id, expected));
                }
                other => panic!("unexpected missed event {other:?}"),
            }
        }
        reconnection_token.expect("opted-in Reconnected carries a fresh token")
    });
    assert_ne!(fresh_token, token, "tokens are single use");
    assert_eq!(again.client.snapshot().reconnection_token.as_deref(), Some(fresh_token.as_str()));
    expect!(bravo, E14::PlayerReconnected { player_id, epoch: None } => assert_eq!(player_id, alpha_id));

    // The resumed seat plays on both ways.
    again.client.send_game_data(json!({"turn": 3, "by": "alpha"})).unwrap();
    expect!(bravo, E14::GameData { from_player, data, .. }
        => assert_eq!((from_player, data), (alpha_id, json!({"turn": 3, "by": "alpha"}))));
    bravo.client.send_game_data(json!({"turn": 4})).unwrap();
    expect!(again, E10::GameData { from_player, data, .. }
        => assert_eq!((from_player, data), (bravo_id, json!({"turn": 4}))));

    // The consumed token does not open the seat again.
    let mut replay = Peer10::connect("replayer", &format!("ws://{}{opted_in}", nodes[2])).await;
    replay.client.reconnect(alpha_id, room_id, token).unwrap();
    expect!(replay, E10::ReconnectionFailed { error_code, .. }
        => assert_eq!(error_code, sfc010::ErrorCode::ReconnectionTokenInvalid));

    for peer in [&mut again, &mut replay] {
        peer.settle().await;
    }
    bravo.settle().await;
    again.client.shutdown().await;
    replay.client.shutdown().await;
    bravo.client.shutdown().await;
}

impl Peer14 {
    /// Connects a v3 client (`enable_v3()`, with `policy` if given) over `transport` and
    /// completes the handshake; the server must have negotiated v3.
    async fn connect_v3(who: &'static str, url: &str, policy: Option<sfc014::ReconnectPolicy>) -> Peer14 {
        let transport = tokio::time::timeout(WAIT, sfc014::WebSocketTransport::connect(url))
            .await
            .unwrap_or_else(|_| panic!("{who}: connect timed out"))
            .unwrap_or_else(|e| panic!("{who}: connect failed: {e}"));
        let mut config = sfc014::SignalFishConfig::new(APP).enable_v3();
        if let Some(policy) = policy {
            config = config.with_reconnect_policy(policy);
        }
        let (client, events) = sfc014::SignalFishClient::start(transport, config);
        let mut peer = Peer { who, client, events };
        peer.expect_v3_handshake().await;
        peer
    }

    /// `Connected`, `Authenticated`, then a `ProtocolInfo` that negotiated v3.
    async fn expect_v3_handshake(&mut self) {
        expect!(self, E14::Connected);
        expect!(self, E14::Authenticated { .. });
        expect!(self, E14::ProtocolInfo(_));
        assert_eq!(self.client.snapshot().negotiated_protocol_version, Some(3), "{}", self.who);
    }
}

/// SDK 0.14 on v3 with a reconnect policy: two players exchange stamped game data, one
/// connection is cut at the socket, and the SDK reconnects by itself, resumes its seat
/// (new epoch, watermarks that match its snapshot, a rotated token) and plays on, with
/// no protocol violation on either side. `path` is the endpoint both clients use.
async fn sdk_0_14_v3_reconnects_by_itself(path: &'static str) {
    let server = TestServer::start(test_config());
    let game = "interop-v3";
    let direct = server.url(path);
    // The first connection goes through a relay the test can cut; the policy's factory
    // connects again directly.
    let relay = Relay::start(server.addr).await;
    let factory_url = direct.clone();
    let policy = sfc014::ReconnectPolicy::new(move || {
        Box::new(sfc014::WebSocketTransport::connect_lazy(factory_url.clone()))
            as Box<dyn sfc014::Transport + Send>
    })
    .with_max_attempts(3)
    .with_initial_backoff(Duration::from_millis(50));
    let mut alpha = Peer14::connect_v3("alpha", &format!("ws://{}{path}", relay.addr), Some(policy)).await;
    alpha.client.join_room(sfc014::JoinRoomParams::new(game, "alpha")).unwrap();
    let (room_id, room_code, alpha_id, token) = expect!(alpha, E14::RoomJoined {
        room_id, room_code, player_id, current_players, reconnection_token, ..
    } => {
        assert_eq!(current_players.len(), 1);
        (room_id, room_code, player_id, reconnection_token.expect("v3 RoomJoined carries a token"))
    });

    let mut bravo = Peer14::connect_v3("bravo", &direct, None).await;
    bravo
        .client
        .join_room(sfc014::JoinRoomParams::new(game, "bravo").with_room_code(room_code.clone()))
        .unwrap();
    let bravo_id = expect!(bravo, E14::RoomJoined { player_id, .. } => player_id);
    expect!(alpha, E14::PlayerJoined { player } => assert_eq!(player.id, bravo_id));
    for turn in 1..=2 {
        alpha.client.send_game_data(json!({"turn": turn})).unwrap();
        expect!(bravo, E14::GameData { from_player, data, seq, epoch, .. } => {
            assert_eq!((from_player, data), (alpha_id, json!({"turn": turn})));
            assert_eq!((seq, epoch), (Some(turn), Some(1)));
        });
    }
    bravo.client.send_game_data(json!({"from": "bravo"})).unwrap();
    expect!(alpha, E14::GameData { seq, epoch, .. } => assert_eq!((seq, epoch), (Some(1), Some(1))));

    // Alpha's network drops. Its SDK reconnects on its own and resumes the seat.
    relay.cut().await;
    match alpha.next_raw().await {
        E14::Disconnected { .. } => {}
        other => panic!("alpha: expected Disconnected after the cut, got {other:?}"),
    }
    expect!(alpha, E14::Reconnecting { attempt: 1, .. });
    alpha.expect_v3_handshake().await;
    let fresh = expect!(alpha, E14::Reconnected {
        room_id: resumed, player_id, current_players, replay, sender_watermarks, reconnection_token, ..
    } => {
        assert_eq!((resumed, player_id), (room_id, alpha_id));
        assert_eq!(replay, Some(sfc014::protocol::ReplayStatus::Complete));
        let stamps: Vec<_> = current_players.iter().map(|p| (p.id, p.epoch, p.seq)).collect();
        assert_eq!(stamps, [(alpha_id, Some(2), Some(0)), (bravo_id, Some(1), Some(1))]);
        let marks: Vec<_> = sender_watermarks.iter().map(|w| (w.player_id, w.epoch, w.seq)).collect();
        assert_eq!(marks, [(alpha_id, 2, 0), (bravo_id, 1, 1)]);
        reconnection_token.expect("a rotated token")
    });
    assert_ne!(fresh, token);
    expect!(bravo, E14::PlayerReconnected { player_id, epoch } => assert_eq!((player_id, epoch), (alpha_id, Some(2))));

    // The resumed seat plays on both ways, in its new epoch.
    alpha.client.send_game_data(json!({"turn": 3})).unwrap();
    expect!(bravo, E14::GameData { from_player, data, seq, epoch, .. } => {
        assert_eq!((from_player, data), (alpha_id, json!({"turn": 3})));
        assert_eq!((seq, epoch), (Some(1), Some(2)));
    });
    bravo.client.send_game_data(json!({"from": "bravo", "n": 2})).unwrap();
    expect!(alpha, E14::GameData { data, seq, .. } => {
        assert_eq!(data, json!({"from": "bravo", "n": 2}));
        assert_eq!(seq, Some(2));
    });
    alpha.settle().await;
    bravo.settle().await;
    assert_eq!(alpha.client.snapshot().room_id, Some(room_id));
    alpha.client.shutdown().await;
    bravo.client.shutdown().await;
}

#[tokio::test]
async fn sdk_0_14_v3_reconnects_by_itself_on_v2_ws() {
    sdk_0_14_v3_reconnects_by_itself("/v2/ws").await;
}

#[tokio::test]
async fn sdk_0_14_v3_reconnects_by_itself_on_v3_ws() {
    sdk_0_14_v3_reconnects_by_itself("/v3/ws").await;
}

/// Why the token is opt-in (D15), and proof that the oracle above can fail: SDK 0.14 on
/// an opted-in connection reports the token as a protocol violation, abandons the join
/// and keeps its room-operation fence closed.
#[tokio::test]
async fn sdk_0_14_reports_a_v2_reconnection_token_as_a_violation() {
    let server = TestServer::start(test_config());
    let mut strict = Peer14::connect("strict", &server.url("/v2/ws?reconnection_token=true")).await;
    strict.client.join_room(sfc014::JoinRoomParams::new("interop-token", "strict")).unwrap();
    match strict.next_raw().await {
        E14::ProtocolViolation { diagnostic, .. } => {
            assert!(diagnostic.contains("v2 RoomJoined exposed v3 token"), "{diagnostic}");
        }
        other => panic!("expected the SDK to reject the token, got {other:?}"),
    }
    assert_eq!(strict.client.snapshot().room_id, None, "the join was abandoned");
    assert!(strict.client.snapshot().quarantined);
    let again = strict.client.join_room(sfc014::JoinRoomParams::new("interop-token", "again"));
    assert!(matches!(again, Err(sfc014::SignalFishError::RoomOperationPending)), "{again:?}");
    strict.client.shutdown().await;
}

/// A cluster of three nodes on a throwaway redis-server (DECISIONS D58), for the SDK
/// tests across nodes. `None` (with one loud line) when redis-server is not installed
/// outside CI.
fn cluster_of_three() -> Option<(signal_fish_redis::testing::RedisServer, [TestServer; 3])> {
    let redis = signal_fish_redis::testing::RedisServer::start()?;
    let node = |id: &str| {
        let mut config = test_config();
        config.cluster.redis_url = Some(redis.url());
        config.cluster.node_id = Some(id.to_owned());
        TestServer::start(config)
    };
    let nodes = [node("a"), node("b"), node("c")];
    Some((redis, nodes))
}

/// SDK 0.14 through the whole room life with each peer on another node of a cluster:
/// the creator on a, the player who joins by code on b, the spectator on c. The SDK's
/// strict validation sees exactly what one server sends.
#[tokio::test]
async fn sdk_0_14_room_lifecycle_across_three_cluster_nodes() {
    let Some((_redis, nodes)) = cluster_of_three() else { return };
    let urls = nodes.each_ref().map(|n| format!("ws://{}/v2/ws", n.addr));
    lifecycle_0_14(urls).await;
}

/// SDK 0.10 on a cluster: the room on node a, the other player on b, and the dropped
/// player resumes its seat with its token through a third node, c.
#[tokio::test]
async fn sdk_0_10_reconnects_through_a_third_cluster_node() {
    let Some((_redis, nodes)) = cluster_of_three() else { return };
    reconnect_0_10(nodes.each_ref().map(|n| n.addr), false).await;
}
