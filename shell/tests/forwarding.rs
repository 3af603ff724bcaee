//! The client's address behind trusted proxies, over real sockets with hand-written
//! forwarding headers and PROXY protocol headers: per-IP limits apply to the client a
//! trusted proxy names, forwarding headers from anyone else are ignored, and unreadable
//! ones from a trusted proxy get 400 (never the proxy's own address).
//!
//! The "proxy" here is the loopback address 127.0.0.1 (trusted); clients connect from
//! other loopback addresses (untrusted). Real nginx and HAProxy: `behind_proxies.rs`.

mod support;

use signal_fish_server::Config;
use support::{http_raw_from, test_config, Client, Refused, TestServer};

/// The trusted "proxy" address.
const PROXY: &str = "127.0.0.1";

/// A server that trusts 127.0.0.1 and allows one connection per client address.
fn server(require_proxy_protocol: bool) -> TestServer {
    let mut config: Config = test_config();
    config.security.trusted_proxies = vec![PROXY.to_owned(), "2001:db8:ffff::/48".to_owned()];
    config.security.require_proxy_protocol = require_proxy_protocol;
    config.security.max_connections_per_ip = 1;
    TestServer::start(config)
}

fn status_of(result: Result<Client, Refused>) -> u16 {
    match result {
        Ok(_) => 101,
        Err(Refused::Status(status)) => status,
        Err(Refused::Failed(error)) => panic!("handshake failed without a status: {error}"),
    }
}

/// A PROXY v1 header naming `client` (IPv4).
fn proxy_v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 3536\r\n").into_bytes()
}

/// A PROXY v2 header naming `client` (IPv6), with an AWS-style TLV.
fn proxy_v2(client: &str) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x21".to_vec();
    let mut payload = client.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
    payload.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    payload.extend_from_slice(&[0x9c, 0x40, 0x0d, 0xd0]);
    payload.extend_from_slice(&[0xea, 0x00, 0x04, b'v', b'p', b'c', b'e']);
    header.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    header.extend_from_slice(&payload);
    header
}

#[test]
fn each_client_a_trusted_proxy_names_has_its_own_per_ip_allowance() {
    let server = server(false);
    // Without forwarding, the second connection from the proxy's address is refused.
    let mut plain = Client::connect_with(server.addr, PROXY, b"", &[]);
    plain.ping();
    Client::connect_with(server.addr, PROXY, b"", &[]).expect_refused_per_ip();
    // Every client the proxy names counts on its own, whatever the header's form.
    let mut clients = Vec::new();
    for (name, value) in [
        ("X-Forwarded-For", "203.0.113.1"),
        ("X-Forwarded-For", "198.51.100.7, 203.0.113.2"),
        ("X-Forwarded-For", "203.0.113.3, 127.0.0.1"),
        ("X-Forwarded-For", "[2001:db8::3]:4711"),
        ("Forwarded", "for=203.0.113.4;proto=https"),
        ("Forwarded", r#"for="[2001:db8:cafe::17]:4711""#),
        ("Forwarded", r#"for=203.0.113.5, for="[2001:db8:ffff::1]""#),
    ] {
        let mut client = Client::connect_with(server.addr, PROXY, b"", &[(name, value)]);
        client.ping();
        clients.push(client);
    }
    // The same client again is over its cap of one, whichever header names it.
    for (name, value) in [
        ("X-Forwarded-For", "203.0.113.1"),
        ("X-Forwarded-For", "10.9.9.9, 203.0.113.2"),
        ("Forwarded", "for=203.0.113.3"),
        ("Forwarded", r#"for="[2001:db8::3]""#),
        ("X-Forwarded-For", "2001:db8:cafe::17"),
        ("X-Forwarded-For", "203.0.113.5, 2001:db8:ffff::2"),
    ] {
        Client::connect_with(server.addr, PROXY, b"", &[(name, value)]).expect_refused_per_ip();
    }
    for client in &mut clients {
        client.ping();
    }
}

#[test]
fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let server = server(false);
    // A client that fakes X-Forwarded-For is limited by its own address.
    let mut first =
        Client::connect_with(server.addr, "127.3.0.1", b"", &[("X-Forwarded-For", "203.0.113.10")]);
    first.ping();
    let faked = [("X-Forwarded-For", "203.0.113.11"), ("Forwarded", "for=203.0.113.12")];
    Client::connect_with(server.addr, "127.3.0.1", b"", &faked[..1]).expect_refused_per_ip();
    Client::connect_with(server.addr, "127.3.0.1", b"", &faked[1..]).expect_refused_per_ip();
    // Garbage in them is ignored too: the untrusted peer is served as itself.
    let mut other = Client::connect_with(server.addr, "127.3.0.2", b"", &[("X-Forwarded-For", "garbage")]);
    other.ping();
    let health =
        "GET /v2/health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: garbage\r\nConnection: close\r\n\r\n";
    assert_eq!(http_raw_from(server.addr, "127.3.0.3", health.as_bytes()).status, 200);
    first.ping();
}

#[test]
fn unreadable_forwarding_headers_from_a_trusted_proxy_get_400() {
    let server = server(false);
    let oversized = format!("{}203.0.113.9", "198.51.100.1, ".repeat(200));
    let too_many = vec!["198.51.100.1"; 40].join(",");
    let cases: Vec<(&str, &str)> = vec![
        ("X-Forwarded-For", "garbage"),
        ("X-Forwarded-For", "203.0.113.9, unknown"),
        ("X-Forwarded-For", "203.0.113.9:99999"),
        ("X-Forwarded-For", &oversized),
        ("X-Forwarded-For", &too_many),
        ("Forwarded", "for=unknown"),
        ("Forwarded", "for=_hidden"),
        ("Forwarded", "for=2001:db8::1"),
        ("Forwarded", r#"for="[2001:db8::1]"#),
        ("Forwarded", "proto=https"),
    ];
    for (name, value) in &cases {
        let status = status_of(Client::try_connect_with(server.addr, PROXY, b"", &[(name, value)]));
        assert_eq!(status, 400, "upgrade with {name}: {value}");
        let request =
            format!("GET /v2/health HTTP/1.1\r\nHost: x\r\n{name}: {value}\r\nConnection: close\r\n\r\n");
        let reply = http_raw_from(server.addr, PROXY, request.as_bytes());
        assert_eq!(reply.status, 400, "health with {name}: {value}");
        assert_eq!(reply.header("connection"), Some("close"));
    }
    // Two headers naming different clients: the one the proxy did not write must not win.
    let disagree = [("Forwarded", "for=198.51.100.66"), ("X-Forwarded-For", "203.0.113.9")];
    assert_eq!(status_of(Client::try_connect_with(server.addr, PROXY, b"", &disagree)), 400);
    // The server goes on serving, and a proper header still works.
    let mut client = Client::connect_with(server.addr, PROXY, b"", &[("X-Forwarded-For", "203.0.113.9")]);
    client.ping();
}

#[test]
fn with_the_proxy_protocol_the_header_names_the_client() {
    let server = server(true);
    let mut clients = Vec::new();
    for preface in [proxy_v1("203.0.113.20"), proxy_v1("203.0.113.21"), proxy_v2("2001:db8::20")] {
        let mut client = Client::connect_with(server.addr, PROXY, &preface, &[]);
        client.ping();
        clients.push(client);
    }
    // The same client again is over its cap of one, v1 or v2.
    Client::connect_with(server.addr, PROXY, &proxy_v1("203.0.113.20"), &[]).expect_refused_per_ip();
    Client::connect_with(server.addr, PROXY, &proxy_v2("2001:db8::20"), &[]).expect_refused_per_ip();
    // The client's own X-Forwarded-For (HAProxy in TCP mode passes it on) is ignored.
    let faked = [("X-Forwarded-For", "198.51.100.99")];
    Client::connect_with(server.addr, PROXY, &proxy_v1("203.0.113.21"), &faked).expect_refused_per_ip();
    // A header naming another trusted proxy (nginx behind HAProxy): its headers count.
    let behind = [("X-Forwarded-For", "203.0.113.22")];
    let mut chained = Client::connect_with(server.addr, PROXY, &proxy_v1("127.0.0.1"), &behind);
    chained.ping();
    // HTTP endpoints behind the header too.
    let mut request = proxy_v1("203.0.113.23");
    request.extend_from_slice(b"GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(http_raw_from(server.addr, PROXY, &request).status, 200);
    // LOCAL (the proxy's own health check): served, as the proxy.
    let mut local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
    local.extend_from_slice(b"GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(http_raw_from(server.addr, PROXY, &local).status, 200);
    for client in &mut clients {
        client.ping();
    }
}

#[test]
fn with_the_proxy_protocol_a_trusted_peer_must_send_it_and_others_must_not() {
    let server = server(true);
    let health = b"GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // A trusted proxy without the header: refused, upgrade or not.
    assert_eq!(status_of(Client::try_connect_with(server.addr, PROXY, b"", &[])), 400);
    let reply = http_raw_from(server.addr, PROXY, health);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("PROXY"), "{}", reply.body);
    // Garbage or a cut-off header: refused.
    for garbage in [
        &b"PROXY TCP4 1.2.3.4\r\n"[..],
        b"PROXY TCP4 203.0.113.1 127.0.0.1 1 99999\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04",
    ] {
        let mut request = garbage.to_vec();
        request.extend_from_slice(health);
        assert_eq!(http_raw_from(server.addr, PROXY, &request).status, 400, "{garbage:?}");
    }
    // Other peers are direct clients: a PROXY header from them is not HTTP...
    let mut spoof = proxy_v1("203.0.113.30");
    spoof.extend_from_slice(health);
    assert_eq!(http_raw_from(server.addr, "127.3.0.5", &spoof).status, 400);
    assert_eq!(
        status_of(Client::try_connect_with(server.addr, "127.3.0.5", &proxy_v1("203.0.113.30"), &[])),
        400
    );
    // ...and without one they are served as themselves.
    let mut direct =
        Client::connect_with(server.addr, "127.3.0.5", b"", &[("X-Forwarded-For", "203.0.113.31")]);
    direct.ping();
    Client::connect_with(server.addr, "127.3.0.5", b"", &[("X-Forwarded-For", "203.0.113.32")])
        .expect_refused_per_ip();
}
