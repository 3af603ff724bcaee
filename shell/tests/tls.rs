//! Built-in TLS and mutual TLS (feature `tls`) over real sockets, with certificates made
//! at test time: a room session over `wss://`, health and metrics over `https://`,
//! client certificates required, optional or not asked for, bad files refused at start
//! with the key and the file named, and a stalled handshake bounded by the head timeout.
#![cfg(feature = "tls")]

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use signal_fish_core::config::ClientAuthMode;
use signal_fish_server::{Config, Server, TransportLimits};
use support::proxies::TempDir;
use support::{test_config, Client, Refused, TestServer, IO_TIMEOUT};

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A CA and what it signed, as PEM files in a directory of their own.
struct Pki {
    dir: TempDir,
}

impl Pki {
    /// A server CA with a `localhost` certificate, a client CA with one client, and an
    /// unrelated CA with another client.
    fn new() -> Pki {
        let dir = TempDir::new("signal-fish-tls");
        let server_ca = ca("Signal Fish test server CA");
        leaf(&dir, "server", &server_ca, vec!["localhost".to_owned()], false);
        fs::write(dir.path().join("server-ca.pem"), server_ca.pem()).unwrap();
        let client_ca = ca("Signal Fish test client CA");
        leaf(&dir, "client", &client_ca, Vec::new(), true);
        fs::write(dir.path().join("client-ca.pem"), client_ca.pem()).unwrap();
        let other_ca = ca("Another CA");
        leaf(&dir, "stranger", &other_ca, Vec::new(), true);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, client_auth: ClientAuthMode) -> Config {
        let mut config = test_config();
        let tls = &mut config.security.transport.tls;
        tls.enabled = true;
        tls.certificate_path = Some(text(&self.path("server.pem")));
        tls.private_key_path = Some(text(&self.path("server.key")));
        if client_auth != ClientAuthMode::None {
            tls.client_ca_cert_path = Some(text(&self.path("client-ca.pem")));
        }
        tls.client_auth = client_auth;
        config
    }

    /// A rustls client trusting the server CA, presenting `identity`'s certificate if any.
    fn client_config(&self, identity: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.path("server-ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        // ring, as the server uses (no C toolchain); see src/tls/load.rs.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain: Vec<_> = CertificateDer::pem_file_iter(self.path(&format!("{name}.pem")))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        Arc::new(config)
    }

    /// A TLS stream to `server`, handshake completed (or its error).
    fn tls(&self, server: &TestServer, identity: Option<&str>) -> std::io::Result<TlsStream> {
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(self.client_config(identity), name).unwrap();
        let tcp = TcpStream::connect(server.addr)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// A `wss://` client.
    fn connect(&self, server: &TestServer, identity: Option<&str>) -> Result<Client<TlsStream>, Refused> {
        let stream = self.tls(server, identity).map_err(|e| Refused::Failed(e.to_string()))?;
        let url = format!("wss://localhost:{}/v2/ws", server.addr.port());
        Client::handshake(stream, &url, &[])
    }

    /// One `https://` GET: the status line and body, or the error.
    fn https_get(&self, server: &TestServer, target: &str) -> std::io::Result<(String, String)> {
        let mut stream = self.tls(server, None)?;
        write!(stream, "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut reply = Vec::new();
        // The server closes after the answer (close_notify, then FIN).
        let _ = stream.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        Ok((head.lines().next().unwrap_or_default().to_owned(), body.to_owned()))
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    dir: &TempDir,
    name: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: Vec<String>,
    client: bool,
) {
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
    fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn prom(pki: &Pki, server: &TestServer, name: &str) -> u64 {
    let (status, body) = pki.https_get(server, "/metrics/prom").expect("metrics over https");
    assert!(status.contains("200"), "{status}");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_room_session_over_wss_and_health_over_https() {
    let pki = Pki::new();
    let server = TestServer::start(pki.config(ClientAuthMode::None));
    let mut alice = pki.connect(&server, None).expect("alice over wss");
    let mut bob = pki.connect(&server, None).expect("bob over wss");
    let joined = alice.join("tls-game", "Alice", None);
    let code = joined["room_code"].as_str().unwrap().to_owned();
    bob.join("tls-game", "Bob", Some(&code));
    assert_eq!(alice.expect("PlayerJoined")["player"]["name"], "Bob");
    bob.send_json(r#"{"type":"GameData","data":{"data":{"hello":"over tls"}}}"#);
    assert_eq!(alice.expect("GameData")["data"]["hello"], "over tls");

    let (status, body) = pki.https_get(&server, "/v2/health").expect("health over https");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(!body.is_empty());
    assert!(prom(&pki, &server, "signal_fish_tls_handshakes_total") >= 3);

    // Plain HTTP on the TLS port is not served.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    plain.write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(!String::from_utf8_lossy(&reply).contains("200 OK"), "plain HTTP answered on the TLS port");
    assert!(prom(&pki, &server, "signal_fish_tls_handshake_failures_total") >= 1);
}

#[test]
fn required_client_certificates_admit_only_the_configured_ca() {
    let pki = Pki::new();
    let server = TestServer::start(pki.config(ClientAuthMode::Require));
    assert!(pki.connect(&server, None).is_err(), "no certificate: refused");
    assert!(pki.connect(&server, Some("stranger")).is_err(), "another CA's client: refused");
    let mut good = pki.connect(&server, Some("client")).expect("the configured CA's client");
    good.join("mtls", "Good", None);
}

#[test]
fn optional_client_certificates_admit_clients_with_and_without_one() {
    let pki = Pki::new();
    let server = TestServer::start(pki.config(ClientAuthMode::Optional));
    pki.connect(&server, None).expect("no certificate").join("mtls", "Anonymous", None);
    pki.connect(&server, Some("client")).expect("a good certificate").join("mtls", "Known", None);
    assert!(
        pki.connect(&server, Some("stranger")).is_err(),
        "a certificate from another CA is still checked"
    );
}

#[test]
fn unusable_files_stop_the_start_naming_the_key_and_the_file() {
    let pki = Pki::new();
    let bind = |config: Config| match Server::bind(config, "127.0.0.1:0".parse().unwrap()) {
        Ok(_) => panic!("started with unusable TLS files"),
        Err(e) => e.to_string(),
    };

    let mut missing = pki.config(ClientAuthMode::None);
    missing.security.transport.tls.certificate_path = Some(text(&pki.path("nope.pem")));
    let error = bind(missing);
    assert!(
        error.contains("security.transport.tls.certificate_path") && error.contains("nope.pem"),
        "{error}"
    );

    let mut mismatched = pki.config(ClientAuthMode::None);
    mismatched.security.transport.tls.private_key_path = Some(text(&pki.path("client.key")));
    let error = bind(mismatched);
    assert!(
        error.contains("security.transport.tls.private_key_path") && error.contains("client.key"),
        "{error}"
    );

    let mut not_a_key = pki.config(ClientAuthMode::None);
    not_a_key.security.transport.tls.private_key_path = Some(text(&pki.path("server.pem")));
    let error = bind(not_a_key);
    assert!(error.contains("security.transport.tls.private_key_path"), "{error}");
    assert!(!error.contains("BEGIN"), "no file contents in errors: {error}");

    let mut no_ca = pki.config(ClientAuthMode::Require);
    no_ca.security.transport.tls.client_ca_cert_path = None;
    assert!(bind(no_ca).contains("security.transport.tls.client_ca_cert_path"));
}

#[test]
fn a_stalled_handshake_is_closed_at_the_head_timeout() {
    let pki = Pki::new();
    let config = pki.config(ClientAuthMode::None);
    let mut limits = TransportLimits::for_config(&config);
    limits.head_timeout = Duration::from_millis(300);
    let server = TestServer::start_with_limits(config, limits);
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let started = Instant::now();
    let mut byte = [0; 1];
    let read = stalled.read(&mut byte);
    assert!(matches!(read, Ok(0) | Err(_)), "closed, not answered: {read:?}");
    assert!(started.elapsed() < IO_TIMEOUT, "closed by the server, not by the test's timeout");
    assert_eq!(prom(&pki, &server, "signal_fish_tls_handshake_failures_total"), 1);
}

/// `signal-fish-bench --tls-ca` drives a server with built-in TLS: a short relay run over
/// `wss://` loses, duplicates and reorders nothing.
#[test]
fn the_benchmark_drives_a_tls_server() {
    use signal_fish_bench::scenario::phases::TrafficPhases;
    use signal_fish_bench::scenario::relay::{self, RelayOptions};
    let pki = Pki::new();
    let server = TestServer::start(pki.config(ClientAuthMode::None));
    signal_fish_bench::net::use_tls(&pki.path("server-ca.pem")).expect("trust the test CA");
    let ctx =
        signal_fish_bench::RunContext::new(server.addr, Some(std::process::id()), None, 4).expect("context");
    let options = RelayOptions {
        rooms: 2,
        room_size: 3,
        window: 8,
        phases: TrafficPhases {
            warmup: Duration::from_millis(200),
            duration: Duration::from_millis(700),
            drain: Duration::from_secs(5),
            pad: 16,
            join_in_flight: 6,
            join_timeout: Duration::from_secs(5),
        },
    };
    let rendered = relay::run(&ctx, &options).expect("relay over wss").render();
    let json: serde_json::Value = serde_json::from_str(rendered.lines().last().unwrap()).unwrap();
    assert_eq!(json["joined"], 6, "{json}");
    for key in ["lost", "duplicated", "reordered"] {
        assert_eq!(json[key], 0, "{key}: {json}");
    }
    assert_eq!(json["deliveries_total"], json["deliveries_expected"], "{json}");
    assert!(json["deliveries_total"].as_u64().unwrap() > 0, "{json}");
}
