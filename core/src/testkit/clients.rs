//! What the clients of a workload have seen, used to resolve symbolic [`Op`]s into
//! concrete [`Input`]s and to check what they receive.
//!
//! The checks are the clients' own: game data from one player reaches each other member
//! in the order it was sent, never twice and never back to its sender (replayed
//! `missed_events` included); a snapshot carries a reconnection token exactly when the
//! client opted in or speaks v3 (DECISIONS D15, D56); and what each client was told about
//! its room agrees with the engine ([`Clients::check_membership`]).
//!
//! A v3 client also checks its stamps as SDK 0.14 does (DECISIONS D54–D56): every
//! snapshot, `PlayerJoined`, `PlayerLeft`, `PlayerReconnected` and game data carries
//! them; each sender's seqs follow on without a gap within an epoch (a `DeliveryReport`
//! gap accounts for the ones skipped); an epoch only grows, and is announced before its
//! data; `PlayerLeft.final_seq` is the last seq it got; `Reconnected` watermarks equal
//! the snapshot and its replay holds room-control messages only. A v2 client never sees
//! a v3 field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::input::Input;
use super::op::{Op, FIXED_CODES, GAMES, HTTP_REQUESTS, IPS};
use crate::protocol::{parse_binary_game_data_message, parse_stamped_binary_game_data_message};
use crate::{Config, ConnId, Engine, Outbound};

/// The payload of the one kind of binary garbage workloads send (no JSON form).
pub const GARBAGE_BINARY: [u8; 3] = [0xc1, 0xff, 0x00];

/// What one client has seen about itself.
#[derive(Clone, Debug, Default)]
struct Client {
    open: bool,
    opt_in: bool,
    /// Connected on `/v3/ws` (and named no version when authenticating).
    v3: bool,
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
#[derive(Clone, Debug)]
pub struct Clients {
    clients: Vec<Client>,
    /// Last game-data sequence number per (recipient player, sender player).
    last_seq: BTreeMap<(String, String), u64>,
    /// What each v3 client knows of each sender: (epoch, last seq), by (client, sender).
    stamps: BTreeMap<(usize, String), (u64, u64)>,
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
            stamps: BTreeMap::new(),
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
            Op::Connect { ip, opt_in, v3 } => {
                let client = self.clients.len();
                self.clients.push(Client { open: true, opt_in: *opt_in, v3: *v3, ..Client::default() });
                let ip = IPS[usize::from(*ip) % IPS.len()];
                Some(Input::Connect { client, ip, opt_in: *opt_in, v3: *v3 })
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
                let parsed = match self.clients[index].v3 {
                    false => {
                        parse_binary_game_data_message(bytes).map(|(from, payload)| (from, payload, None))
                    }
                    true => parse_stamped_binary_game_data_message(bytes)
                        .map(|(from, payload, stamp)| (from, payload, Some(stamp))),
                };
                let Some((from, payload, stamp)) = parsed else {
                    let version = if self.clients[index].v3 { "v3" } else { "v2" };
                    self.problems.push(format!(
                        "{} got a binary frame that is no {version} envelope",
                        Clients::name(index)
                    ));
                    return;
                };
                if let Some(stamp) = stamp {
                    self.check_stamp(index, &from.to_string(), u64::from(stamp.epoch), stamp.seq);
                }
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
        if self.clients[i].v3 {
            self.learn_stamps(i, message);
        } else if let Some(field) = v3_field(message) {
            self.problems.push(format!("{} (v2) got a v3 field `{field}`: {message}", Clients::name(i)));
        }
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
                if (client.opt_in || client.v3) != client.token.is_some() && tokens_enabled {
                    let message = format!(
                        "`{}` (opt-in {}) got a snapshot {} a reconnection token (D15)",
                        Clients::name(i),
                        client.opt_in,
                        if client.token.is_some() { "with" } else { "without" }
                    );
                    self.problems.push(message);
                }
                // A v3 client takes its baselines from the snapshot, not from replay.
                if let Some(events) = data["missed_events"].as_array().filter(|_| !self.clients[i].v3) {
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

    /// The stamp checks of a v3 client (see the module documentation).
    fn learn_stamps(&mut self, i: usize, message: &Value) {
        let data = &message["data"];
        let kind = message["type"].as_str().unwrap_or_default();
        let name = Clients::name(i);
        let stamp_of =
            |value: &Value, seq_key: &str| Some((value["epoch"].as_u64()?, value[seq_key].as_u64()?));
        match kind {
            "RoomJoined" | "Reconnected" | "SpectatorJoined" => {
                self.stamps.retain(|(client, _), _| *client != i);
                for player in data["current_players"].as_array().into_iter().flatten() {
                    let id = player["id"].as_str().unwrap_or_default().to_owned();
                    match stamp_of(player, "seq") {
                        Some(stamp) if stamp.0 > 0 => {
                            self.stamps.insert((i, id), stamp);
                        }
                        _ => self.problems.push(format!("{name}: {kind} player without a stamp: {player}")),
                    }
                }
                if kind == "Reconnected" {
                    let marks: Vec<(String, u64, u64)> = data["sender_watermarks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| {
                            Some((
                                w["player_id"].as_str()?.to_owned(),
                                w["epoch"].as_u64()?,
                                w["seq"].as_u64()?,
                            ))
                        })
                        .collect();
                    let snapshot: Vec<(String, u64, u64)> = data["current_players"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| {
                            Some((p["id"].as_str()?.to_owned(), p["epoch"].as_u64()?, p["seq"].as_u64()?))
                        })
                        .collect();
                    if marks != snapshot || data["replay"] != "complete" {
                        self.problems.push(format!("{name}: Reconnected watermarks or replay wrong: {data}"));
                    }
                    for event in data["missed_events"].as_array().into_iter().flatten() {
                        if !crate::engine::V3_REPLAYABLE.iter().any(|kind| event["type"] == *kind) {
                            self.problems.push(format!("{name}: v3 replay holds {event}"));
                        }
                    }
                }
            }
            "PlayerJoined" => {
                let player = &data["player"];
                let id = player["id"].as_str().unwrap_or_default().to_owned();
                match stamp_of(player, "seq") {
                    Some(stamp)
                        if self.stamps.get(&(i, id.clone())).is_none_or(|known| stamp.0 > known.0) =>
                    {
                        self.stamps.insert((i, id), stamp);
                    }
                    _ => self
                        .problems
                        .push(format!("{name}: PlayerJoined with a missing or old stamp: {player}")),
                }
            }
            "PlayerReconnected" => {
                let id = data["player_id"].as_str().unwrap_or_default().to_owned();
                match data["epoch"].as_u64() {
                    Some(epoch) if self.stamps.get(&(i, id.clone())).is_none_or(|known| epoch > known.0) => {
                        self.stamps.insert((i, id), (epoch, 0));
                    }
                    _ => {
                        self.problems.push(format!("{name}: PlayerReconnected without a newer epoch: {data}"))
                    }
                }
            }
            "PlayerLeft" => {
                let id = data["player_id"].as_str().unwrap_or_default().to_owned();
                let Some(ended) = stamp_of(data, "final_seq") else {
                    self.problems.push(format!("{name}: PlayerLeft without epoch and final_seq: {data}"));
                    return;
                };
                if let Some(known) = self.stamps.remove(&(i, id)) {
                    if known != ended && !self.clients[i].stalled {
                        self.problems
                            .push(format!("{name}: PlayerLeft {ended:?} but it had {known:?}: {data}"));
                    }
                }
            }
            "GameData" => {
                let from = data["from_player"].as_str().unwrap_or_default().to_owned();
                match stamp_of(data, "seq") {
                    Some((epoch, seq)) => self.check_stamp(i, &from, epoch, seq),
                    None => self.problems.push(format!("{name}: v3 GameData without a stamp: {data}")),
                }
            }
            "DeliveryReport" => {
                for gap in data["gaps"].as_array().into_iter().flatten() {
                    let from = gap["from_player"].as_str().unwrap_or_default().to_owned();
                    let (Some(epoch), Some(first), Some(last)) =
                        (gap["epoch"].as_u64(), gap["from_seq"].as_u64(), gap["to_seq"].as_u64())
                    else {
                        self.problems.push(format!("{name}: malformed gap {gap}"));
                        continue;
                    };
                    self.check_stamp(i, &from, epoch, first);
                    if let Some(known) = self.stamps.get_mut(&(i, from)) {
                        known.1 = known.1.max(last);
                    }
                }
            }
            "GameDataBinary" => self.problems.push(format!("{name}: v3 got GameDataBinary text: {data}")),
            _ => {}
        }
    }

    /// A v3 client got seq `seq` of `epoch` from `from`: the next one of the epoch it
    /// knows. A stalled client's view is not checked (it did not read what it was sent).
    fn check_stamp(&mut self, i: usize, from: &str, epoch: u64, seq: u64) {
        if self.clients[i].stalled {
            return;
        }
        let name = Clients::name(i);
        match self.stamps.get_mut(&(i, from.to_owned())) {
            None => self.problems.push(format!("{name}: data from {from} before any baseline for it")),
            Some(known) if known.0 == epoch && known.1 + 1 == seq => known.1 = seq,
            Some(known) => {
                let message = format!("{name}: {from} stamp ({epoch}, {seq}) after {known:?}");
                *known = (epoch, seq);
                self.problems.push(message);
            }
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

/// The first v3-only field in a server message, if any.
fn v3_field(message: &Value) -> Option<&'static str> {
    let data = &message["data"];
    let player_fields = |p: &Value| p.get("epoch").is_some() || p.get("seq").is_some();
    let in_players = data["current_players"].as_array().is_some_and(|ps| ps.iter().any(player_fields));
    if message["type"] == "DeliveryReport" {
        return Some("DeliveryReport");
    }
    if in_players || player_fields(&data["player"]) {
        return Some("PlayerInfo.epoch");
    }
    ["epoch", "seq", "final_seq", "class", "key", "replay", "sender_watermarks", "protocol_version"]
        .into_iter()
        .find(|key| data.get(*key).is_some())
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
        assert!(clients.resolve(&Op::Connect { ip: 0, opt_in: false, v3: false }).is_some());
        let conn_of = |i: usize| Some(ConnId(i as u64 + 1));
        assert_eq!(clients.check_membership(&engine, &conn_of), Ok(()));
        clients.observe_message(
            0,
            &joined("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"),
        );
        let err = clients.check_membership(&engine, &conn_of).unwrap_err();
        assert!(err.contains("told but not seated"), "{err}");
    }

    fn text(json: &str) -> Outbound {
        Outbound::Text(bytes::Bytes::from(json.to_owned()))
    }

    #[test]
    fn a_v3_client_checks_stamps_and_a_v2_client_refuses_them() {
        let mut clients = Clients::new(&Config::default());
        clients.resolve(&Op::Connect { ip: 0, opt_in: false, v3: true });
        clients.resolve(&Op::Connect { ip: 0, opt_in: false, v3: false });
        let joined = r#"{"type":"RoomJoined","data":{"player_id":"p1","room_id":"r","game_name":"alpha","room_code":"ROOM01","reconnection_token":"t","current_players":[{"id":"p1","epoch":1,"seq":0},{"id":"p2","epoch":3,"seq":4}]}}"#;
        clients.observe_message(0, &text(joined));
        let data = |seq: u64, epoch: u64| {
            text(&format!(
                r#"{{"type":"GameData","data":{{"from_player":"p2","data":{{"seq":{seq}}},"seq":{seq},"epoch":{epoch}}}}}"#
            ))
        };
        clients.observe_message(0, &data(5, 3));
        assert_eq!(clients.take_problems(), Vec::<String>::new());
        clients.observe_message(0, &data(7, 3));
        assert_eq!(clients.take_problems().len(), 1, "a gap");
        clients.observe_message(0, &data(8, 4));
        assert_eq!(clients.take_problems().len(), 1, "an unannounced epoch");
        let left = r#"{"type":"PlayerLeft","data":{"player_id":"p2","epoch":4,"final_seq":9}}"#;
        clients.observe_message(0, &text(left));
        assert_eq!(clients.take_problems().len(), 1, "a final seq it did not get");
        clients.observe_message(1, &data(9, 4));
        assert_eq!(clients.take_problems().len(), 1, "a v2 client never sees a stamp");
    }

    #[test]
    fn game_data_twice_or_back_in_order_is_a_problem() {
        let mut clients = Clients::new(&Config::default());
        clients.resolve(&Op::Connect { ip: 0, opt_in: false, v3: false });
        clients.observe_message(0, &game_data("p2", 5));
        assert!(clients.take_problems().is_empty());
        clients.observe_message(0, &game_data("p2", 5));
        clients.observe_message(0, &game_data("p2", 4));
        assert_eq!(clients.take_problems().len(), 2);
    }
}
