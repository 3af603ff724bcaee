//! What the clients of a workload have seen, used to resolve symbolic [`Op`]s into
//! concrete [`Input`]s and to check what they receive.
//!
//! The checks are the clients' own: game data from one player reaches each other member
//! in the order it was sent, never twice and never back to its sender (replayed
//! `missed_events` included); a snapshot carries a reconnection token exactly when the
//! client opted in (DECISIONS D15); and what each client was told about its room agrees
//! with the engine ([`Clients::check_membership`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::input::Input;
use super::op::{Op, FIXED_CODES, GAMES, HTTP_REQUESTS, IPS};
use crate::protocol::parse_binary_game_data_message;
use crate::{Config, ConnId, Engine, Outbound};

/// The payload of the one kind of binary garbage workloads send (no JSON form).
pub const GARBAGE_BINARY: [u8; 3] = [0xc1, 0xff, 0x00];

/// What one client has seen about itself.
#[derive(Clone, Debug, Default)]
struct Client {
    open: bool,
    opt_in: bool,
    /// It stopped reading: what it was sent since is unknown to it.
    stalled: bool,
    player_id: Option<String>,
    /// (game, code, room id) of the room it sits in (kept after it disconnects, so a
    /// reconnect can name it).
    room: Option<(String, String, String)>,
    token: Option<String>,
    spectator_id: Option<String>,
}

/// The clients of one workload, by index (in connecting order).
#[derive(Debug)]
pub struct Clients {
    clients: Vec<Client>,
    /// Last game-data sequence number per (recipient player, sender player).
    last_seq: BTreeMap<(String, String), u64>,
    next_seq: u64,
    max_message_size: usize,
    tokens_enabled: bool,
    problems: Vec<String>,
}

impl Clients {
    /// No clients yet, for an engine running `config`.
    pub fn new(config: &Config) -> Clients {
        Clients {
            clients: Vec::new(),
            last_seq: BTreeMap::new(),
            next_seq: 1,
            max_message_size: config.security.max_message_size,
            tokens_enabled: config.server.enable_reconnection,
            problems: Vec::new(),
        }
    }

    /// The name of client `index` in scenario files (`c1`, `c2`, …).
    pub fn name(index: usize) -> String {
        format!("c{}", index + 1)
    }

    /// Number of clients that ever connected.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client ever connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Takes the problems found since the last call.
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    fn pick_open(&self, who: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.clients.len()).filter(|&i| self.clients[i].open).collect();
        (!open.is_empty()).then(|| open[who % open.len()])
    }

    /// The room of the `other`-th client that has one (or a fixed fallback).
    fn room_of_other(&self, other: usize, fallback: (&str, &str)) -> (String, String) {
        let rooms: Vec<&(String, String, String)> =
            self.clients.iter().filter_map(|c| c.room.as_ref()).collect();
        match rooms.get(other % rooms.len().max(1)) {
            Some((game, code, _)) => (game.clone(), code.clone()),
            None => (fallback.0.to_owned(), fallback.1.to_owned()),
        }
    }

    /// The concrete input for `op`, or `None` when it cannot apply now (no open client).
    pub fn resolve(&mut self, op: &Op) -> Option<Input> {
        let text = |client: usize, text: String| Some(Input::Text { client, text });
        match op {
            Op::Connect { ip, opt_in } => {
                let client = self.clients.len();
                self.clients.push(Client { open: true, opt_in: *opt_in, ..Client::default() });
                Some(Input::Connect { client, ip: IPS[usize::from(*ip) % IPS.len()], opt_in: *opt_in })
            }
            Op::Authenticate { who, msgpack, bad_app } => {
                let i = self.pick_open(*who)?;
                let app = if *bad_app { "nope" } else { "app" };
                let format = if *msgpack { r#","game_data_format":"message_pack""# } else { "" };
                text(i, format!(r#"{{"type":"Authenticate","data":{{"app_id":"{app}"{format}}}}}"#))
            }
            Op::Create { who, game, max_players, authority } => {
                let i = self.pick_open(*who)?;
                text(i, format!(
                    r#"{{"type":"JoinRoom","data":{{"game_name":"{}","player_name":"P{}","max_players":{max_players},"supports_authority":{authority}}}}}"#,
                    GAMES[usize::from(*game) % GAMES.len()],
                    Clients::name(i)
                ))
            }
            Op::JoinOther { who, other } => {
                let i = self.pick_open(*who)?;
                let (game, code) = self.room_of_other(*other, (GAMES[0], FIXED_CODES[0]));
                text(i, format!(
                    r#"{{"type":"JoinRoom","data":{{"game_name":"{game}","room_code":"{code}","player_name":"P{}"}}}}"#,
                    Clients::name(i)
                ))
            }
            Op::JoinFixed { who, code, game } => {
                let i = self.pick_open(*who)?;
                text(i, format!(
                    r#"{{"type":"JoinRoom","data":{{"game_name":"{}","room_code":"{}","player_name":"P{}"}}}}"#,
                    GAMES[usize::from(*game) % GAMES.len()],
                    FIXED_CODES[usize::from(*code) % FIXED_CODES.len()],
                    Clients::name(i)
                ))
            }
            Op::Leave { who } => text(self.pick_open(*who)?, r#"{"type":"LeaveRoom"}"#.to_owned()),
            Op::Ready { who } => text(self.pick_open(*who)?, r#"{"type":"PlayerReady"}"#.to_owned()),
            Op::Authority { who, claim } => text(
                self.pick_open(*who)?,
                format!(r#"{{"type":"AuthorityRequest","data":{{"become_authority":{claim}}}}}"#),
            ),
            Op::GameData { who } => {
                let i = self.pick_open(*who)?;
                let seq = self.next_seq;
                self.next_seq += 1;
                text(i, format!(r#"{{"type":"GameData","data":{{"data":{{"seq":{seq},"v":[1,"x"]}}}}}}"#))
            }
            Op::Binary { who, garbage } => {
                let client = self.pick_open(*who)?;
                if *garbage {
                    return Some(Input::Binary { client, data: GARBAGE_BINARY.to_vec() });
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                Some(Input::MsgPackSeq { client, seq })
            }
            Op::ConnectionInfo { who } => text(
                self.pick_open(*who)?,
                r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"10.1.1.1","port":7777}}}"#
                    .to_owned(),
            ),
            Op::Ping { who } => text(self.pick_open(*who)?, r#"{"type":"Ping"}"#.to_owned()),
            Op::Pong { who } => Some(Input::Pong { client: self.pick_open(*who)? }),
            Op::Spectate { who, other } => {
                let i = self.pick_open(*who)?;
                let (game, code) = self.room_of_other(*other, (GAMES[1], FIXED_CODES[2]));
                text(i, format!(
                    r#"{{"type":"JoinAsSpectator","data":{{"game_name":"{game}","room_code":"{code}","spectator_name":"S{}"}}}}"#,
                    Clients::name(i)
                ))
            }
            Op::StopSpectating { who } => text(self.pick_open(*who)?, r#"{"type":"LeaveSpectator"}"#.to_owned()),
            Op::Reconnect { who, target, tamper } => {
                let i = self.pick_open(*who)?;
                let gone: Vec<&Client> =
                    self.clients.iter().filter(|c| !c.open && c.player_id.is_some() && c.room.is_some()).collect();
                let (player, room, token) = match gone.get(target % gone.len().max(1)) {
                    Some(c) => (
                        c.player_id.clone().unwrap_or_default(),
                        c.room.as_ref().map(|r| r.2.clone()).unwrap_or_default(),
                        c.token.clone().unwrap_or_else(|| "0".repeat(32)),
                    ),
                    None => (
                        "00000000-0000-4000-8000-000000000001".to_owned(),
                        "00000000-0000-4000-8000-000000000002".to_owned(),
                        "0".repeat(32),
                    ),
                };
                let token = if *tamper { "f".repeat(32) } else { token };
                text(i, format!(
                    r#"{{"type":"Reconnect","data":{{"player_id":"{player}","room_id":"{room}","auth_token":"{token}"}}}}"#
                ))
            }
            Op::Close { who } => {
                let client = self.pick_open(*who)?;
                self.clients[client].open = false;
                Some(Input::Close { client })
            }
            Op::Drop { who } => {
                let client = self.pick_open(*who)?;
                self.clients[client].open = false;
                Some(Input::Drop { client })
            }
            Op::Backlog { who } => Some(Input::Backlog { client: self.pick_open(*who)? }),
            Op::Stall { who } => {
                let client = self.pick_open(*who)?;
                self.clients[client].stalled = true;
                Some(Input::Stall { client })
            }
            Op::Malformed { who, kind } => {
                let i = self.pick_open(*who)?;
                let garbage = match kind % 6 {
                    0 => "not json".to_owned(),
                    1 => r#"{"type":"Nope"}"#.to_owned(),
                    2 => r#"{"type":"JoinRoom","data":{}}"#.to_owned(),
                    3 => r#"{"type":"LeaveRoom","data":{}}"#.to_owned(),
                    4 if self.max_message_size <= 4096 => {
                        format!(r#"{{"type":"GameData","data":{{"data":"{}"}}}}"#, "x".repeat(self.max_message_size))
                    }
                    _ => r#"{"type":"Ping","type":"Ping"}"#.to_owned(),
                };
                text(i, garbage)
            }
            Op::AnyText { who, text: t } => text(self.pick_open(*who)?, t.clone()),
            Op::Http { kind, host } => {
                let (method, target) = HTTP_REQUESTS[usize::from(*kind) % HTTP_REQUESTS.len()];
                Some(Input::Http { method, target, host: *host })
            }
            Op::Advance { ms } => Some(Input::Advance(std::time::Duration::from_millis(u64::from(*ms)))),
            Op::AdvanceNext => Some(Input::AdvanceNext),
        }
    }

    /// The server closed client `index`'s connection.
    pub fn observe_close(&mut self, index: usize) {
        if let Some(c) = self.clients.get_mut(index) {
            c.open = false;
        }
    }

    /// Client `index` received `frame`: learn from it and check game-data order.
    pub fn observe_message(&mut self, index: usize, frame: &Outbound) {
        if index >= self.clients.len() {
            return;
        }
        match frame {
            Outbound::Text(bytes) => {
                if let Ok(message) = serde_json::from_slice::<Value>(bytes) {
                    self.learn(index, &message);
                }
            }
            Outbound::Binary(bytes) => {
                let Some((from, payload)) = parse_binary_game_data_message(bytes) else { return };
                let seq = rmp_serde::from_slice::<Value>(payload).ok().and_then(|v| v["seq"].as_u64());
                match seq {
                    Some(seq) => self.check_order(index, &from.to_string(), seq),
                    None if payload == GARBAGE_BINARY => {}
                    None => self
                        .problems
                        .push(format!("binary game data with an unexpected payload {payload:02x?}")),
                }
            }
        }
    }

    fn learn(&mut self, i: usize, message: &Value) {
        let data = &message["data"];
        let room_of = |d: &Value| -> Option<(String, String, String)> {
            Some((
                d["game_name"].as_str()?.to_owned(),
                d["room_code"].as_str()?.to_owned(),
                d["room_id"].as_str()?.to_owned(),
            ))
        };
        let tokens_enabled = self.tokens_enabled;
        let client = &mut self.clients[i];
        match message["type"].as_str() {
            Some("RoomJoined") | Some("Reconnected") => {
                client.player_id = data["player_id"].as_str().map(str::to_owned);
                client.room = room_of(data);
                client.token = data["reconnection_token"].as_str().map(str::to_owned);
                if client.opt_in != client.token.is_some() && tokens_enabled {
                    let message = format!(
                        "`{}` (opt-in {}) got a snapshot {} a reconnection token (D15)",
                        Clients::name(i),
                        client.opt_in,
                        if client.token.is_some() { "with" } else { "without" }
                    );
                    self.problems.push(message);
                }
                if let Some(events) = data["missed_events"].as_array() {
                    for event in events.clone() {
                        self.learn(i, &event);
                    }
                }
            }
            Some("RoomLeft") => client.room = None,
            Some("SpectatorJoined") => client.spectator_id = data["spectator_id"].as_str().map(str::to_owned),
            // Sent to the leaving spectator (no `spectator_id`), and to the others when
            // the room closes (reason `room_closed`).
            Some("SpectatorLeft") if data["spectator_id"].is_null() || data["reason"] == "room_closed" => {
                client.spectator_id = None;
            }
            Some("GameData") => {
                if let (Some(from), Some(seq)) = (data["from_player"].as_str(), data["data"]["seq"].as_u64())
                {
                    let from = from.to_owned();
                    self.check_order(i, &from, seq);
                }
            }
            _ => {}
        }
    }

    fn check_order(&mut self, i: usize, from: &str, seq: u64) {
        let client = &self.clients[i];
        let recipient = client
            .spectator_id
            .clone()
            .or_else(|| client.player_id.clone())
            .unwrap_or_else(|| Clients::name(i));
        if recipient == from {
            self.problems.push(format!("`{}` received its own game data (seq {seq})", Clients::name(i)));
        }
        let last = self.last_seq.entry((recipient, from.to_owned())).or_insert(0);
        if seq <= *last {
            let message = format!(
                "`{}` received game data seq {seq} from {from} after seq {} (out of order or twice)",
                Clients::name(i),
                *last
            );
            *last = seq;
            self.problems.push(message);
            return;
        }
        *last = seq;
    }

    /// What the open clients were told agrees with the engine: a client that was told it
    /// sits in a room (and not told it left) is a connected player of that room under the
    /// id it was given, and every connected player is such a client. `conn_of` gives a
    /// client's connection. Clients that stopped reading are left out (they did not see
    /// what they were sent).
    pub fn check_membership(
        &self,
        engine: &Engine,
        conn_of: &dyn Fn(usize) -> Option<ConnId>,
    ) -> Result<(), String> {
        let told: BTreeSet<(usize, String, String)> = (0..self.clients.len())
            .filter(|&i| self.clients[i].open && !self.clients[i].stalled)
            .filter_map(|i| {
                let c = &self.clients[i];
                Some((i, c.player_id.clone()?, c.room.as_ref()?.2.clone()))
            })
            .collect();
        let client_of: BTreeMap<ConnId, usize> =
            (0..self.clients.len()).filter_map(|i| Some((conn_of(i)?, i))).collect();
        let mut seated = BTreeSet::new();
        for room in engine.rooms() {
            for (player, conn) in &room.players {
                let Some(conn) = conn else { continue };
                let Some(&i) = client_of.get(conn) else {
                    return Err(format!("player {player} sits on {conn}, which no client opened"));
                };
                if !self.clients[i].stalled {
                    seated.insert((i, player.to_string(), room.room_id.to_string()));
                }
            }
        }
        if told != seated {
            let missing: Vec<_> = told.difference(&seated).collect();
            let untold: Vec<_> = seated.difference(&told).collect();
            return Err(format!(
                "clients and engine disagree on membership (client, player, room): told but not seated {missing:?}, seated but not told {untold:?}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Instant};

    fn joined(player: &str, room: &str) -> Outbound {
        Outbound::Text(bytes::Bytes::from(format!(
            r#"{{"type":"RoomJoined","data":{{"player_id":"{player}","room_id":"{room}","game_name":"alpha","room_code":"ROOM01"}}}}"#
        )))
    }

    fn game_data(from: &str, seq: u64) -> Outbound {
        Outbound::Text(bytes::Bytes::from(format!(
            r#"{{"type":"GameData","data":{{"from_player":"{from}","data":{{"seq":{seq}}}}}}}"#
        )))
    }

    #[test]
    fn a_seat_the_engine_does_not_have_is_a_disagreement() {
        let config = Config::default();
        let mut engine = Engine::new(config.clone(), [1; 32], Instant::ZERO, 0);
        engine.step(
            Event::Opened {
                conn: ConnId(1),
                peer_ip: "10.0.0.1".parse().unwrap(),
                target: "/v2/ws".into(),
                endpoint: crate::event::Endpoint::V2,
            },
            Instant::ZERO,
        );
        let mut clients = Clients::new(&config);
        assert!(clients.resolve(&Op::Connect { ip: 0, opt_in: false }).is_some());
        let conn_of = |i: usize| Some(ConnId(i as u64 + 1));
        assert_eq!(clients.check_membership(&engine, &conn_of), Ok(()));
        clients.observe_message(
            0,
            &joined("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"),
        );
        let err = clients.check_membership(&engine, &conn_of).unwrap_err();
        assert!(err.contains("told but not seated"), "{err}");
    }

    #[test]
    fn game_data_twice_or_back_in_order_is_a_problem() {
        let mut clients = Clients::new(&Config::default());
        clients.resolve(&Op::Connect { ip: 0, opt_in: false });
        clients.observe_message(0, &game_data("p2", 5));
        assert!(clients.take_problems().is_empty());
        clients.observe_message(0, &game_data("p2", 5));
        clients.observe_message(0, &game_data("p2", 4));
        assert_eq!(clients.take_problems().len(), 2);
    }
}
