//! A small driver for engine tests on the shared virtual-time driver
//! ([`VirtualHost`]): connections, decoded output, and the driver's checks after every
//! step (a broken rule fails the test at once).
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use signal_fish_core::http::{HttpRequest, HttpResponse};
use signal_fish_core::testkit::VirtualHost;
use signal_fish_core::{Action, CloseCause, Config, ConnId, Endpoint, Engine, Event, Instant, Outbound};

/// 2026-03-01T12:00:00Z
pub const UNIX_MS: u64 = 1_772_366_400_000;

pub struct Harness {
    host: VirtualHost,
    next_conn: u64,
    next_http: u64,
}

/// What a step produced, with helpers to look at it.
#[derive(Clone, Debug, Default)]
pub struct Output(pub Vec<Action>);

impl Output {
    /// Text frames sent to `conn`, parsed.
    pub fn to(&self, conn: ConnId) -> Vec<Value> {
        self.0
            .iter()
            .filter_map(|a| match a {
                Action::Send { conn: c, message: Outbound::Text(t) } if *c == conn => {
                    Some(serde_json::from_slice(t).expect("text frames are JSON"))
                }
                _ => None,
            })
            .collect()
    }

    /// Raw text frames sent to `conn`.
    pub fn texts(&self, conn: ConnId) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|a| match a {
                Action::Send { conn: c, message: Outbound::Text(t) } if *c == conn => {
                    Some(String::from_utf8(t.to_vec()).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    /// Binary frames sent to `conn`.
    pub fn binaries(&self, conn: ConnId) -> Vec<Vec<u8>> {
        self.0
            .iter()
            .filter_map(|a| match a {
                Action::Send { conn: c, message: Outbound::Binary(b) } if *c == conn => Some(b.to_vec()),
                _ => None,
            })
            .collect()
    }

    /// `type` of each text frame sent to `conn`.
    pub fn types(&self, conn: ConnId) -> Vec<String> {
        self.to(conn).iter().map(|v| v["type"].as_str().unwrap().to_owned()).collect()
    }

    /// The single message sent to `conn` (panics unless exactly one).
    pub fn only(&self, conn: ConnId) -> Value {
        let all = self.to(conn);
        assert_eq!(all.len(), 1, "expected one message to {conn}, got {all:?}");
        all.into_iter().next().unwrap()
    }

    /// The close code sent to `conn`, if any.
    pub fn close_code(&self, conn: ConnId) -> Option<u16> {
        self.0.iter().find_map(|a| match a {
            Action::Close { conn: c, code, .. } if *c == conn => Some(*code),
            _ => None,
        })
    }

    /// Whether nothing at all went to `conn`.
    pub fn nothing_to(&self, conn: ConnId) -> bool {
        !self.0.iter().any(|a| match a {
            Action::Send { conn: c, .. } | Action::Close { conn: c, .. } => *c == conn,
            _ => false,
        })
    }

    pub fn http(&self) -> HttpResponse {
        self.0
            .iter()
            .find_map(|a| match a {
                Action::Http(r) => Some(r.clone()),
                _ => None,
            })
            .expect("an HTTP response")
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Harness {
        Harness::with_seed(config, [7; 32])
    }

    pub fn with_seed(config: Config, seed: [u8; 32]) -> Harness {
        let engine = Engine::new(config, seed, Instant::ZERO, UNIX_MS);
        Harness { host: VirtualHost::new(engine, Instant::ZERO), next_conn: 1, next_http: 1 }
    }

    /// The engine (read-only; everything that changes it is a step).
    pub fn engine(&self) -> &Engine {
        self.host.engine()
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.host.now()
    }

    pub fn step(&mut self, event: Event) -> Output {
        let out = Output(self.host.step(event));
        self.assert_no_rule_broken();
        out
    }

    fn assert_no_rule_broken(&self) {
        if let Some(broken) = self.host.rule_breaks().first() {
            panic!("{broken}");
        }
    }

    /// Opens a connection from 127.0.0.1 on `/v2/ws`.
    pub fn connect(&mut self) -> ConnId {
        self.connect_to("/v2/ws", "127.0.0.1")
    }

    /// Opens a connection that opted in to reconnection tokens.
    pub fn connect_opted_in(&mut self) -> ConnId {
        self.connect_to("/v2/ws?reconnection_token=true", "127.0.0.1")
    }

    pub fn connect_to(&mut self, target: &str, ip: &str) -> ConnId {
        let (conn, out) = self.open(target, ip);
        assert!(out.nothing_to(conn), "unexpected output on connect: {:?}", out.0);
        conn
    }

    pub fn open(&mut self, target: &str, ip: &str) -> (ConnId, Output) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let peer_ip: IpAddr = ip.parse().unwrap();
        let out =
            self.step(Event::Opened { conn, peer_ip, target: target.to_owned(), endpoint: Endpoint::V2 });
        (conn, out)
    }

    pub fn send(&mut self, conn: ConnId, text: &str) -> Output {
        self.step(Event::Text { conn, text: text.to_owned() })
    }

    pub fn send_json(&mut self, conn: ConnId, value: Value) -> Output {
        self.send(conn, &value.to_string())
    }

    pub fn send_binary(&mut self, conn: ConnId, data: &[u8]) -> Output {
        self.step(Event::Binary { conn, data: bytes::Bytes::copy_from_slice(data) })
    }

    pub fn drop_conn(&mut self, conn: ConnId) -> Output {
        self.step(Event::Closed { conn, cause: CloseCause::TransportError })
    }

    pub fn http(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let id = self.next_http;
        self.next_http += 1;
        let request = HttpRequest {
            id,
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            host: Default::default(),
        };
        let response = self.step(Event::Http(request)).http();
        assert_eq!(response.id, id);
        response
    }

    /// Moves time forward by `by`, ticking at every deadline on the way.
    pub fn advance(&mut self, by: Duration) -> Output {
        let mut all = Vec::new();
        self.host.advance_by(by, &mut |_, actions| all.extend(actions));
        self.assert_no_rule_broken();
        Output(all)
    }

    // ----- protocol shortcuts -----

    /// Creates a room; returns (room code, RoomJoined data).
    pub fn create(&mut self, conn: ConnId, game: &str, name: &str, max_players: u8) -> (String, Value) {
        let out = self.send_json(
            conn,
            serde_json::json!({"type":"JoinRoom","data":{"game_name":game,"player_name":name,"max_players":max_players}}),
        );
        let joined = out.only(conn);
        assert_eq!(joined["type"], "RoomJoined", "{joined}");
        (joined["data"]["room_code"].as_str().unwrap().to_owned(), joined["data"].clone())
    }

    /// Joins an existing room; returns the whole output.
    pub fn join(&mut self, conn: ConnId, game: &str, code: &str, name: &str) -> Output {
        let out = self.send_json(
            conn,
            serde_json::json!({"type":"JoinRoom","data":{"game_name":game,"room_code":code,"player_name":name}}),
        );
        assert_eq!(out.to(conn)[0]["type"], "RoomJoined", "{:?}", out.to(conn));
        out
    }

    pub fn player_id(&self, conn: ConnId) -> String {
        self.engine().player_id(conn).unwrap().to_string()
    }
}

/// `{"type":"Error",...}` → (message, code).
pub fn error_of(value: &Value) -> (String, String) {
    assert_eq!(value["type"], "Error", "{value}");
    (
        value["data"]["message"].as_str().unwrap().to_owned(),
        value["data"]["error_code"].as_str().unwrap().to_owned(),
    )
}

/// `{"type":"RoomJoinFailed",...}` → (reason, code).
pub fn join_failure(value: &Value) -> (String, String) {
    assert_eq!(value["type"], "RoomJoinFailed", "{value}");
    (
        value["data"]["reason"].as_str().unwrap().to_owned(),
        value["data"]["error_code"].as_str().unwrap().to_owned(),
    )
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
