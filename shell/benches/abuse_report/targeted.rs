//! Abusers aimed at one weakness each, measured on their own: spectator churn against a
//! legitimate room (DECISIONS D35) and a flood of metrics requests against a server
//! holding 10,000 rooms (D36). Each runs on threads of its own until told to stop,
//! every loop bounded by a count as well.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{fresh_ip, Client};

/// Most iterations of any abuser loop (they stop on the flag long before).
const MAX_ITERATIONS: u64 = 10_000_000;

/// Running targeted abusers and what they achieved.
pub struct Targeted {
    stop: Arc<AtomicBool>,
    /// Requests or joins the server accepted.
    pub accepted: Arc<AtomicU64>,
    /// Requests or joins the server refused (rate limit, 429).
    pub refused: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Targeted {
    fn new() -> Targeted {
        Targeted {
            stop: Arc::default(),
            accepted: Arc::default(),
            refused: Arc::default(),
            threads: Vec::new(),
        }
    }

    /// `clients` connections, each from its own address, joining and leaving `code` of
    /// `game` as spectators, each at most `per_second` join attempts per second.
    pub fn spectator_churn(
        addr: SocketAddr,
        game: &str,
        code: &str,
        clients: usize,
        per_second: u32,
    ) -> Targeted {
        let mut targeted = Targeted::new();
        for i in 0..clients {
            let (stop, accepted, refused) =
                (targeted.stop.clone(), targeted.accepted.clone(), targeted.refused.clone());
            let join = format!(
                r#"{{"type":"JoinAsSpectator","data":{{"game_name":"{game}","room_code":"{code}","spectator_name":"Churn{i}"}}}}"#
            );
            targeted.threads.push(std::thread::spawn(move || {
                let mut client = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
                let mut pace = Pace::new(per_second);
                for _ in 0..MAX_ITERATIONS {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    pace.wait();
                    client.send_json(&join);
                    let reply = answer(&mut client, &["SpectatorJoined", "SpectatorJoinFailed"]);
                    if reply == "SpectatorJoined" {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        client.send_json(r#"{"type":"LeaveSpectator"}"#);
                        answer(&mut client, &["SpectatorLeft"]);
                    } else {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        targeted
    }

    /// `clients` keep-alive connections requesting `path` one after another, each at most
    /// `per_second` requests per second (a new connection whenever the server closes one).
    pub fn http_flood(addr: SocketAddr, path: &'static str, clients: usize, per_second: u32) -> Targeted {
        let mut targeted = Targeted::new();
        for _ in 0..clients {
            let (stop, accepted, refused) =
                (targeted.stop.clone(), targeted.accepted.clone(), targeted.refused.clone());
            targeted.threads.push(std::thread::spawn(move || {
                let mut pace = Pace::new(per_second);
                let mut connection: Option<KeepAlive> = None;
                for _ in 0..MAX_ITERATIONS {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    pace.wait();
                    let link = connection.get_or_insert_with(|| KeepAlive::open(addr));
                    let status = link.get(path);
                    match status {
                        Some(200) => accepted.fetch_add(1, Ordering::Relaxed),
                        Some(_) => refused.fetch_add(1, Ordering::Relaxed),
                        None => 0,
                    };
                    if status.is_none() || link.closed {
                        connection = None;
                    }
                }
            }));
        }
        targeted
    }

    /// Stops every thread and waits for them.
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("abuser thread panicked");
        }
        (self.accepted.load(Ordering::Relaxed), self.refused.load(Ordering::Relaxed))
    }
}

/// The type of the next message that is one of `kinds`, skipping room broadcasts (a
/// spectator hears the other churners come and go).
fn answer(client: &mut Client, kinds: &[&str]) -> String {
    loop {
        let message = client.recv();
        let kind = message["type"].as_str().unwrap_or_default();
        if kinds.contains(&kind) {
            return kind.to_owned();
        }
    }
}

/// Creates `rooms` rooms of one game from one connection (create, leave, repeat): empty
/// rooms live for `server.empty_room_timeout`. The server must allow that many
/// creations per IP.
pub fn fill_rooms(addr: SocketAddr, rooms: usize) {
    let mut host = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
    for i in 0..rooms {
        host.join(&format!("filler{}", i % 10), "Host", None);
        host.send_json(r#"{"type":"LeaveRoom"}"#);
        host.expect("RoomLeft");
    }
}

/// One HTTP/1.1 keep-alive connection, requests sent one at a time.
struct KeepAlive {
    stream: std::io::BufReader<std::net::TcpStream>,
    /// The server said it closes the connection after the last answer.
    closed: bool,
}

impl KeepAlive {
    fn open(addr: SocketAddr) -> KeepAlive {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        KeepAlive { stream: std::io::BufReader::new(stream), closed: false }
    }

    /// The status of `GET path`, or `None` when the connection ended.
    fn get(&mut self, path: &str) -> Option<u16> {
        use std::io::{BufRead, Read, Write};
        let request = format!("GET {path} HTTP/1.1\r\nHost: flood\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).ok()?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).ok()?;
        let status = status_line.split(' ').nth(1)?.parse().ok()?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).ok()?;
        self.closed = close;
        Some(status)
    }
}

/// Spaces a loop's iterations to at most a rate (a steady request rate, like a client's).
struct Pace {
    interval: Duration,
    next: std::time::Instant,
}

impl Pace {
    fn new(per_second: u32) -> Pace {
        Pace { interval: Duration::from_secs(1) / per_second.max(1), next: std::time::Instant::now() }
    }

    fn wait(&mut self) {
        let now = std::time::Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        }
        self.next = self.next.max(now) + self.interval;
    }
}

/// Lets a running abuser warm up before measuring.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}
