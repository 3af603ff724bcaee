//! A simulated cluster (DECISIONS D58): several engines on one virtual clock, a room
//! directory that answers atomically in the order it is asked, and a carrier that
//! delivers each link's messages in order after a delay. Nodes can be killed, shut
//! down, and cut off from the directory; invariants are checked after every step.
//!
//! It stands in for Redis in tests, so everything cluster mode does is explored
//! deterministically before the real directory confirms it over sockets.

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use crate::cluster::{DirectoryAnswer, DirectoryQuery, DirectoryUpdate, NodeId, NodeMessage};
use crate::config::Config;
use crate::event::{Action, CloseCause, ConnId, Endpoint, Event, Outbound};
use crate::{Engine, Instant};

/// Most queued deliveries; a workload that exceeds it is a runaway.
const MAX_QUEUED: usize = 1 << 20;
/// Most steps one `settle` may take.
const MAX_SETTLE_STEPS: usize = 1 << 20;

/// What one client connection received, in order: message texts (binary as `<binary
/// N bytes>`) and finally its close.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Messages, in order.
    pub messages: Vec<String>,
    /// The same messages as sent.
    pub frames: Vec<Outbound>,
    /// The close code, once closed by the server.
    pub closed: Option<u16>,
}

/// One client's transcript made comparable: JSON values, with generated ids, codes and
/// tokens replaced by names in order of first appearance (over all transcripts), and
/// wall-clock stamps zeroed (a join through the directory happens a round trip later).
pub type Comparable = (Vec<serde_json::Value>, Option<u16>);

/// [`Comparable`] forms of `transcripts`, sharing one naming.
pub fn comparable(transcripts: &[Transcript]) -> Vec<Comparable> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    transcripts
        .iter()
        .map(|t| {
            let messages = t
                .messages
                .iter()
                .map(|m| {
                    let mut value = serde_json::from_str(m).unwrap_or(serde_json::Value::String(m.clone()));
                    scrub(&mut value, &mut names, None);
                    value
                })
                .collect();
            (messages, t.closed)
        })
        .collect()
}

/// Where two sets of comparable transcripts first differ, by client and message.
pub fn first_difference(left: &[Comparable], right: &[Comparable]) -> Option<String> {
    if left.len() != right.len() {
        return Some(format!("{} clients against {}", left.len(), right.len()));
    }
    for (client, (l, r)) in left.iter().zip(right).enumerate() {
        for (i, (lm, rm)) in l.0.iter().zip(&r.0).enumerate() {
            if lm != rm {
                return Some(format!("client {client}, message {i}:\n  left:  {lm}\n  right: {rm}"));
            }
        }
        if l.0.len() != r.0.len() {
            let (ll, rl) = (l.0.len(), r.0.len());
            return Some(format!(
                "client {client}: {ll} messages against {rl}; next: {:?} / {:?}",
                l.0.get(rl),
                r.0.get(ll)
            ));
        }
        if l.1 != r.1 {
            return Some(format!("client {client}: closed {:?} against {:?}", l.1, r.1));
        }
    }
    None
}

/// Keys whose values an engine draws from its seed (beyond UUIDs).
const DRAWN: &[&str] = &["room_code", "reconnection_token", "auth_token"];

fn scrub(value: &mut serde_json::Value, names: &mut BTreeMap<String, String>, key: Option<&str>) {
    use serde_json::Value;
    let rename = |s: &mut String, names: &mut BTreeMap<String, String>| {
        let next = format!("#{}", names.len());
        *s = names.entry(s.clone()).or_insert(next).clone();
    };
    match value {
        Value::String(s) if Uuid::parse_str(s).is_ok() || key.is_some_and(|k| DRAWN.contains(&k)) => {
            rename(s, names)
        }
        _ if key.is_some_and(|k| k.ends_with("_at") || k.contains("time")) => *value = Value::from(0),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, names, None)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                scrub(v, names, Some(k));
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Delivery {
    Answer { node: usize, conn: ConnId, answer: DirectoryAnswer },
    Message { to: usize, from: NodeId, message: NodeMessage },
    Lost { node: usize, lost: NodeId },
}

struct Node {
    id: NodeId,
    engine: Engine,
    alive: bool,
}

/// The simulated cluster. See the module documentation.
pub struct SimCluster {
    nodes: Vec<Node>,
    now: Instant,
    /// Directory: (game, code) → owner; room id → owner.
    codes: BTreeMap<(String, String), usize>,
    rooms: BTreeMap<Uuid, usize>,
    directory_up: bool,
    /// Carrier and directory latency.
    delay: Duration,
    queue: BTreeMap<(Instant, u64), Delivery>,
    next_seq: u64,
    /// The latest delivery time per link, so a link never reorders.
    link_tail: BTreeMap<(usize, usize), Instant>,
    transcripts: BTreeMap<(usize, ConnId), Transcript>,
    /// Killed nodes whose claims run out at the given time.
    pending_frees: Vec<(Instant, usize)>,
    steps: u64,
}

impl SimCluster {
    /// `nodes` engines in cluster mode with `config` (its `cluster.redis_url` is set to a
    /// placeholder: nothing is dialled), seeded from `seed`, with `delay` for every
    /// directory answer and node-to-node message.
    pub fn new(nodes: usize, mut config: Config, seed: u64, delay: Duration) -> SimCluster {
        config.cluster.redis_url = Some("redis://simulated".to_owned());
        let nodes = (0..nodes)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&seed.to_le_bytes());
                bytes[8] = i as u8;
                Node {
                    id: NodeId(format!("node-{i}")),
                    engine: Engine::new(config.clone(), bytes, Instant::ZERO, 1_700_000_000_000),
                    alive: true,
                }
            })
            .collect();
        SimCluster {
            nodes,
            now: Instant::ZERO,
            codes: BTreeMap::new(),
            rooms: BTreeMap::new(),
            directory_up: true,
            delay,
            queue: BTreeMap::new(),
            next_seq: 0,
            link_tail: BTreeMap::new(),
            transcripts: BTreeMap::new(),
            pending_frees: Vec::new(),
            steps: 0,
        }
    }

    /// A single engine (cluster mode off) driven the same way, for comparisons.
    pub fn single(config: Config, seed: u64) -> SimCluster {
        let mut cluster = SimCluster::new(1, config, seed, Duration::ZERO);
        let mut config = cluster.nodes[0].engine.config().clone();
        config.cluster.redis_url = None;
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        cluster.nodes[0].engine = Engine::new(config, bytes, Instant::ZERO, 1_700_000_000_000);
        cluster
    }

    /// The engine of node `node`.
    pub fn engine(&self, node: usize) -> &Engine {
        &self.nodes[node].engine
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Engine steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// What a connection on `node` received.
    pub fn transcript(&self, node: usize, conn: ConnId) -> Transcript {
        self.transcripts.get(&(node, conn)).cloned().unwrap_or_default()
    }

    /// Opens a v2 connection on `node` from `ip`.
    pub fn open(&mut self, node: usize, conn: ConnId, ip: [u8; 4]) -> Result<(), String> {
        self.open_at(node, conn, IpAddr::from(ip), "/v2/ws")
    }

    /// Opens a connection on `node` from `ip` to `target` (`/v3/ws`, an opt-in query…).
    pub fn open_at(&mut self, node: usize, conn: ConnId, ip: IpAddr, target: &str) -> Result<(), String> {
        let event = Event::Opened { conn, peer_ip: ip, target: target.to_owned(), endpoint: Endpoint::V2 };
        self.step(node, event)
    }

    /// The client on `node` sends `text`.
    pub fn text(&mut self, node: usize, conn: ConnId, text: &str) -> Result<(), String> {
        self.step(node, Event::Text { conn, text: text.to_owned() })
    }

    /// The client on `node` closes its socket.
    pub fn close(&mut self, node: usize, conn: ConnId) -> Result<(), String> {
        self.step(node, Event::Closed { conn, cause: CloseCause::ClientClosed })
    }

    /// Node `node` shuts down (SIGTERM): its clients are closed with 1001, and it
    /// releases its codes at once.
    pub fn shutdown(&mut self, node: usize) -> Result<(), String> {
        self.step(node, Event::Shutdown)?;
        self.forget_node(node);
        self.nodes[node].alive = false;
        Ok(())
    }

    /// Node `node` dies at once (kill -9): its engine's state is gone; the others learn
    /// it after `lease`, when its claims also run out.
    pub fn kill(&mut self, node: usize, lease: Duration) {
        self.nodes[node].alive = false;
        let lost = self.nodes[node].id.clone();
        // Everything addressed to it is dropped with it.
        self.queue.retain(|_, d| match d {
            Delivery::Answer { node: n, .. } => *n != node,
            Delivery::Message { to, .. } => *to != node,
            Delivery::Lost { node: n, .. } => *n != node,
        });
        let at = self.now + lease;
        for other in 0..self.nodes.len() {
            if other != node && self.nodes[other].alive {
                self.push(at, Delivery::Lost { node: other, lost: lost.clone() });
            }
        }
        // Its claims count until the lease runs out; claims are refused as taken until
        // then, and free afterwards (modelled by freeing them at `at` in `settle`).
        self.pending_frees.push((at, node));
    }

    /// The directory becomes unreachable (queries answer `Unavailable`) or reachable.
    pub fn set_directory_up(&mut self, up: bool) {
        self.directory_up = up;
    }

    fn forget_node(&mut self, node: usize) {
        self.codes.retain(|_, owner| *owner != node);
        self.rooms.retain(|_, owner| *owner != node);
    }

    fn push(&mut self, at: Instant, delivery: Delivery) {
        assert!(self.queue.len() < MAX_QUEUED, "runaway: {MAX_QUEUED} deliveries queued");
        self.next_seq += 1;
        self.queue.insert((at, self.next_seq), delivery);
    }

    /// Steps `event` on `node`, routes its actions, then delivers everything due now.
    pub fn step(&mut self, node: usize, event: Event) -> Result<(), String> {
        self.step_one(node, event)?;
        self.settle(self.now)
    }

    fn step_one(&mut self, node: usize, event: Event) -> Result<(), String> {
        if !self.nodes[node].alive {
            return Ok(());
        }
        self.steps += 1;
        let actions = self.nodes[node].engine.step(event, self.now);
        self.nodes[node]
            .engine
            .check_invariants()
            .map_err(|v| format!("node {node} at step {}: {v}", self.steps))?;
        for action in actions {
            self.route(node, action)?;
        }
        self.check_cluster()
    }

    fn route(&mut self, node: usize, action: Action) -> Result<(), String> {
        match action {
            Action::Send { conn, message } => {
                let text = match &message {
                    Outbound::Text(_) => message.as_text().expect("text").to_owned(),
                    Outbound::Binary(bytes) => format!("<binary {} bytes>", bytes.len()),
                };
                let transcript = self.transcripts.entry((node, conn)).or_default();
                if transcript.closed.is_some() {
                    return Err(format!("node {node} sent to {conn} after closing it"));
                }
                transcript.messages.push(text);
                transcript.frames.push(message);
            }
            Action::Close { conn, code, .. } => {
                let transcript = self.transcripts.entry((node, conn)).or_default();
                if transcript.closed.is_some() {
                    return Err(format!("node {node} closed {conn} twice"));
                }
                transcript.closed = Some(code);
            }
            Action::Http(_) => {}
            Action::Query { conn, query } => {
                let answer = self.answer(node, query);
                self.push(self.now + self.delay, Delivery::Answer { node, conn, answer });
            }
            Action::Publish(update) => {
                if self.directory_up {
                    self.apply_update(node, update);
                }
            }
            Action::ToNode { to, message } => {
                let Some(to) = self.nodes.iter().position(|n| n.id == to) else {
                    return Err(format!("node {node} sent to unknown node {to}"));
                };
                let from = self.nodes[node].id.clone();
                let tail = self.link_tail.entry((node, to)).or_insert(Instant::ZERO);
                let at = (self.now + self.delay).max(*tail);
                *tail = at;
                self.push(at, Delivery::Message { to, from, message });
            }
        }
        Ok(())
    }

    /// The directory's answer, applied atomically at the moment of asking.
    fn answer(&mut self, node: usize, query: DirectoryQuery) -> DirectoryAnswer {
        if !self.directory_up {
            return DirectoryAnswer::Unavailable;
        }
        let owner_answer = |owner: usize, nodes: &[Node]| {
            if owner == node {
                DirectoryAnswer::Here
            } else {
                DirectoryAnswer::Node(nodes[owner].id.clone())
            }
        };
        match query {
            DirectoryQuery::Claim { game, code } => match self.codes.get(&(game.clone(), code.clone())) {
                Some(&owner) => owner_answer(owner, &self.nodes),
                None => {
                    self.codes.insert((game, code), node);
                    DirectoryAnswer::Here
                }
            },
            DirectoryQuery::FindCode { game, code } => match self.codes.get(&(game, code)) {
                Some(&owner) => owner_answer(owner, &self.nodes),
                None => DirectoryAnswer::Absent,
            },
            DirectoryQuery::FindRoom { room_id } => match self.rooms.get(&room_id) {
                Some(&owner) => owner_answer(owner, &self.nodes),
                None => DirectoryAnswer::Absent,
            },
        }
    }

    fn apply_update(&mut self, node: usize, update: DirectoryUpdate) {
        match update {
            // As the server's link does: the code was claimed by the join's query, only
            // the room id is recorded now.
            DirectoryUpdate::RoomCreated { room_id, .. } => {
                self.rooms.insert(room_id, node);
            }
            DirectoryUpdate::RoomRemoved { game, code, room_id } => {
                if self.codes.get(&(game.clone(), code.clone())) == Some(&node) {
                    self.codes.remove(&(game, code));
                }
                if let Some(id) = room_id {
                    if self.rooms.get(&id) == Some(&node) {
                        self.rooms.remove(&id);
                    }
                }
            }
        }
    }

    /// Delivers everything due by `until` and fires engine timers, in time order.
    fn settle(&mut self, until: Instant) -> Result<(), String> {
        for _ in 0..MAX_SETTLE_STEPS {
            let next_delivery = self.queue.keys().next().map(|(at, _)| *at);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.alive)
                .filter_map(|(i, n)| n.engine.poll_timeout().map(|at| (at, i)))
                .min();
            let next_free = self.pending_frees.iter().map(|(at, _)| *at).min();
            let candidates = [next_delivery, next_timer.map(|(at, _)| at), next_free];
            let Some(at) = candidates.into_iter().flatten().min() else { return Ok(()) };
            if at > until {
                return Ok(());
            }
            self.now = self.now.max(at);
            if next_free == Some(at) {
                let due: Vec<usize> =
                    self.pending_frees.iter().filter(|(t, _)| *t <= self.now).map(|(_, n)| *n).collect();
                self.pending_frees.retain(|(t, _)| *t > self.now);
                for node in due {
                    self.forget_node(node);
                }
                continue;
            }
            if next_delivery == Some(at) {
                let key = *self.queue.keys().next().expect("non-empty");
                let delivery = self.queue.remove(&key).expect("present");
                match delivery {
                    Delivery::Answer { node, conn, answer } => {
                        self.step_one(node, Event::Answer { conn, answer })?
                    }
                    Delivery::Message { to, from, message } => {
                        self.step_one(to, Event::FromNode { from, message })?
                    }
                    Delivery::Lost { node, lost } => {
                        self.step_one(node, Event::NodeLost { node: Some(lost) })?
                    }
                }
                continue;
            }
            let (_, node) = next_timer.expect("a timer is next");
            self.step_one(node, Event::Tick)?;
        }
        Err(format!("settle did not finish within {MAX_SETTLE_STEPS} steps"))
    }

    /// Lets virtual time pass, delivering and firing what falls due.
    pub fn advance(&mut self, by: Duration) -> Result<(), String> {
        let until = self.now + by;
        self.settle(until)?;
        self.now = until;
        Ok(())
    }

    /// Cluster invariants: no code is a room on two live nodes, and every live room's
    /// code is owned by its node in the directory (while it is reachable).
    fn check_cluster(&self) -> Result<(), String> {
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.alive {
                continue;
            }
            for room in node.engine.rooms() {
                let key = (room.game.clone(), room.code.clone());
                if !seen.insert(key.clone()) {
                    return Err(format!("code {}/{} is a room on two nodes", key.0, key.1));
                }
                if self.nodes.len() > 1 && self.codes.get(&key).is_some_and(|owner| *owner != i) {
                    return Err(format!(
                        "node {i} has room {}/{} the directory gives to another node",
                        key.0, key.1
                    ));
                }
            }
        }
        Ok(())
    }
}
