//! Replays every scenario that needs no time travel over real sockets: the server
//! (`signal-fish-server`) starts on 127.0.0.1:0 with the scenario's configuration, each
//! named connection is a real WebSocket client, and the transcript must match the same
//! expected output as in the simulator, so the shell and the engine cannot drift apart.
//!
//! After every command the replayer waits until each open connection has received
//! everything caused so far: it sends a WebSocket Pong frame on the connection that acted
//! first, then on each other one, and reads until the server's JSON `Pong` for it arrives
//! (the server processes each connection's frames in order and writes each connection's
//! frames in order, so that `Pong` comes after everything queued before it).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use signal_fish_core::http::HttpResponse;
use signal_fish_core::protocol::ClientMessage;
use signal_fish_core::{Config, Endpoint, Outbound};
use signal_fish_server::{Server, ShutdownHandle};
use signal_fish_sim::backend::Backend;
use signal_fish_sim::observe::Observation;
use signal_fish_sim::scenario::runner::{build_config, compare, run_on};
use signal_fish_sim::scenario::{collect, Scenario};
use signal_fish_sim::sim::RuleBreak;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Longest a read waits before the replay calls the server stuck.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most frames read while waiting for one barrier (a bound, never reached in practice).
const MAX_FRAMES_PER_BARRIER: usize = 10_000;

struct RunningServer {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    fn start(mut config: Config) -> RunningServer {
        config.logging.enable_file_logging = false;
        let server =
            Server::bind(config, "127.0.0.1:0".parse().expect("loopback")).expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || smol::block_on(server.run()));
        RunningServer { addr, handle, thread: Some(thread) }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            // run() returns within the server's own bounded shutdown grace period.
            thread.join().expect("server thread panicked");
        }
    }
}

struct Client {
    name: String,
    ws: WebSocket<TcpStream>,
    open: bool,
    /// JSON `Pong`s the scenario itself asked for and not yet received.
    scenario_pongs: usize,
}

struct RealBackend {
    addr: SocketAddr,
    max_message_size: usize,
    /// Header for the metrics endpoint when it needs one.
    metrics_auth: Vec<(String, String)>,
    clients: Vec<Client>,
    loopbacks: BTreeMap<IpAddr, Ipv4Addr>,
    observations: Vec<Observation>,
}

impl RealBackend {
    fn client(&mut self, name: &str) -> Result<usize, String> {
        let i = self.clients.iter().position(|c| c.name == name).ok_or(format!("no connection `{name}`"))?;
        if !self.clients[i].open {
            return Err(format!("connection `{name}` is closed"));
        }
        Ok(i)
    }

    /// A loopback source address standing for a scenario's client IP.
    fn source_for(&mut self, ip: IpAddr) -> Ipv4Addr {
        if ip.is_loopback() {
            return Ipv4Addr::LOCALHOST;
        }
        let next = Ipv4Addr::new(127, 0, 0, 10 + self.loopbacks.len() as u8);
        *self.loopbacks.entry(ip).or_insert(next)
    }

    /// Waits until every open connection has received everything caused so far,
    /// starting with connection `first`.
    fn barrier(&mut self, first: Option<usize>) -> Result<(), String> {
        let mut order: Vec<usize> = first.into_iter().collect();
        order.extend((0..self.clients.len()).filter(|i| Some(*i) != first));
        for i in order {
            if self.clients[i].open {
                self.sync(i)?;
            }
        }
        Ok(())
    }

    /// Sends a Pong frame on one connection and records what arrives up to the server's
    /// answer (or until the server closes the connection).
    fn sync(&mut self, i: usize) -> Result<(), String> {
        let client = &mut self.clients[i];
        let name = client.name.clone();
        if client.ws.send(Message::Pong(Default::default())).is_err() {
            // Already closed by the server: collect its close below.
        }
        let deadline = Instant::now() + IO_TIMEOUT;
        for _ in 0..MAX_FRAMES_PER_BARRIER {
            if Instant::now() > deadline {
                return Err(format!("`{name}`: no answer to the barrier within {IO_TIMEOUT:?}"));
            }
            let client = &mut self.clients[i];
            match client.ws.read() {
                Ok(Message::Text(text)) => {
                    if text.as_str() == r#"{"type":"Pong"}"# {
                        if client.scenario_pongs == 0 {
                            return Ok(());
                        }
                        client.scenario_pongs -= 1;
                    }
                    let frame = Outbound::Text(Bytes::copy_from_slice(text.as_bytes()));
                    self.observations.push(Observation::Message { conn: name.clone(), message: frame });
                }
                Ok(Message::Binary(data)) => {
                    let frame = Outbound::Binary(Bytes::copy_from_slice(&data));
                    self.observations.push(Observation::Message { conn: name.clone(), message: frame });
                }
                Ok(Message::Close(close)) => {
                    let (code, reason) =
                        close.map_or((1005, String::new()), |c| (u16::from(c.code), c.reason.to_string()));
                    self.observations.push(Observation::Closed { conn: name.clone(), code, reason });
                    client.open = false;
                    drain(&mut client.ws);
                    return Ok(());
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Err(format!("`{name}`: no answer to the barrier within {IO_TIMEOUT:?}"));
                }
                Err(e) => {
                    client.open = false;
                    return Err(format!("`{name}`: connection failed without a close frame: {e}"));
                }
            }
        }
        Err(format!("`{name}`: more than {MAX_FRAMES_PER_BARRIER} frames before the barrier"))
    }

    fn after(&mut self, first: usize) -> Result<(), String> {
        self.barrier(Some(first))
    }

    /// A connection the client ended leaves no frame to wait for: wait until the server
    /// has let go of it (its live-connection gauge drops), so its effects are queued
    /// before the barrier looks for them.
    fn await_departure(&mut self) -> Result<(), String> {
        let expected = self.clients.iter().filter(|c| c.open).count();
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let response = http_request(self.addr, "GET", "/metrics/prom", &self.metrics_auth)?;
            let body = String::from_utf8_lossy(&response.body);
            let active = body
                .lines()
                .find_map(|l| l.strip_prefix("signal_fish_connections_active "))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if active == Some(expected) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server still counts {active:?} connections {IO_TIMEOUT:?} after a client left (expected {expected})"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Reads what is left after a close so the close handshake completes.
fn drain(ws: &mut WebSocket<TcpStream>) {
    for _ in 0..100 {
        if ws.read().is_err() {
            return;
        }
    }
}

impl Backend for RealBackend {
    fn connect(&mut self, name: &str, ip: IpAddr, target: &str, endpoint: Endpoint) -> Result<(), String> {
        if endpoint == Endpoint::Mesh {
            // Mesh scenarios are simulator-only (`Command::sim_only`); shell/tests/mesh.rs
            // covers the mesh port over real sockets.
            return Err("a mesh connection cannot be replayed here".to_owned());
        }
        let source = self.source_for(ip);
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(&SocketAddr::new(IpAddr::V4(source), 0).into())
            .map_err(|e| format!("bind {source}: {e}"))?;
        socket.connect_timeout(&self.addr.into(), IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let url = format!("ws://{}{target}", self.addr);
        let (ws, _) = tungstenite::client(url.as_str(), stream).map_err(|e| format!("handshake: {e}"))?;
        self.clients.push(Client { name: name.to_owned(), ws, open: true, scenario_pongs: 0 });
        self.observations.push(Observation::Input);
        let i = self.clients.len() - 1;
        self.after(i)
    }

    fn text(&mut self, name: &str, text: &str) -> Result<(), String> {
        let i = self.client(name)?;
        let is_ping = text.len() <= self.max_message_size
            && matches!(ClientMessage::decode(text), Ok(ClientMessage::Ping));
        let client = &mut self.clients[i];
        if is_ping {
            client.scenario_pongs += 1;
        }
        client.ws.send(Message::text(text)).map_err(|e| format!("send: {e}"))?;
        self.observations.push(Observation::Input);
        self.after(i)
    }

    fn binary(&mut self, name: &str, data: Vec<u8>) -> Result<(), String> {
        let i = self.client(name)?;
        self.clients[i].ws.send(Message::binary(data)).map_err(|e| format!("send: {e}"))?;
        self.observations.push(Observation::Input);
        self.after(i)
    }

    fn pong(&mut self, name: &str) -> Result<(), String> {
        let i = self.client(name)?;
        let client = &mut self.clients[i];
        client.scenario_pongs += 1;
        client.ws.send(Message::Pong(Default::default())).map_err(|e| format!("send: {e}"))?;
        self.observations.push(Observation::Input);
        self.after(i)
    }

    fn close(&mut self, name: &str) -> Result<(), String> {
        let i = self.client(name)?;
        let client = &mut self.clients[i];
        client.open = false;
        let _ = client
            .ws
            .close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "".into() }));
        let _ = client.ws.flush();
        drain(&mut client.ws);
        self.observations.push(Observation::Input);
        self.await_departure()?;
        self.barrier(None)
    }

    fn drop_conn(&mut self, name: &str) -> Result<(), String> {
        let i = self.client(name)?;
        let client = &mut self.clients[i];
        client.open = false;
        let _ = client.ws.get_ref().shutdown(Shutdown::Both);
        self.observations.push(Observation::Input);
        self.await_departure()?;
        self.barrier(None)
    }

    fn stall(&mut self, _: &str) -> Result<(), String> {
        Err("`stall` runs only in the simulator".to_owned())
    }

    fn backlog(&mut self, _: &str) -> Result<(), String> {
        Err("`backlog` runs only in the simulator".to_owned())
    }

    fn http(&mut self, method: &str, target: &str, headers: Vec<(String, String)>) -> Result<(), String> {
        let response = http_request(self.addr, method, target, &headers)?;
        self.observations.push(Observation::Input);
        self.observations.push(Observation::Http { method: method.to_owned(), response });
        self.barrier(None)
    }

    fn advance(&mut self, _: Duration) -> Result<(), String> {
        Err("`advance` runs only in the simulator".to_owned())
    }
    fn advance_next(&mut self) -> Result<(), String> {
        Err("`advance` runs only in the simulator".to_owned())
    }
    fn stabilize(&mut self) -> Result<(), String> {
        Err("`stabilize` runs only in the simulator".to_owned())
    }
    fn shutdown(&mut self) -> Result<(), String> {
        Err("`shutdown` runs only in the simulator".to_owned())
    }
    fn state(&mut self) -> Result<(), String> {
        Err("`state` runs only in the simulator".to_owned())
    }
    fn settle(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.observations)
    }
    fn violations(&self) -> Vec<RuleBreak> {
        Vec::new()
    }
}

/// One HTTP/1.1 request on its own connection; the whole response is read.
fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
) -> Result<HttpResponse, String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut request = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream.take(4 << 20).read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of response head")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(format!("bad status line `{status_line}`"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = Bytes::copy_from_slice(&raw[split + 4..]);
    Ok(HttpResponse { id: 0, status, headers, body })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

#[test]
fn scenarios_without_time_travel_match_over_real_sockets() {
    let root = workspace_root();
    let (files, _) = collect(&[root.join("scenarios")]).expect("scenarios/ is readable");
    let mut failures = Vec::new();
    let mut replayed = 0;
    let mut skipped = 0;
    for file in &files {
        let mut scenario = Scenario::load(file).expect("scenario parses");
        if scenario.sim_only_reason().is_some() {
            skipped += 1;
            continue;
        }
        scenario.path = file.strip_prefix(&root).map(Path::to_path_buf).unwrap_or_else(|_| file.clone());
        let mut config = build_config(&scenario.path, &scenario.header).expect("valid config");
        // The replayer polls /metrics/prom for its barriers; the scenario's own metrics
        // requests must not be throttled by those (the budget's scenario is sim-only).
        config.metrics.max_renders_per_second = 10_000;
        let max_message_size = config.security.max_message_size;
        let metrics_auth = match &config.security.metrics_auth_token {
            Some(token) if config.security.require_metrics_auth => {
                vec![("authorization".to_owned(), format!("Bearer {token}"))]
            }
            _ => Vec::new(),
        };
        let server = RunningServer::start(config);
        let mut backend = RealBackend {
            addr: server.addr,
            max_message_size,
            metrics_auth,
            clients: Vec::new(),
            loopbacks: BTreeMap::new(),
            observations: Vec::new(),
        };
        let transcript = run_on(&scenario, &mut backend);
        drop(backend);
        drop(server);
        replayed += 1;
        let mut problems = transcript.problems.clone();
        problems.extend(compare(&scenario, &transcript));
        if !problems.is_empty() {
            failures.push(format!("{} over real sockets:\n{}", scenario.path.display(), problems.join("\n")));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    let _ = writeln!(
        std::io::stdout(),
        "real sockets: {replayed} scenarios replayed against the server, {} failed, {skipped} simulator-only",
        failures.len()
    );
    assert!(replayed >= 10, "expected many scenarios without time travel, found {replayed}");
    assert!(failures.is_empty(), "{} scenario(s) differ over real sockets; reports above", failures.len());
}
