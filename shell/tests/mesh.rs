//! The matchbox full-mesh port over real sockets (DECISIONS D50 to D52): clients that
//! speak the exact JSON of `matchbox_protocol` (its `PeerRequest` and `PeerEvent` types,
//! serialised by serde as `matchbox_socket` does) against an in-process server.

mod support;

use std::time::Duration;

use matchbox_protocol::{JsonPeerEvent, JsonPeerRequest, PeerId, PeerRequest};
use serde_json::json;
use signal_fish_server::{Config, Server};
use support::{http, test_config, Client, TestServer};
use tungstenite::Message;

fn mesh_config() -> Config {
    let mut config = test_config();
    config.mesh.enabled = true;
    config
}

/// A matchbox peer: a WebSocket on the mesh port.
struct Peer {
    client: Client,
}

impl Peer {
    fn connect(server: &TestServer, path: &str) -> Peer {
        let mesh = server.mesh_addr.expect("mesh port enabled");
        Peer { client: Client::connect_from(mesh, path, None) }
    }

    /// Connects and reads the `IdAssigned` that must come first.
    fn join(server: &TestServer, path: &str) -> (Peer, PeerId) {
        let mut peer = Peer::connect(server, path);
        match peer.recv() {
            JsonPeerEvent::IdAssigned(id) => (peer, id),
            other => panic!("expected IdAssigned first, got {other:?}"),
        }
    }

    fn send(&mut self, request: &JsonPeerRequest) {
        self.client.send_json(&serde_json::to_string(request).unwrap());
    }

    fn recv(&mut self) -> JsonPeerEvent {
        let text = self.client.recv_text();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a matchbox PeerEvent ({e}): {text}"))
    }

    /// Nothing arrives for a while (the server has nothing for this peer).
    fn expect_quiet(&mut self) {
        let stream = self.client.ws.get_mut();
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        match self.client.ws.read() {
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            other => panic!("expected nothing, got {other:?}"),
        }
        self.client.ws.get_mut().set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    }
}

#[test]
fn two_peers_learn_ids_signal_each_other_and_hear_who_left() {
    let server = TestServer::start(mesh_config());
    let (mut alice, alice_id) = Peer::join(&server, "/duel");
    let (mut bob, bob_id) = Peer::join(&server, "/duel");
    assert_ne!(alice_id, bob_id);
    assert_eq!(alice.recv(), JsonPeerEvent::NewPeer(bob_id));

    // An offer as matchbox_socket sends it, relayed with its data untouched.
    let offer = json!({"Offer": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"});
    alice.send(&PeerRequest::Signal { receiver: bob_id, data: offer.clone() });
    assert_eq!(bob.recv(), JsonPeerEvent::Signal { sender: alice_id, data: offer });
    let candidate =
        json!({"IceCandidate": "{\"candidate\":\"candidate:1 1 UDP 1 127.0.0.1 5000 typ host\"}"});
    bob.send(&PeerRequest::Signal { receiver: alice_id, data: candidate.clone() });
    assert_eq!(alice.recv(), JsonPeerEvent::Signal { sender: bob_id, data: candidate });

    // Byte for byte: the sender's own spacing survives.
    let raw = format!(r#"{{"Signal":{{"receiver":"{alice_id}","data":{{ "Answer" : "x" }}}}}}"#);
    bob.client.send_json(&raw);
    assert_eq!(
        alice.client.recv_text(),
        format!(r#"{{"Signal":{{"sender":"{bob_id}","data":{{ "Answer" : "x" }}}}}}"#)
    );

    // KeepAlive and a signal for nobody: ignored, the connection lives on.
    bob.send(&PeerRequest::KeepAlive);
    let nobody: PeerId = serde_json::from_value(json!("00000000-0000-4000-8000-000000000000")).unwrap();
    bob.send(&PeerRequest::Signal { receiver: nobody, data: json!(1) });
    bob.send(&PeerRequest::Signal { receiver: alice_id, data: json!("still here") });
    assert_eq!(alice.recv(), JsonPeerEvent::Signal { sender: bob_id, data: json!("still here") });

    bob.client.ws.close(None).unwrap();
    assert_eq!(alice.recv(), JsonPeerEvent::PeerLeft(bob_id));

    // The counters on the main port's metrics.
    let prom = http(server.addr, "GET", "/metrics/prom", &[]).body;
    assert!(prom.contains("\nsignal_fish_mesh_signals_relayed_total 4\n"), "{prom}");
    assert!(prom.contains("\nsignal_fish_mesh_signals_dropped_total 1\n"), "{prom}");
    assert!(prom.contains("\nsignal_fish_mesh_peers_total 2\n"), "{prom}");
}

#[test]
fn next_two_groups_three_peers_two_and_one() {
    let server = TestServer::start(mesh_config());
    let (mut a, _) = Peer::join(&server, "/match?next=2");
    let (mut b, b_id) = Peer::join(&server, "/match?next=2");
    assert_eq!(a.recv(), JsonPeerEvent::NewPeer(b_id));
    let (mut c, c_id) = Peer::join(&server, "/match?next=2");
    // c starts the next group: nobody hears of it, it hears of nobody.
    a.expect_quiet();
    b.expect_quiet();
    c.expect_quiet();
    // A signal across groups goes nowhere.
    a.send(&PeerRequest::Signal { receiver: c_id, data: json!("hello?") });
    c.expect_quiet();
    let (_d, d_id) = Peer::join(&server, "/match?next=2");
    assert_eq!(c.recv(), JsonPeerEvent::NewPeer(d_id));
    // A room without `next` on the same path is another place.
    let (_e, _) = Peer::join(&server, "/match");
    a.expect_quiet();
    c.expect_quiet();
}

#[test]
fn any_path_is_a_room_and_the_main_port_is_unchanged() {
    let server = TestServer::start(mesh_config());
    let (mut x, _) = Peer::join(&server, "/v2/ws");
    let (_y, y_id) = Peer::join(&server, "/v2/ws?next=5");
    let (_z, z_id) = Peer::join(&server, "/v2/ws");
    assert_eq!(x.recv(), JsonPeerEvent::NewPeer(z_id));
    assert_ne!(y_id, z_id);
    let mut v2 = Client::connect(&server);
    v2.ping();
    // The mesh port answers plain HTTP as the main port does.
    let mesh = server.mesh_addr.unwrap();
    assert_eq!(http(mesh, "GET", "/v2/health", &[]).status, 200);
    // The main port's /v2/ws still speaks protocol v2, not the mesh.
    let mut other = Client::connect(&server);
    other.ping();
}

#[test]
fn limits_close_with_a_code_only() {
    let mut config = mesh_config();
    config.mesh.max_peers_per_room = 2;
    config.security.max_message_size = 100;
    let server = TestServer::start(config);
    let (mut a, _) = Peer::join(&server, "/small");
    let (_b, b_id) = Peer::join(&server, "/small");
    assert_eq!(a.recv(), JsonPeerEvent::NewPeer(b_id));
    let mut c = Peer::connect(&server, "/small");
    let (code, before) = c.client.expect_close();
    assert_eq!((code, before), (1008, Vec::<Message>::new()));
    a.send(&PeerRequest::Signal { receiver: b_id, data: json!("x".repeat(200)) });
    assert_eq!(a.client.expect_close().0, 1009);
}

#[test]
fn shutdown_closes_peers_with_1001() {
    let mut server = TestServer::start(mesh_config());
    let (mut a, _) = Peer::join(&server, "/s");
    let (mut b, b_id) = Peer::join(&server, "/s");
    assert_eq!(a.recv(), JsonPeerEvent::NewPeer(b_id));
    let handle = std::thread::spawn(move || server.shutdown());
    assert_eq!(a.client.expect_close(), (1001, Vec::new()));
    assert_eq!(b.client.expect_close(), (1001, Vec::new()));
    handle.join().unwrap();
}

#[test]
fn off_by_default_and_the_port_follows_the_main_one() {
    let server = Server::bind(test_config(), "127.0.0.1:0".parse().unwrap()).unwrap();
    #[cfg(not(feature = "legacy-fullmesh"))]
    assert_eq!(server.mesh_addr(), None);
    drop(server);
    let mut config = mesh_config();
    // A free pair of ports: bind the main one to a known port whose successor is free.
    for _ in 0..20 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if port == u16::MAX {
            continue;
        }
        config.port = port;
        let Ok(server) = Server::bind(config.clone(), format!("127.0.0.1:{port}").parse().unwrap()) else {
            continue;
        };
        assert_eq!(server.mesh_addr().unwrap().port(), port + 1);
        return;
    }
    panic!("no free pair of ports found");
}

/// The original's build command: with `--features legacy-fullmesh` the mode is on
/// unless the configuration turns it off.
#[cfg(feature = "legacy-fullmesh")]
#[test]
fn legacy_fullmesh_turns_the_mode_on_by_default() {
    use signal_fish_server::config::{load, LoadOptions};
    let options = LoadOptions { working_dir: "/nonexistent-signal-fish-dir".into(), ..Default::default() };
    assert!(load(&options).unwrap().config.mesh.enabled);
    let env = vec![("SIGNAL_FISH_MESH__ENABLED".to_owned(), "false".to_owned())];
    let options = LoadOptions { env, ..options };
    assert!(!load(&options).unwrap().config.mesh.enabled);
}
