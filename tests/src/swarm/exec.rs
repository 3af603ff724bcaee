//! Running a workload: operations are resolved against what the clients have seen into
//! scenario command lines, run in the simulator, and checked.
//!
//! Besides the simulator's checks after every step, the client model checks that game
//! data from one player reaches each other player in the order it was sent (sequence
//! numbers only grow, replayed `missed_events` included).

use std::collections::BTreeMap;

use serde_json::Value;
use signal_fish_core::Frame;

use super::workload::{Op, Workload, FIXED_CODES, GAMES, IPS};
use crate::backend::{Backend, SimBackend};
use crate::frames::{parse_binary_game_data, to_hex};
use crate::observe::Observation;
use crate::scenario::capture::Captures;
use crate::scenario::command::parse_command;
use crate::scenario::parse::{Header, DEFAULT_UNIX_MS};
use crate::scenario::runner::{build_config, execute};
use crate::sim::{ConnState, Sim};

/// The result of running a workload.
#[derive(Clone, Debug)]
pub struct Execution {
    /// The command lines that ran, in order.
    pub commands: Vec<String>,
    /// The first problem: index of the operation during which it appeared, and message.
    pub failure: Option<(usize, String)>,
    /// Hash of the full trace (for the determinism check).
    pub trace_hash: u64,
    /// Engine steps taken.
    pub steps: u64,
}

/// What a client has seen about itself.
#[derive(Clone, Debug, Default)]
struct Client {
    name: String,
    opt_in: bool,
    player_id: Option<String>,
    /// (game, code, room id) of the room it sits in (kept after it disconnects, so a
    /// reconnect can name it).
    room: Option<(String, String, String)>,
    token: Option<String>,
    spectating: bool,
}

struct Model {
    clients: Vec<Client>,
    /// Last game-data sequence number per (recipient player, sender player).
    last_seq: BTreeMap<(String, String), u64>,
    next_seq: u64,
}

/// Runs `ops` (a subset of the workload's, when shrinking) with the workload's config.
pub fn run_ops(workload: &Workload, ops: &[Op]) -> Execution {
    let header = header_of(workload);
    let config = build_config(std::path::Path::new("swarm"), &header).expect("swarm configs are well-formed");
    let mut sim = Sim::new(config, workload.seed, DEFAULT_UNIX_MS, false).expect("swarm configs are valid");
    // Time passes only through `advance` operations, so each operation is resolved
    // against the state it will run in.
    sim.set_spacing(header.spacing);
    let mut backend = SimBackend { sim };
    let mut model = Model { clients: Vec::new(), last_seq: BTreeMap::new(), next_seq: 1 };
    let empty = Captures::new();
    let mut commands = Vec::new();
    let mut failure = None;
    for (k, op) in ops.iter().enumerate() {
        let Some(line) = model.resolve(op, &backend.sim) else { continue };
        let command =
            parse_command(&line).unwrap_or_else(|e| panic!("swarm wrote a bad command `{line}`: {e}"));
        let result = execute(&command, &mut backend, &empty);
        let observations = backend.settle();
        model.observe(&observations, &mut backend.sim);
        commands.push(line.clone());
        if let Err(e) = result {
            failure = Some((k, format!("swarm could not run `{line}`: {e}")));
            break;
        }
        if let Some(v) = backend.sim.violations().first() {
            failure = Some((k, v.message.clone()));
            break;
        }
    }
    Execution { commands, failure, trace_hash: backend.sim.trace().hash, steps: backend.sim.steps() }
}

/// The scenario header of a workload.
pub fn header_of(workload: &Workload) -> Header {
    Header {
        seed: workload.seed,
        config: vec![(2, workload.config.clone())],
        unix_ms: DEFAULT_UNIX_MS,
        sim_only: None,
        covers: Vec::new(),
        spacing: std::time::Duration::ZERO,
    }
}

impl Model {
    fn open(&self, sim: &Sim) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| sim.conn_state(&self.clients[i].name) == Some(&ConnState::Open))
            .collect()
    }

    fn pick_open(&self, sim: &Sim, who: usize) -> Option<usize> {
        let open = self.open(sim);
        (!open.is_empty()).then(|| open[who % open.len()])
    }

    /// The command line for an operation, or `None` when it cannot apply now.
    fn resolve(&mut self, op: &Op, sim: &Sim) -> Option<String> {
        let send = |model: &Model, who: usize, json: String| -> Option<String> {
            let i = model.pick_open(sim, who)?;
            Some(format!("send {} {json}", model.clients[i].name))
        };
        match op {
            Op::Connect { ip, opt_in } => {
                let name = format!("c{}", self.clients.len() + 1);
                self.clients.push(Client { name: name.clone(), opt_in: *opt_in, ..Client::default() });
                let path = if *opt_in { " path=/v2/ws?reconnection_token=true" } else { "" };
                Some(format!("connect {name} ip={}{path}", IPS[usize::from(*ip) % IPS.len()]))
            }
            Op::Authenticate { who, msgpack, bad_app } => {
                let app = if *bad_app { "nope" } else { "app" };
                let format = if *msgpack { r#","game_data_format":"message_pack""# } else { "" };
                send(self, *who, format!(r#"{{"type":"Authenticate","data":{{"app_id":"{app}"{format}}}}}"#))
            }
            Op::Create { who, game, max_players, authority } => {
                let i = self.pick_open(sim, *who)?;
                let name = &self.clients[i].name;
                Some(format!(
                    r#"send {name} {{"type":"JoinRoom","data":{{"game_name":"{}","player_name":"P{name}","max_players":{max_players},"supports_authority":{authority}}}}}"#,
                    GAMES[usize::from(*game) % GAMES.len()]
                ))
            }
            Op::JoinOther { who, other } => {
                let i = self.pick_open(sim, *who)?;
                let name = &self.clients[i].name;
                let rooms: Vec<&(String, String, String)> = self.clients.iter().filter_map(|c| c.room.as_ref()).collect();
                let (game, code) = match rooms.get(other % rooms.len().max(1)) {
                    Some((game, code, _)) => (game.clone(), code.clone()),
                    None => (GAMES[0].to_owned(), FIXED_CODES[0].to_owned()),
                };
                Some(format!(
                    r#"send {name} {{"type":"JoinRoom","data":{{"game_name":"{game}","room_code":"{code}","player_name":"P{name}"}}}}"#
                ))
            }
            Op::JoinFixed { who, code, game } => {
                let i = self.pick_open(sim, *who)?;
                let name = &self.clients[i].name;
                Some(format!(
                    r#"send {name} {{"type":"JoinRoom","data":{{"game_name":"{}","room_code":"{}","player_name":"P{name}"}}}}"#,
                    GAMES[usize::from(*game) % GAMES.len()],
                    FIXED_CODES[usize::from(*code) % FIXED_CODES.len()]
                ))
            }
            Op::Leave { who } => send(self, *who, r#"{"type":"LeaveRoom"}"#.to_owned()),
            Op::Ready { who } => send(self, *who, r#"{"type":"PlayerReady"}"#.to_owned()),
            Op::Authority { who, claim } => {
                send(self, *who, format!(r#"{{"type":"AuthorityRequest","data":{{"become_authority":{claim}}}}}"#))
            }
            Op::GameData { who } => {
                let seq = self.next_seq;
                let line = send(self, *who, format!(r#"{{"type":"GameData","data":{{"data":{{"seq":{seq},"v":[1,"x"]}}}}}}"#))?;
                self.next_seq += 1;
                Some(line)
            }
            Op::Binary { who, garbage } => {
                let i = self.pick_open(sim, *who)?;
                let name = &self.clients[i].name;
                if *garbage {
                    Some(format!("send-binary {name} c1ff00"))
                } else {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    Some(format!(r#"send-binary {name} msgpack {{"seq":{seq}}}"#))
                }
            }
            Op::ConnectionInfo { who } => send(
                self,
                *who,
                r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"10.1.1.1","port":7777}}}"#
                    .to_owned(),
            ),
            Op::Ping { who } => send(self, *who, r#"{"type":"Ping"}"#.to_owned()),
            Op::Pong { who } => {
                let i = self.pick_open(sim, *who)?;
                Some(format!("pong {}", self.clients[i].name))
            }
            Op::Spectate { who, other } => {
                let i = self.pick_open(sim, *who)?;
                let name = &self.clients[i].name;
                let rooms: Vec<&(String, String, String)> = self.clients.iter().filter_map(|c| c.room.as_ref()).collect();
                let (game, code) = match rooms.get(other % rooms.len().max(1)) {
                    Some((game, code, _)) => (game.clone(), code.clone()),
                    None => (GAMES[1].to_owned(), FIXED_CODES[2].to_owned()),
                };
                Some(format!(
                    r#"send {name} {{"type":"JoinAsSpectator","data":{{"game_name":"{game}","room_code":"{code}","spectator_name":"S{name}"}}}}"#
                ))
            }
            Op::StopSpectating { who } => send(self, *who, r#"{"type":"LeaveSpectator"}"#.to_owned()),
            Op::Reconnect { who, target, tamper } => {
                let i = self.pick_open(sim, *who)?;
                let gone: Vec<&Client> = self
                    .clients
                    .iter()
                    .filter(|c| sim.conn_state(&c.name) != Some(&ConnState::Open))
                    .filter(|c| c.player_id.is_some() && c.room.is_some())
                    .collect();
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
                Some(format!(
                    r#"send {} {{"type":"Reconnect","data":{{"player_id":"{player}","room_id":"{room}","auth_token":"{token}"}}}}"#,
                    self.clients[i].name
                ))
            }
            Op::Close { who } => {
                let i = self.pick_open(sim, *who)?;
                Some(format!("close {}", self.clients[i].name))
            }
            Op::Drop { who } => {
                let i = self.pick_open(sim, *who)?;
                Some(format!("drop {}", self.clients[i].name))
            }
            Op::Backlog { who } => {
                let i = self.pick_open(sim, *who)?;
                Some(format!("backlog {}", self.clients[i].name))
            }
            Op::Stall { who } => {
                let i = self.pick_open(sim, *who)?;
                Some(format!("stall {}", self.clients[i].name))
            }
            Op::Malformed { who, kind } => {
                let max = sim.engine().config().security.max_message_size;
                let text = match kind % 6 {
                    0 => "not json".to_owned(),
                    1 => r#"{"type":"Nope"}"#.to_owned(),
                    2 => r#"{"type":"JoinRoom","data":{}}"#.to_owned(),
                    3 => r#"{"type":"LeaveRoom","data":{}}"#.to_owned(),
                    4 if max <= 4096 => format!(r#"{{"type":"GameData","data":{{"data":"{}"}}}}"#, "x".repeat(max)),
                    _ => r#"{"type":"Ping","type":"Ping"}"#.to_owned(),
                };
                send(self, *who, text)
            }
            Op::Http { kind } => Some(
                match kind % 8 {
                    0 => "http GET /v2/health",
                    1 => "http GET /metrics",
                    2 => "http GET /metrics/prom",
                    3 => "http GET /v1/metrics?includeSnapshot=true",
                    4 => "http HEAD /v2/health",
                    5 => "http POST /metrics",
                    6 => "http GET /metrics?includeSnapshot=maybe",
                    _ => "http OPTIONS /v2/health",
                }
                .to_owned(),
            ),
            Op::Advance { ms } => Some(format!("advance {ms}ms")),
            Op::AdvanceNext => Some("advance next".to_owned()),
        }
    }

    /// Learns from what clients received, and checks game-data order.
    fn observe(&mut self, observations: &[Observation], sim: &mut Sim) {
        for o in observations {
            let Observation::Frame { conn, frame } = o else { continue };
            let Some(i) = self.clients.iter().position(|c| &c.name == conn) else { continue };
            match frame {
                Frame::Text(bytes) => {
                    let Ok(message) = serde_json::from_slice::<Value>(bytes) else { continue };
                    self.learn(i, &message, sim);
                }
                Frame::Binary(bytes) => {
                    if let Some(g) = parse_binary_game_data(bytes) {
                        let seq =
                            rmp_serde::from_slice::<Value>(&g.payload).ok().and_then(|v| v["seq"].as_u64());
                        if let Some(seq) = seq {
                            self.check_order(i, &g.from_player, seq, sim);
                        } else if g.payload != [0xc1, 0xff, 0x00] {
                            sim.violate(format!(
                                "binary game data with an unexpected payload {}",
                                to_hex(&g.payload)
                            ));
                        }
                    }
                }
            }
        }
    }

    fn learn(&mut self, i: usize, message: &Value, sim: &mut Sim) {
        let data = &message["data"];
        let room_of = |d: &Value| -> Option<(String, String, String)> {
            Some((
                d["game_name"].as_str()?.to_owned(),
                d["room_code"].as_str()?.to_owned(),
                d["room_id"].as_str()?.to_owned(),
            ))
        };
        let client = &mut self.clients[i];
        match message["type"].as_str() {
            Some("RoomJoined") | Some("Reconnected") => {
                client.player_id = data["player_id"].as_str().map(str::to_owned);
                client.room = room_of(data);
                client.token = data["reconnection_token"].as_str().map(str::to_owned);
                if client.opt_in != client.token.is_some() && sim.engine().config().server.enable_reconnection
                {
                    sim.violate(format!(
                        "`{}` (opt-in {}) got a snapshot {} a reconnection token (D15)",
                        client.name,
                        client.opt_in,
                        if client.token.is_some() { "with" } else { "without" }
                    ));
                }
                if let Some(events) = data["missed_events"].as_array() {
                    for event in events.clone() {
                        self.learn(i, &event, sim);
                    }
                }
            }
            Some("RoomLeft") => client.room = None,
            Some("SpectatorJoined") => {
                client.player_id = data["spectator_id"].as_str().map(str::to_owned);
                client.spectating = true;
            }
            Some("SpectatorLeft") => client.spectating = false,
            Some("GameData") => {
                if let (Some(from), Some(seq)) = (data["from_player"].as_str(), data["data"]["seq"].as_u64())
                {
                    let from = from.to_owned();
                    self.check_order(i, &from, seq, sim);
                }
            }
            _ => {}
        }
    }

    fn check_order(&mut self, i: usize, from: &str, seq: u64, sim: &mut Sim) {
        let client = &self.clients[i];
        let recipient = client.player_id.clone().unwrap_or_else(|| client.name.clone());
        if recipient == from {
            sim.violate(format!("`{}` received its own game data (seq {seq})", client.name));
        }
        let last = self.last_seq.entry((recipient, from.to_owned())).or_insert(0);
        if seq <= *last {
            sim.violate(format!(
                "`{}` received game data seq {seq} from {from} after seq {} (out of order or twice)",
                client.name, *last
            ));
        }
        *last = seq;
    }
}
