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
//!
//! Every run is also recorded by the flight recorder (`recorder.*`, small files so that
//! busy scenarios rotate), and replaying the recording must reproduce every frame and
//! close each client received over its socket (issue 13's end-to-end check).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use signal_fish_core::http::HttpResponse;
use signal_fish_core::protocol::ClientMessage;
use signal_fish_core::recording::{ConnectionOutput, Delivered, RecordingFile, Replayer};
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
    /// Barriers leave it alone: the client does not read (a slow consumer).
    stalled: bool,
    /// Everything the socket delivered, barrier answers included, and the server's close.
    received: ConnectionOutput,
}

struct RealBackend {
    /// The server, or the nodes of a cluster: the n-th connection goes to node n % len
    /// (round robin), HTTP requests to the first.
    addrs: Vec<SocketAddr>,
    max_message_size: usize,
    /// Header for the metrics endpoint when it needs one.
    metrics_auth: Vec<(String, String)>,
    clients: Vec<Client>,
    loopbacks: BTreeMap<IpAddr, Ipv4Addr>,
    observations: Vec<Observation>,
    /// SO_RCVBUF for the next connections (a slow consumer's small window).
    receive_buffer: Option<usize>,
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
            if self.clients[i].open && !self.clients[i].stalled {
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
            let read = client.ws.read();
            match &read {
                Ok(Message::Text(text)) => {
                    client.received.frames.push(Outbound::Text(Bytes::copy_from_slice(text.as_bytes())))
                }
                Ok(Message::Binary(data)) => {
                    client.received.frames.push(Outbound::Binary(Bytes::copy_from_slice(data)))
                }
                Ok(Message::Close(close)) => {
                    client.received.close = Some(close.as_ref().map_or(1005, |c| u16::from(c.code)))
                }
                _ => {}
            }
            match read {
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
            // Sockets held, over every node: a connection served by another node is
            // counted by both, and is gone once both let go of it.
            let mut active = Some(0);
            let mut in_flight = 0i64;
            for &addr in &self.addrs {
                let response = http_request(addr, "GET", "/metrics/prom", &self.metrics_auth)?;
                let body = String::from_utf8_lossy(&response.body);
                let gauge = |name: &str| {
                    body.lines()
                        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                };
                let served_for_others = gauge("signal_fish_cluster_connections_forwarded_in").unwrap_or(0);
                in_flight += served_for_others as i64;
                in_flight -= gauge("signal_fish_cluster_connections_forwarded_out").unwrap_or(0) as i64;
                active = active
                    .zip(gauge("signal_fish_connections_active"))
                    .map(|(sum, n)| sum + n - served_for_others);
            }
            if active == Some(expected) && in_flight == 0 {
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
        if let Some(bytes) = self.receive_buffer {
            socket.set_recv_buffer_size(bytes).map_err(|e| format!("SO_RCVBUF: {e}"))?;
        }
        socket
            .bind(&SocketAddr::new(IpAddr::V4(source), 0).into())
            .map_err(|e| format!("bind {source}: {e}"))?;
        let addr = self.addrs[self.clients.len() % self.addrs.len()];
        socket.connect_timeout(&addr.into(), IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let url = format!("ws://{addr}{target}");
        let (ws, _) = tungstenite::client(url.as_str(), stream).map_err(|e| format!("handshake: {e}"))?;
        self.clients.push(Client {
            name: name.to_owned(),
            ws,
            open: true,
            scenario_pongs: 0,
            stalled: false,
            received: ConnectionOutput::default(),
        });
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
        let response = http_request(self.addrs[0], method, target, &headers)?;
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
    let mut recorded_files = 0;
    for file in &files {
        let Some(scenario) = socket_scenario(&root, file) else {
            skipped += 1;
            continue;
        };
        let run = replay_over_sockets(&scenario, None);
        replayed += 1;
        recorded_files += run.recorded_files;
        if !run.problems.is_empty() {
            failures.push(format!(
                "{} over real sockets:\n{}",
                scenario.path.display(),
                run.problems.join("\n")
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    let _ = writeln!(
        std::io::stdout(),
        "real sockets: {replayed} scenarios replayed against the server, {} failed, {skipped} simulator-only; {recorded_files} recording files replayed",
        failures.len()
    );
    assert!(
        recorded_files >= replayed,
        "every run left a recording ({recorded_files} files for {replayed} runs)"
    );
    assert!(replayed >= 10, "expected many scenarios without time travel, found {replayed}");
    assert!(failures.is_empty(), "{} scenario(s) differ over real sockets; reports above", failures.len());
}

/// Scenarios whose transcript on a cluster differs from one server's, and why. Each is
/// still replayed: it must pass everything but its transcript comparison (rule breaks,
/// recordings), and must really differ (a listed scenario that starts to match is an
/// error, so the list stays true).
const CLUSTER_DIFFERENCES: &[(&str, &str)] = &[(
    "scenarios/limits/room_caps.scn",
    "room caps (server.max_rooms, max_rooms_per_game, an app's max_rooms) count the rooms of one node, and this scenario's rooms are made on different nodes",
)];

/// The same scenarios against three nodes sharing one redis-server: every named client
/// connects to the next node (round robin), so rooms span nodes, and the transcripts must
/// be the single server's (DECISIONS D58), but for the differences listed above. Every
/// node records, and each node's recording replays to what its own clients received.
#[test]
fn scenarios_match_over_real_sockets_on_a_three_node_cluster() {
    let Some(redis) = signal_fish_redis::testing::RedisServer::start() else { return };
    let root = workspace_root();
    let (files, _) = collect(&[root.join("scenarios")]).expect("scenarios/ is readable");
    let mut failures = Vec::new();
    let mut replayed = 0;
    let mut differing = 0;
    for (index, file) in files.iter().enumerate() {
        let Some(scenario) = socket_scenario(&root, file) else { continue };
        let plan = ClusterPlan {
            redis_url: redis.url(),
            key_prefix: format!("rs{}-{index}", std::process::id()),
            nodes: 3,
        };
        let run = replay_over_sockets(&scenario, Some(&plan));
        replayed += 1;
        let name = scenario.path.display().to_string().replace('\\', "/");
        let listed = CLUSTER_DIFFERENCES.iter().find(|(path, _)| *path == name);
        let (transcript_problems, other_problems): (Vec<String>, Vec<String>) =
            run.problems.into_iter().partition(|p| !p.starts_with(RECORDING_PROBLEM));
        let mut problems = other_problems;
        match (listed, transcript_problems.is_empty()) {
            (None, _) => problems.extend(transcript_problems),
            (Some(_), false) => differing += 1,
            (Some((_, why)), true) => problems
                .push(format!("listed as differing on a cluster ({why}) but matches: take it off the list")),
        }
        if !problems.is_empty() {
            failures.push(format!("{name} on a 3-node cluster:\n{}", problems.join("\n")));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    let _ = writeln!(
        std::io::stdout(),
        "real sockets, 3-node cluster: {replayed} scenarios replayed, {} failed, {differing} differ as listed",
        failures.len()
    );
    assert!(replayed >= 10, "expected many scenarios without time travel, found {replayed}");
    assert!(failures.is_empty(), "{} scenario(s) differ on a cluster; reports above", failures.len());
}

/// Marks a problem found in a node's recording (not in the transcript).
const RECORDING_PROBLEM: &str = "recording: ";

/// The scenario in `file` if it runs over real sockets (no time travel, no mesh).
fn socket_scenario(root: &Path, file: &Path) -> Option<Scenario> {
    let mut scenario = Scenario::load(file).expect("scenario parses");
    if scenario.sim_only_reason().is_some() {
        return None;
    }
    scenario.path = file.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| file.to_path_buf());
    Some(scenario)
}

/// What one replay over real sockets found.
struct SocketRun {
    problems: Vec<String>,
    recorded_files: usize,
}

/// A cluster to replay a scenario on: its nodes share one Redis under one key prefix.
struct ClusterPlan {
    redis_url: String,
    key_prefix: String,
    nodes: usize,
}

/// Replays `scenario` against one server, or against the nodes of `cluster`; each server
/// records, and each recording must replay to what that server's clients received.
fn replay_over_sockets(scenario: &Scenario, cluster: Option<&ClusterPlan>) -> SocketRun {
    let mut config = build_config(&scenario.path, &scenario.header).expect("valid config");
    // The replayer polls /metrics/prom for its barriers; the scenario's own metrics
    // requests must not be throttled by those (the budget's scenario is sim-only).
    config.metrics.max_renders_per_second = 10_000;
    config.recorder.enabled = true;
    config.recorder.max_file_bytes = 1 << 16;
    config.recorder.max_bytes = 1 << 30;
    config.recorder.digest_every = 16;
    let max_message_size = config.security.max_message_size;
    let metrics_auth = match &config.security.metrics_auth_token {
        Some(token) if config.security.require_metrics_auth => {
            vec![("authorization".to_owned(), format!("Bearer {token}"))]
        }
        _ => Vec::new(),
    };
    let count = cluster.map_or(1, |plan| plan.nodes);
    // Named apart from the other test's: both replay the same scenarios at once.
    let run_name =
        |k: usize| if cluster.is_some() { format!("cluster-node{k}") } else { "single".to_owned() };
    let dirs: Vec<PathBuf> = (0..count).map(|k| fresh_dir(&scenario.path.join(run_name(k)))).collect();
    let servers: Vec<RunningServer> = dirs
        .iter()
        .enumerate()
        .map(|(k, dir)| {
            let mut config = config.clone();
            config.recorder.dir = dir.display().to_string();
            if let Some(plan) = cluster {
                config.cluster.redis_url = Some(plan.redis_url.clone());
                config.cluster.node_id = Some(format!("{}-n{k}", plan.key_prefix));
                config.cluster.key_prefix = plan.key_prefix.clone();
            }
            RunningServer::start(config)
        })
        .collect();
    let mut backend = RealBackend {
        addrs: servers.iter().map(|s| s.addr).collect(),
        max_message_size,
        metrics_auth,
        clients: Vec::new(),
        loopbacks: BTreeMap::new(),
        observations: Vec::new(),
        receive_buffer: None,
    };
    let transcript = run_on(scenario, &mut backend);
    let received: Vec<ConnectionOutput> = backend.clients.iter().map(|c| c.received.clone()).collect();
    drop(backend);
    // The servers' shutdown waits for each recorder to put everything on disk.
    drop(servers);
    let mut problems = transcript.problems.clone();
    problems.extend(compare(scenario, &transcript));
    let mut recorded_files = 0;
    for (k, dir) in dirs.iter().enumerate() {
        // Node k's clients: every count-th connection from the k-th.
        let own: Vec<ConnectionOutput> = received.iter().skip(k).step_by(count).cloned().collect();
        match replay_recording(dir) {
            Ok(recorded) => {
                recorded_files += recorded.files;
                problems.extend(
                    compare_with_replay(&own, &recorded)
                        .into_iter()
                        .map(|p| format!("{RECORDING_PROBLEM}node {k}: {p}")),
                );
            }
            Err(e) => {
                problems.push(format!("{RECORDING_PROBLEM}node {k}: the recording does not replay: {e}"))
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    SocketRun { problems, recorded_files }
}

/// An empty folder of its own for one run's recording.
fn fresh_dir(scenario: &Path) -> PathBuf {
    let name: String = scenario
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = std::env::temp_dir().join(format!("signal-fish-recording-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What a replay of a recording sent each connection, connections in the order they opened.
struct Replayed {
    conns: Vec<ConnectionOutput>,
    files: usize,
}

/// Replays every file of `dir` in order, verifying the digests, and collects what each
/// connection was sent: frames the transport handed back as unsent when it backlogged
/// never reached the socket, so they are taken off the end again.
fn replay_recording(dir: &Path) -> Result<Replayed, String> {
    let paths = recording_files(dir)?;
    let conns = replay_files(&paths)?.in_open_order();
    Ok(Replayed { conns, files: paths.len() })
}

/// The recording files of `dir`, in order.
fn recording_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no recording files in {}", dir.display()));
    }
    Ok(paths)
}

/// Replays `paths` (consecutive files of one recording), verifying the digests: what
/// each connection was sent.
fn replay_files(paths: &[PathBuf]) -> Result<Delivered, String> {
    let mut replayer: Option<Replayer> = None;
    let mut delivered = Delivered::default();
    for (i, path) in paths.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = RecordingFile::read(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let last = i + 1 == paths.len() && file.header.file_index + 1 == file_count(path)?;
        if file.end.as_deref() != Some(if last { "shutdown" } else { "rotated" }) {
            return Err(format!("{} ends with {:?}", path.display(), file.end));
        }
        match &mut replayer {
            None => replayer = Some(Replayer::start(&file, true).map_err(|e| e.to_string())?),
            Some(r) => r.next_file(&file).map_err(|e| e.to_string())?,
        }
        let r = replayer.as_mut().expect("started");
        r.replay_file(&file, |_, event, actions| {
            delivered.observe(event, actions);
            true
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(delivered)
}

/// How many recording files are in the folder of `path`.
fn file_count(path: &Path) -> Result<u32, String> {
    let dir = path.parent().ok_or("a recording file has a folder")?;
    Ok(recording_files(dir)?.len() as u32)
}

/// Each client received exactly what the replay sent its connection (a prefix, for a
/// client that left and stopped reading), and the same close.
fn compare_with_replay(received: &[ConnectionOutput], replayed: &Replayed) -> Vec<String> {
    let mut problems = Vec::new();
    if received.len() != replayed.conns.len() {
        problems.push(format!(
            "{} clients connected but the recording opened {} connections",
            received.len(),
            replayed.conns.len()
        ));
        return problems;
    }
    for (k, (got, want)) in received.iter().zip(&replayed.conns).enumerate() {
        // A client the server closed read everything up to the close; any other stopped
        // reading when it left or when the run ended (the server's shutdown may still
        // have sent it a departure and a 1001 it never read).
        if !want.accounts_for(got) {
            problems.push(format!(
                "connection {k}: the replay differs from what the client received\n  received {} frames, close {:?}\n  replayed {} frames, close {:?}\n  first difference at frame {}",
                got.frames.len(),
                got.close,
                want.frames.len(),
                want.close,
                got.frames.iter().zip(&want.frames).position(|(a, b)| a != b).unwrap_or(got.frames.len().min(want.frames.len()))
            ));
        }
    }
    problems
}

/// A busy room recorded into small files, with a client that stops reading: the server
/// closes it (1008) when its queue is full, the recording rotates, and a replay of every
/// file reproduces what each client received, including the slow one's frames up to its
/// close. The last file replayed on its own sends each connection the tail of that.
#[test]
fn a_rotated_recording_with_a_slow_consumer_replays_from_any_file() {
    let recording_dir = fresh_dir(Path::new("slow_consumer_rotation"));
    let mut config = Config::default();
    config.logging.enable_file_logging = false;
    config.metrics.max_renders_per_second = 10_000;
    config.websocket.max_outbound_queue_bytes = 4096;
    config.recorder.enabled = true;
    config.recorder.dir = recording_dir.display().to_string();
    config.recorder.max_file_bytes = 1 << 16;
    config.recorder.digest_every = 32;
    let server = RunningServer::start(config);
    let mut backend = RealBackend {
        addrs: vec![server.addr],
        max_message_size: 65_536,
        metrics_auth: Vec::new(),
        clients: Vec::new(),
        loopbacks: BTreeMap::new(),
        observations: Vec::new(),
        receive_buffer: None,
    };
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let join = |name: &str| {
        format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","room_code":"FLOOD1","player_name":"{name}","max_players":4}}}}"#
        )
    };
    for name in ["a", "b"] {
        backend.connect(name, localhost, "/v2/ws", Endpoint::V2).unwrap();
        backend.text(name, &join(name)).unwrap();
    }
    backend.receive_buffer = Some(4096);
    backend.connect("slow", localhost, "/v2/ws", Endpoint::V2).unwrap();
    backend.text("slow", &join("slow")).unwrap();
    let slow = backend.client("slow").unwrap();
    backend.clients[slow].stalled = true;
    let pad = "x".repeat(400);
    for i in 0..1200 {
        backend
            .text("a", &format!(r#"{{"type":"GameData","data":{{"data":{{"i":{i},"pad":"{pad}"}}}}}}"#))
            .unwrap();
        if i % 2 == 1 {
            let msgpack = rmp_serde::to_vec(&(i, &pad)).unwrap();
            backend.binary("b", msgpack).unwrap();
        }
        if i == 600 {
            backend.http("GET", "/metrics", Vec::new()).unwrap();
        }
    }
    // The slow client reads again: what reached it, then the server's close.
    backend.clients[slow].stalled = false;
    backend.sync(slow).unwrap();
    let received: Vec<ConnectionOutput> = backend.clients.iter().map(|c| c.received.clone()).collect();
    assert_eq!(received[2].close, Some(1008), "the slow consumer was closed for not reading");
    drop(backend);
    drop(server);

    let full = replay_recording(&recording_dir).unwrap();
    assert!(full.files >= 3, "the recording rotated ({} files)", full.files);
    let problems = compare_with_replay(&received, &full);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(received[1].frames.len() > 1200, "b received the room's traffic");

    // The last file on its own: every connection it sends to gets the tail of what the
    // whole recording sent it.
    let paths = recording_files(&recording_dir).unwrap();
    let full = replay_files(&paths).unwrap();
    let last = replay_files(&paths[paths.len() - 1..]).unwrap();
    assert!(!last.outputs().is_empty(), "the last file sends frames");
    for (conn, part) in last.outputs() {
        assert!(full.opened().contains(conn), "{conn} is a connection of the recording");
        let whole = &full.output(*conn).unwrap().frames;
        assert!(
            whole.ends_with(&part.frames),
            "{conn}: the last file's frames are the tail of the whole replay's"
        );
    }
    let _ = std::fs::remove_dir_all(&recording_dir);
}
