//! Abusers aimed at one weakness each, measured on their own: spectator churn against a
//! legitimate room (DECISIONS D35) and a flood of metrics requests against a server
//! holding 10,000 rooms (D36). Each runs on threads of its own until told to stop,
//! every loop bounded by a count as well.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{fresh_ip, http, Client};

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
    /// `game` as spectators as fast as the server answers.
    pub fn spectator_churn(addr: SocketAddr, game: &str, code: &str, clients: usize) -> Targeted {
        let mut targeted = Targeted::new();
        for i in 0..clients {
            let (stop, accepted, refused) =
                (targeted.stop.clone(), targeted.accepted.clone(), targeted.refused.clone());
            let join = format!(
                r#"{{"type":"JoinAsSpectator","data":{{"game_name":"{game}","room_code":"{code}","spectator_name":"Churn{i}"}}}}"#
            );
            targeted.threads.push(std::thread::spawn(move || {
                let mut client = Client::connect_from(addr, "/v2/ws", Some(&fresh_ip()));
                for _ in 0..MAX_ITERATIONS {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    client.send_json(&join);
                    let reply = client.recv();
                    if reply["type"] == "SpectatorJoined" {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        client.send_json(r#"{"type":"LeaveSpectator"}"#);
                        client.expect("SpectatorLeft");
                    } else {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        targeted
    }

    /// `clients` threads requesting `/metrics` one after another, as fast as answered.
    pub fn metrics_flood(addr: SocketAddr, clients: usize) -> Targeted {
        let mut targeted = Targeted::new();
        for _ in 0..clients {
            let (stop, accepted, refused) =
                (targeted.stop.clone(), targeted.accepted.clone(), targeted.refused.clone());
            targeted.threads.push(std::thread::spawn(move || {
                for _ in 0..MAX_ITERATIONS {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match http(addr, "GET", "/metrics", &[]).status {
                        200 => accepted.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
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

/// Lets a running abuser warm up before measuring.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}
