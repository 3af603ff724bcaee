//! Random event sequences for property and determinism tests.

use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;
use signal_fish_core::{CloseCause, ConnId, Event};

/// One step of a random workload over a handful of connections.
#[derive(Clone, Debug)]
pub enum Op {
    Open {
        conn: u8,
        ip: u8,
        opt_in: bool,
    },
    Text {
        conn: u8,
        text: String,
    },
    Binary {
        conn: u8,
        data: Vec<u8>,
    },
    Pong {
        conn: u8,
    },
    Close {
        conn: u8,
        clean: bool,
    },
    Backlog {
        conn: u8,
    },
    Advance {
        millis: u32,
    },
    /// An HTTP request; `host` seeds the host's figures it carries (step latencies,
    /// transport bytes), which metrics responses must render exactly.
    Http {
        path: u8,
        host: u16,
    },
}

const CONNS: u8 = 6;

fn message() -> impl Strategy<Value = String> {
    let game = prop_oneof![Just("g"), Just("h")];
    let name = prop_oneof![Just("Al"), Just("Bo"), Just("Cy"), Just("al"), Just(""), Just("x@")];
    let code = prop_oneof![Just("ROOM01"), Just("room01"), Just("ROOM02"), Just("BAD")];
    prop_oneof![
        (game.clone(), name.clone(), proptest::option::of(code.clone()), 0u8..5, any::<bool>()).prop_map(
            |(g, n, c, max, auth)| {
                let code = c.map_or("null".to_owned(), |c| format!("\"{c}\""));
                format!(
                    r#"{{"type":"JoinRoom","data":{{"game_name":"{g}","room_code":{code},"player_name":"{n}","max_players":{max},"supports_authority":{auth}}}}}"#
                )
            }
        ),
        Just(r#"{"type":"LeaveRoom"}"#.to_owned()),
        (0u32..1000).prop_map(|n| format!(r#"{{"type":"GameData","data":{{"data":{{"n":{n}}}}}}}"#)),
        any::<bool>().prop_map(|b| format!(r#"{{"type":"AuthorityRequest","data":{{"become_authority":{b}}}}}"#)),
        Just(r#"{"type":"PlayerReady"}"#.to_owned()),
        Just(r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"h","port":1}}}"#.to_owned()),
        Just(r#"{"type":"Ping"}"#.to_owned()),
        (game.clone(), code.clone(), name).prop_map(|(g, c, n)| format!(
            r#"{{"type":"JoinAsSpectator","data":{{"game_name":"{g}","room_code":"{c}","spectator_name":"{n}"}}}}"#
        )),
        Just(r#"{"type":"LeaveSpectator"}"#.to_owned()),
        prop_oneof![Just("json"), Just("message_pack"), Just("rkyv")].prop_map(|f| format!(
            r#"{{"type":"Authenticate","data":{{"app_id":"a","game_data_format":"{f}"}}}}"#
        )),
        Just(r#"{"type":"Reconnect","data":{"player_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","room_id":"6f1c2a9e-3b4d-4e8f-9a01-2b3c4d5e6f70","auth_token":"x"}}"#.to_owned()),
        ".{0,40}",
    ]
}

/// A strategy for one operation.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..CONNS, 0u8..3, any::<bool>()).prop_map(|(conn, ip, opt_in)| Op::Open { conn, ip, opt_in }),
        8 => (0..CONNS, message()).prop_map(|(conn, text)| Op::Text { conn, text }),
        1 => (0..CONNS, proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(conn, data)| Op::Binary { conn, data }),
        1 => (0..CONNS).prop_map(|conn| Op::Pong { conn }),
        1 => (0..CONNS, any::<bool>()).prop_map(|(conn, clean)| Op::Close { conn, clean }),
        1 => (0..CONNS).prop_map(|conn| Op::Backlog { conn }),
        2 => prop_oneof![0u32..2000, 0u32..400_000].prop_map(|millis| Op::Advance { millis }),
        1 => (0u8..4, any::<u16>()).prop_map(|(path, host)| Op::Http { path, host }),
    ]
}

/// Turns workload operations into engine events and keeps the virtual clock. Connection
/// ids are reused after a close, like a shell recycling slots would not; a generation
/// counter keeps them unique.
pub struct EventMaker {
    generation: [u64; CONNS as usize],
    pub now_micros: u64,
}

impl EventMaker {
    pub fn new() -> EventMaker {
        EventMaker { generation: [0; CONNS as usize], now_micros: 0 }
    }

    fn conn(&self, slot: u8) -> ConnId {
        ConnId(u64::from(slot) * 1_000_000 + self.generation[slot as usize])
    }

    /// The event for `op` (None for time steps, which move `now_micros`).
    pub fn event(&mut self, op: &Op) -> Option<Event> {
        Some(match op {
            Op::Open { conn, ip, opt_in } => {
                self.generation[*conn as usize] += 1;
                let target = if *opt_in { "/v2/ws?reconnection_token=true" } else { "/v2/ws" };
                let peer_ip: IpAddr = format!("127.0.0.{}", ip + 1).parse().unwrap();
                Event::Opened { conn: self.conn(*conn), peer_ip, target: target.to_owned() }
            }
            Op::Text { conn, text } => Event::Text { conn: self.conn(*conn), text: text.clone() },
            Op::Binary { conn, data } => Event::Binary { conn: self.conn(*conn), data: data.clone().into() },
            Op::Pong { conn } => Event::PongFrame { conn: self.conn(*conn) },
            Op::Close { conn, clean } => Event::Closed {
                conn: self.conn(*conn),
                cause: if *clean { CloseCause::ClientClosed } else { CloseCause::TransportError },
            },
            Op::Backlog { conn } => Event::Backlogged { conn: self.conn(*conn), unsent: Vec::new() },
            Op::Advance { millis } => {
                self.now_micros += Duration::from_millis(u64::from(*millis)).as_micros() as u64;
                Event::Tick
            }
            Op::Http { path, host } => {
                let mut request = signal_fish_core::http::HttpRequest::get(
                    u64::from(*path),
                    ["/metrics", "/metrics/prom", "/v2/health", "/x"][*path as usize],
                );
                request.host = Box::new(host_report(*host));
                Event::Http(request)
            }
        })
    }
}

/// Host figures derived from `seed`: a few step latencies and transport byte counts.
pub fn host_report(seed: u16) -> signal_fish_core::metrics::HostReport {
    let mut report = signal_fish_core::metrics::HostReport::default();
    for i in 0..u64::from(seed % 7) {
        report.step_latency.record(Duration::from_micros(u64::from(seed) * (i + 1)));
    }
    report.transport.bytes_read_total = u64::from(seed) * 3;
    report.transport.bytes_written_total = u64::from(seed) * 5;
    report.transport.outbound_queue_bytes = u64::from(seed % 100);
    report
}
