//! Helpers for end-to-end tests: an in-process server on 127.0.0.1:0, a blocking
//! WebSocket client and a raw HTTP client, all with timeouts so no test can hang.

#![allow(dead_code)] // each test binary uses a different subset

pub mod child;
pub mod frames;
pub mod proxies;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use signal_fish_server::{Config, Server, ShutdownHandle, TransportLimits};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Longest any single read in a test waits.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A server running on its own thread; shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The matchbox full-mesh port, when the config enables it.
    pub mesh_addr: Option<SocketAddr>,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(config: Config) -> TestServer {
        let limits = TransportLimits::for_config(&config);
        TestServer::start_with_limits(config, limits)
    }

    pub fn start_with_limits(config: Config, limits: TransportLimits) -> TestServer {
        let server = Server::bind(config, "127.0.0.1:0".parse().unwrap()).expect("bind").with_limits(limits);
        let addr = server.local_addr();
        let mesh_addr = server.mesh_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || smol::block_on(server.run()));
        TestServer { addr, mesh_addr, handle, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Starts the shutdown and waits (bounded) for `run` to return; returns how long it took.
    pub fn shutdown(&mut self) -> Duration {
        let started = Instant::now();
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            // run() is bounded by the server's own grace period; the join cannot hang longer.
            thread.join().expect("server thread panicked");
        }
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// A config for tests: defaults, file logging off.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.logging.enable_file_logging = false;
    config
}

/// A blocking WebSocket client, over TCP or any other stream (TLS: `proxies.rs`).
pub struct Client<S: Read + Write = TcpStream> {
    pub ws: WebSocket<S>,
}

/// Why a handshake did not end in `101 Switching Protocols`.
#[derive(Debug)]
pub enum Refused {
    /// The server answered with this status.
    Status(u16),
    /// The handshake failed otherwise (closed, reset, garbage).
    Failed(String),
}

impl Client {
    pub fn connect(server: &TestServer) -> Client {
        Client::connect_path(server, "/v2/ws")
    }

    pub fn connect_path(server: &TestServer, path: &str) -> Client {
        Client::connect_from(server.addr, path, None)
    }

    /// Connects from a chosen loopback source address (per-IP limits).
    pub fn connect_from(addr: SocketAddr, path: &str, source: Option<&str>) -> Client {
        let stream = match source {
            None => TcpStream::connect(addr).expect("connect"),
            Some(ip) => connect_from_ip(addr, ip),
        };
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let url = format!("ws://{addr}{path}");
        let (ws, response) = tungstenite::client::client(url.as_str(), stream).expect("handshake");
        assert_eq!(response.status(), 101);
        Client { ws }
    }

    /// Connects to `/v2/ws` from `source` (a loopback address), writing `preface` first
    /// (a PROXY protocol header, say) and sending `headers` with the upgrade request.
    pub fn try_connect_with(
        addr: SocketAddr,
        source: &str,
        preface: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Client, Refused> {
        let mut stream = connect_from_ip(addr, source);
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(preface).expect("write the preface");
        Client::handshake(stream, &format!("ws://{addr}/v2/ws"), headers)
    }

    /// [`Client::try_connect_with`] that must succeed.
    pub fn connect_with(addr: SocketAddr, source: &str, preface: &[u8], headers: &[(&str, &str)]) -> Client {
        Client::try_connect_with(addr, source, preface, headers)
            .unwrap_or_else(|refused| panic!("handshake from {source} refused: {refused:?}"))
    }
}

impl<S: Read + Write> Client<S> {
    /// The WebSocket handshake on `stream`, with extra request headers.
    pub fn handshake(stream: S, url: &str, headers: &[(&str, &str)]) -> Result<Client<S>, Refused> {
        use tungstenite::client::IntoClientRequest;
        use tungstenite::http::{HeaderName, HeaderValue};
        let mut request = url.into_client_request().expect("request");
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
            request.headers_mut().append(name, HeaderValue::from_str(value).expect("header value"));
        }
        match tungstenite::client::client(request, stream) {
            Ok((ws, response)) => {
                assert_eq!(response.status(), 101);
                Ok(Client { ws })
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(Refused::Status(response.status().as_u16()))
            }
            Err(error) => Err(Refused::Failed(error.to_string())),
        }
    }

    pub fn send_json(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    pub fn send(&mut self, message: Message) {
        self.ws.send(message).expect("send");
    }

    /// The next text message as JSON (skips nothing: a binary or close frame fails).
    pub fn recv(&mut self) -> Value {
        match self.recv_message() {
            Message::Text(text) => serde_json::from_str(&text).expect("server sent invalid JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text message, as sent.
    pub fn recv_text(&mut self) -> String {
        match self.recv_message() {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next data or close message (pings and pongs are skipped).
    pub fn recv_message(&mut self) -> Message {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_)) => continue,
                Ok(message) => return message,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next message must be of this type; returns its `data`.
    pub fn expect(&mut self, kind: &str) -> Value {
        let message = self.recv();
        assert_eq!(message["type"], kind, "unexpected message: {message}");
        message.get("data").cloned().unwrap_or(Value::Null)
    }

    /// Reads until the server's close frame; returns its code. Messages before it are
    /// returned too.
    pub fn expect_close(&mut self) -> (u16, Vec<Message>) {
        self.expect_close_within(IO_TIMEOUT)
    }

    /// [`Client::expect_close`], waiting up to `within` (reads that time out meanwhile
    /// are retried).
    pub fn expect_close_within(&mut self, within: Duration) -> (u16, Vec<Message>) {
        let mut before = Vec::new();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.ws.read() {
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue
                }
                Ok(Message::Close(frame)) => {
                    // Send tungstenite's queued close reply now, like a browser would.
                    let _ = self.ws.flush();
                    let code = frame.map_or(u16::from(CloseCode::Status), |f| u16::from(f.code));
                    return (code, before);
                }
                Ok(message) => before.push(message),
                Err(e) => {
                    let mut seen = format!("{before:?}");
                    seen.truncate(300);
                    panic!(
                        "connection ended without a close frame: {e} (after {} messages: {seen})",
                        before.len()
                    )
                }
            }
        }
        panic!("no close frame within {within:?}");
    }

    /// `Ping` answered by `Pong`: the connection was accepted and is served.
    pub fn ping(&mut self) {
        self.send_json(r#"{"type":"Ping"}"#);
        self.expect("Pong");
    }

    /// The next messages are the per-IP refusal (an `Error`, then close 1008).
    pub fn expect_refused_per_ip(&mut self) {
        let error = self.expect("Error");
        assert_eq!(error["error_code"], "TOO_MANY_CONNECTIONS", "{error}");
        assert_eq!(self.expect_close().0, 1008);
    }

    /// Joins (or creates) a room; returns the `RoomJoined` data.
    pub fn join(&mut self, game: &str, name: &str, code: Option<&str>) -> Value {
        let code = code.map(|c| format!(r#","room_code":"{c}""#)).unwrap_or_default();
        self.send_json(&format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"{game}","player_name":"{name}"{code}}}}}"#
        ));
        self.expect("RoomJoined")
    }
}

/// A loopback source address no other caller in this process has had (127.2.x.y), so
/// per-IP limits and rate limits never couple two checks.
pub fn fresh_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("127.2.{}.{}", n / 250, n % 250 + 1)
}

/// Asserts the server still serves well-behaved clients: a fresh client gets `Pong` for
/// `Ping`, and game data sent by one player of a new room reaches the other.
pub fn assert_service(addr: SocketAddr) {
    let mut alice = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
    let mut bob = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
    alice.send_json(r#"{"type":"Ping"}"#);
    alice.expect("Pong");
    let code = alice.join("legit", "Alice", None)["room_code"].as_str().unwrap().to_owned();
    bob.join("legit", "Bob", Some(&code));
    alice.expect("PlayerJoined");
    alice.send_json(r#"{"type":"GameData","data":{"data":{"n":42}}}"#);
    let relayed = bob.expect("GameData");
    assert_eq!(relayed["data"], serde_json::json!({"n":42}), "{relayed}");
}

/// A TCP connection to `addr` from the loopback source address `ip`.
pub fn connect_from_ip(addr: SocketAddr, ip: &str) -> TcpStream {
    // std has no bind-before-connect; socket2 does. Any 127.0.0.0/8 source works on Linux.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{ip}:0").parse().unwrap();
    socket.bind(&source.into()).expect("bind source address");
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    socket.into()
}

/// An HTTP response read by [`http`].
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `request` (a full HTTP/1.1 request head; `Connection: close` is wise) and
/// reads the whole response until the server closes.
pub fn http_raw(addr: SocketAddr, request: &str) -> HttpReply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_reply(&raw)
}

/// Sends `bytes` (a PROXY header and a request, say) from the loopback source address
/// `source` and reads the whole response until the server closes.
pub fn http_raw_from(addr: SocketAddr, source: &str, bytes: &[u8]) -> HttpReply {
    let mut stream = connect_from_ip(addr, source);
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_reply(&raw)
}

/// `GET`-style request with extra header lines.
pub fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpReply {
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    http_raw(addr, &request)
}

pub fn parse_reply(raw: &[u8]) -> HttpReply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    HttpReply { status, headers, body: body.to_owned() }
}

/// A Prometheus metric's value from `/metrics/prom` (waiting out the render budget's
/// 429s, for tests that poll).
pub fn prom_metric(addr: SocketAddr, name: &str) -> u64 {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut reply = http(addr, "GET", "/metrics/prom", &[]);
    while reply.status == 429 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        reply = http(addr, "GET", "/metrics/prom", &[]);
    }
    let body = reply.body;
    let line = body.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Polls `check` every 10 ms until it holds or `IO_TIMEOUT` passes.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
