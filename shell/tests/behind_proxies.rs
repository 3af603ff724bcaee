//! Behind real reverse proxies started by the test (`support/proxies.rs`): nginx
//! terminating TLS and adding `X-Forwarded-For`, HAProxy in TCP mode with the PROXY
//! protocol v2. Through each, clients from more distinct addresses than the per-IP cap
//! allows connect, two of them play a room session, the per-IP cap still applies to one
//! real address, and a client that fakes `X-Forwarded-For` straight to the server is
//! limited by its own address.
//!
//! The proxies connect to the server from 127.0.0.1, the one trusted proxy; clients
//! connect from 127.0.0.2 and up. Without nginx or HAProxy installed, the test fails in
//! CI and is skipped with one loud line elsewhere.

mod support;

use std::io::{Read, Write};

use signal_fish_server::Config;
use support::proxies::RunningProxy;
use support::{test_config, Client, Refused, TestServer};

/// Per-IP cap in these tests: far below the number of clients.
const PER_IP: usize = 2;
/// Clients from distinct addresses through each proxy: above the default cap of 10.
const CLIENTS: u8 = 12;

fn server(require_proxy_protocol: bool) -> TestServer {
    let mut config: Config = test_config();
    config.security.trusted_proxies = vec!["127.0.0.1".to_owned()];
    config.security.require_proxy_protocol = require_proxy_protocol;
    config.security.max_connections_per_ip = PER_IP;
    TestServer::start(config)
}

/// The client addresses: 127.0.0.2 ..= 127.0.0.13.
fn client_addresses() -> Vec<String> {
    (2..2 + CLIENTS).map(|n| format!("127.0.0.{n}")).collect()
}

fn must<S: Read + Write>(proxy: &RunningProxy, result: Result<Client<S>, Refused>) -> Client<S> {
    result.unwrap_or_else(|refused| panic!("refused through the proxy: {refused:?}\n{}", proxy.logs()))
}

/// Alice and Bob (already connected through the proxy) meet in a room, exchange game
/// data both ways, and Bob leaves.
fn play_a_room_session<S: Read + Write>(alice: &mut Client<S>, bob: &mut Client<S>) {
    let joined = alice.join("proxied", "Alice", None);
    let code = joined["room_code"].as_str().unwrap().to_owned();
    let bob_joined = bob.join("proxied", "Bob", Some(&code));
    assert_eq!(alice.expect("PlayerJoined")["player"]["name"], "Bob");
    alice.send_json(r#"{"type":"GameData","data":{"data":{"move":"e4"}}}"#);
    let relayed = bob.expect("GameData");
    assert_eq!(
        (relayed["data"].clone(), relayed["from_player"].clone()),
        (serde_json::json!({"move":"e4"}), joined["player_id"].clone())
    );
    bob.send_json(r#"{"type":"GameData","data":{"data":{"move":"e5"}}}"#);
    let relayed = alice.expect("GameData");
    assert_eq!(
        (relayed["data"].clone(), relayed["from_player"].clone()),
        (serde_json::json!({"move":"e5"}), bob_joined["player_id"].clone())
    );
    bob.send_json(r#"{"type":"LeaveRoom"}"#);
    bob.expect("RoomLeft");
    assert_eq!(alice.expect("PlayerLeft")["player_id"], bob_joined["player_id"]);
}

/// A client that fakes `X-Forwarded-For` straight to the server, from an untrusted
/// address, has its own address's allowance and no more.
fn a_direct_client_faking_x_forwarded_for_is_limited_by_its_own_address(server: &TestServer) {
    let mut held = Vec::new();
    for n in 0..PER_IP {
        let fake = format!("198.51.100.{n}");
        let mut client = Client::connect_with(server.addr, "127.0.0.99", b"", &[("X-Forwarded-For", &fake)]);
        client.ping();
        held.push(client);
    }
    let fake = [("X-Forwarded-For", "198.51.100.200")];
    Client::connect_with(server.addr, "127.0.0.99", b"", &fake).expect_refused_per_ip();
}

#[test]
fn behind_nginx_terminating_tls_each_client_is_its_own_address() {
    let server = server(false);
    let Some(nginx) = RunningProxy::nginx(server.addr) else { return };
    // More clients than the per-IP cap (and than the default cap of 10), all through the
    // one proxy address: each is counted as itself.
    let mut clients: Vec<_> =
        client_addresses().iter().map(|source| must(&nginx, nginx.connect_tls(source, &[]))).collect();
    for client in &mut clients {
        client.ping();
    }
    let (first, rest) = clients.split_at_mut(1);
    play_a_room_session(&mut first[0], &mut rest[0]);
    // One real address is still capped: 127.0.0.2 has one connection, gets a second,
    // and the third is refused, even when it claims to be someone else (nginx appends
    // the real address; the server reads from the right).
    let mut second = must(&nginx, nginx.connect_tls("127.0.0.2", &[]));
    second.ping();
    let spoofed = [("X-Forwarded-For", "198.51.100.1")];
    let mut third = must(&nginx, nginx.connect_tls("127.0.0.2", &spoofed));
    third.expect_refused_per_ip();
    a_direct_client_faking_x_forwarded_for_is_limited_by_its_own_address(&server);
    for client in &mut clients {
        client.ping();
    }
}

#[test]
fn behind_haproxy_with_proxy_protocol_v2_each_client_is_its_own_address() {
    let server = server(true);
    let Some(haproxy) = RunningProxy::haproxy(server.addr) else { return };
    let mut clients: Vec<_> =
        client_addresses().iter().map(|source| must(&haproxy, haproxy.connect(source, &[]))).collect();
    for client in &mut clients {
        client.ping();
    }
    let (first, rest) = clients.split_at_mut(1);
    play_a_room_session(&mut first[0], &mut rest[0]);
    // HAProxy in TCP mode passes the client's headers on untouched: a faked
    // X-Forwarded-For changes nothing, the PROXY header names the real address.
    let mut second = must(&haproxy, haproxy.connect("127.0.0.2", &[]));
    second.ping();
    let spoofed = [("X-Forwarded-For", "198.51.100.1")];
    let mut third = must(&haproxy, haproxy.connect("127.0.0.2", &spoofed));
    third.expect_refused_per_ip();
    // HTTP endpoints through HAProxy too.
    let reply = support::proxies::http_through(
        haproxy.addr,
        "127.0.0.3",
        "GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}\n{}", haproxy.logs());
    a_direct_client_faking_x_forwarded_for_is_limited_by_its_own_address(&server);
    for client in &mut clients {
        client.ping();
    }
}
