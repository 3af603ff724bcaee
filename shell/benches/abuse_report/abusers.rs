//! Abusive clients, each kind on its own thread, until told to stop. Kinds that the
//! server closes by design (half-open and slow-loris connections at the head timeout,
//! protocol violators at once) reconnect, so the number of abusive connections stays
//! what was asked for.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::support::frames::{self, TEXT};
use crate::support::{fresh_ip, Client};

/// How many connections of each kind.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// TCP connections that never send a byte.
    pub half_open: usize,
    /// Request heads sent one byte at a time, never finished.
    pub slowloris: usize,
    /// WebSocket connections sending invalid JSON, binary junk and oversize messages.
    pub garbage: usize,
    /// WebSocket connections that send protocol violations (closed 1002 at once) and
    /// reconnect.
    pub violators: usize,
    /// WebSocket connections sending game data to their own room as fast as they can.
    pub flooders: usize,
    /// WebSocket connections in rooms with a talker, never reading (closed 1008 once
    /// their queue is full). Every eighth is the room's talker.
    pub non_readers: usize,
}

impl Mix {
    /// All connections.
    pub fn total(&self) -> usize {
        self.half_open + self.slowloris + self.garbage + self.violators + self.flooders + self.non_readers
    }
}

/// What one kind did.
#[derive(Debug, Default)]
pub struct Tally {
    /// Connections opened (including reconnections).
    pub opened: usize,
    /// Bytes written.
    pub bytes: usize,
}

/// Running abusers.
pub struct Abuse {
    stop: Arc<AtomicBool>,
    /// Threads that have opened all their connections.
    ready: Arc<AtomicUsize>,
    threads: Vec<(&'static str, JoinHandle<Tally>)>,
}

/// What every abuser thread gets.
struct Ctx {
    addr: SocketAddr,
    count: usize,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicUsize>,
    started: Instant,
}

impl Ctx {
    /// Whether to go on: not stopped, and not past [`LONGEST`].
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && self.started.elapsed() < LONGEST
    }

    /// All connections of this thread are open.
    fn ready(&self) {
        self.ready.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every loop below also ends by this deadline, whatever happens to `stop`.
const LONGEST: Duration = Duration::from_secs(120);
/// Pause between rounds of the slower kinds.
const ROUND: Duration = Duration::from_millis(100);

impl Abuse {
    /// Starts every kind in `mix` against `addr`.
    pub fn start(addr: SocketAddr, mix: Mix) -> Abuse {
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        let mut spawn = |name: &'static str, count: usize, run: fn(&Ctx) -> Tally| {
            if count > 0 {
                let ctx =
                    Ctx { addr, count, stop: stop.clone(), ready: ready.clone(), started: Instant::now() };
                threads.push((name, std::thread::spawn(move || run(&ctx))));
            }
        };
        spawn("half-open", mix.half_open, half_open);
        spawn("slow-loris", mix.slowloris, slowloris);
        spawn("garbage", mix.garbage, garbage);
        spawn("violators", mix.violators, violators);
        // Two flooding threads, so one blocked write does not stop the whole flood.
        spawn("flooders", mix.flooders / 2, flooders);
        spawn("flooders", mix.flooders - mix.flooders / 2, flooders);
        spawn("non-readers", mix.non_readers, non_readers);
        Abuse { stop, ready, threads }
    }

    /// Waits (at most `limit`) until every thread has opened its connections; false if
    /// some had not.
    pub fn wait_ready(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while self.ready.load(Ordering::SeqCst) < self.threads.len() {
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Stops every kind and returns what each did.
    pub fn stop(self) -> Vec<(&'static str, Tally)> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().map(|(name, t)| (name, t.join().expect("abuser panicked"))).collect()
    }
}

/// Whether the server closed `stream`, without waiting (input is discarded).
fn closed(stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let mut buf = [0u8; 512];
    let closed = loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) => break e.kind() != ErrorKind::WouldBlock,
        }
    };
    let _ = stream.set_nonblocking(false);
    closed
}

fn half_open(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    let open = |tally: &mut Tally| {
        tally.opened += 1;
        TcpStream::connect(addr).expect("connect")
    };
    let mut streams: Vec<TcpStream> = (0..count).map(|_| open(&mut tally)).collect();
    ctx.ready();
    while ctx.running() {
        for stream in &mut streams {
            if closed(stream) {
                *stream = open(&mut tally);
            }
        }
        std::thread::sleep(ROUND);
    }
    tally
}

fn slowloris(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    let head = b"GET /v2/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let open = |tally: &mut Tally| {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(head).expect("write");
        tally.opened += 1;
        tally.bytes += head.len();
        stream
    };
    let mut streams: Vec<TcpStream> = (0..count).map(|_| open(&mut tally)).collect();
    ctx.ready();
    while ctx.running() {
        for stream in &mut streams {
            if closed(stream) || stream.write_all(b"a").is_err() {
                *stream = open(&mut tally);
            } else {
                tally.bytes += 1;
            }
        }
        std::thread::sleep(ROUND);
    }
    tally
}

/// Reads and discards whatever the server sent, without waiting.
fn drain(client: &mut Client) {
    let _ = client.ws.get_mut().set_nonblocking(true);
    while let Ok(message) = client.ws.read() {
        if let Message::Close(_) = message {
            break;
        }
    }
    let _ = client.ws.get_mut().set_nonblocking(false);
}

fn connect(addr: SocketAddr, tally: &mut Tally) -> Client {
    tally.opened += 1;
    Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()))
}

fn garbage(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    let mut clients: Vec<Client> = (0..count).map(|_| connect(addr, &mut tally)).collect();
    // Invalid JSON, a JSON value of the wrong shape, binary junk, and a message above
    // security.max_message_size (64 KiB) but under the hard cap.
    let oversize = format!(r#"{{"type":"Ping","pad":"{}"}}"#, "x".repeat(100_000));
    let junk: [Vec<u8>; 4] = [
        frames::text_bytes(b"{not json"),
        frames::text_bytes(br#"{"type":"JoinRoom","data":[1,2,3]}"#),
        frames::frame(true, frames::BINARY, &[0xc1, 0xff, 0x00, 0x13]),
        frames::text_bytes(oversize.as_bytes()),
    ];
    ctx.ready();
    let mut round = 0;
    while ctx.running() {
        for client in &mut clients {
            let bytes = &junk[round % junk.len()];
            if client.ws.get_mut().write_all(bytes).is_err() {
                *client = connect(addr, &mut tally);
                continue;
            }
            tally.bytes += bytes.len();
            drain(client);
        }
        round += 1;
        std::thread::sleep(ROUND);
    }
    tally
}

fn violators(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    let invalid_utf8 = frames::text_bytes(b"{\"type\":\"Ping\",\"x\":\"\xff\"}");
    let unmasked = frames::unmasked(TEXT, br#"{"type":"Ping"}"#);
    let mut clients: Vec<Client> = (0..count).map(|_| connect(addr, &mut tally)).collect();
    ctx.ready();
    let mut round = 0;
    while ctx.running() {
        // A few per round break the rules and are replaced; the rest wait their turn.
        for i in 0..count.min(5) {
            let slot = (round * 5 + i) % count;
            let bytes = if round % 2 == 0 { &invalid_utf8 } else { &unmasked };
            let _ = clients[slot].ws.get_mut().write_all(bytes);
            tally.bytes += bytes.len();
            drain(&mut clients[slot]);
            clients[slot] = connect(addr, &mut tally);
        }
        round += 1;
        std::thread::sleep(ROUND);
    }
    tally
}

fn flooders(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    let mut clients: Vec<Client> = (0..count)
        .map(|i| {
            let mut client = connect(addr, &mut tally);
            client.join("flood", &format!("Flooder{i}"), None);
            client
        })
        .collect();
    // 50 game-data messages per write, to a room nobody else is in.
    let burst =
        frames::text_bytes(br#"{"type":"GameData","data":{"data":{"x":1,"y":2,"hp":97}}}"#).repeat(50);
    ctx.ready();
    while ctx.running() {
        for client in &mut clients {
            client.ws.get_mut().write_all(&burst).expect("the server keeps reading");
            tally.bytes += burst.len();
        }
    }
    tally
}

fn non_readers(ctx: &Ctx) -> Tally {
    let (addr, count) = (ctx.addr, ctx.count);
    let mut tally = Tally::default();
    // Rooms of eight (server.default_max_players): a talker that creates the room,
    // seven that never read.
    let mut talkers = Vec::new();
    let mut silent = Vec::new();
    for room in 0..count.div_ceil(8) {
        let mut talker = connect(addr, &mut tally);
        let code = talker.join("quiet", "Talker", None)["room_code"].as_str().unwrap().to_owned();
        for i in 1..8.min(count - room * 8) {
            let mut client = connect(addr, &mut tally);
            client.join("quiet", &format!("Silent{i}"), Some(&code));
            silent.push(client);
        }
        talkers.push(talker);
    }
    // 4 KB of game data per talker every 20 ms (200 KB/s): each silent player's queue
    // (1 MiB) and socket buffers fill in about eight seconds, then it is closed (1008).
    let message = frames::text_bytes(
        format!(r#"{{"type":"GameData","data":{{"data":"{}"}}}}"#, "s".repeat(4_000)).as_bytes(),
    );
    ctx.ready();
    while ctx.running() {
        for talker in &mut talkers {
            talker.ws.get_mut().write_all(&message).expect("the server keeps reading");
            tally.bytes += message.len();
            // The talker reads (PlayerJoined, PlayerLeft when a silent one is closed).
            drain(talker);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(silent);
    tally
}
