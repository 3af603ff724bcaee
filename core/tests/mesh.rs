//! The matchbox full mesh under random operations (DECISIONS D50 to D52): peers join
//! rooms with and without `next`, signal each other, close, drop and go silent, while
//! the shared virtual host checks the engine's invariants after every step. Beside it a
//! model of the rooms and groups predicts, for every peer, exactly the peers it must
//! know about (the peers there when it joined, then `NewPeer` and `PeerLeft`: always
//! exactly the rest of its group) and which signals reach it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use signal_fish_core::protocol::MeshEvent;
use signal_fish_core::testkit::VirtualHost;
use signal_fish_core::{Action, CloseCause, Config, ConnId, Endpoint, Engine, Event, Instant};
use uuid::Uuid;

#[derive(Clone, Debug)]
enum MeshOp {
    /// A peer connects to room `room` (0 or 1) with `next` (none, 2 or 3).
    Connect {
        room: u8,
        next: Option<u8>,
    },
    /// Peer `from` signals peer `to` (indices into every peer ever connected).
    Signal {
        from: usize,
        to: usize,
        payload: u8,
    },
    KeepAlive(usize),
    Close(usize),
    Drop(usize),
    /// Time passes (liveness closes silent peers after 5 s).
    Advance(u16),
}

fn op() -> impl Strategy<Value = MeshOp> {
    prop_oneof![
        4 => (0..2u8, prop_oneof![Just(None), Just(Some(2u8)), Just(Some(3u8))])
            .prop_map(|(room, next)| MeshOp::Connect { room, next }),
        4 => (0..24usize, 0..24usize, any::<u8>()).prop_map(|(from, to, payload)| MeshOp::Signal { from, to, payload }),
        1 => (0..24usize).prop_map(MeshOp::KeepAlive),
        1 => (0..24usize).prop_map(MeshOp::Close),
        1 => (0..24usize).prop_map(MeshOp::Drop),
        1 => (0..4000u16).prop_map(MeshOp::Advance),
    ]
}

/// One peer as the model sees it.
struct Peer {
    conn: ConnId,
    id: Option<Uuid>,
    open: bool,
    group: usize,
    /// Peers of its group it knows of: those there when it joined, then every `NewPeer`,
    /// less every `PeerLeft`.
    known: BTreeSet<Uuid>,
    /// Signals it received: (sender, data).
    signals: Vec<(Uuid, String)>,
}

/// The rooms and groups as the rules say they must be.
#[derive(Default)]
struct Model {
    peers: Vec<Peer>,
    /// Members (peer indices) of each group ever made.
    groups: Vec<Vec<usize>>,
    /// The group a new peer of (room, next) joins.
    open: BTreeMap<(u8, Option<u8>), usize>,
    by_conn: BTreeMap<ConnId, usize>,
}

impl Model {
    fn connect(&mut self, room: u8, next: Option<u8>) -> ConnId {
        let conn = ConnId(self.peers.len() as u64 + 1);
        let group = match self.open.get(&(room, next)) {
            Some(group) => *group,
            None => {
                self.groups.push(Vec::new());
                self.open.insert((room, next), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        // A newcomer is told of nobody: the peers already there open the connections
        // (their signals carry their ids), and their `PeerLeft` reaches it later.
        let known = self.groups[group].iter().map(|m| self.peers[*m].id.expect("members have ids")).collect();
        self.groups[group].push(self.peers.len());
        if next.map(usize::from) == Some(self.groups[group].len()) {
            self.open.remove(&(room, next));
        }
        self.by_conn.insert(conn, self.peers.len());
        self.peers.push(Peer { conn, id: None, open: true, group, known, signals: Vec::new() });
        conn
    }

    /// The peer left: out of its group; an emptied group is forgotten by its address.
    fn gone(&mut self, peer: usize) {
        let p = &mut self.peers[peer];
        if !p.open {
            return;
        }
        p.open = false;
        let group = p.group;
        self.groups[group].retain(|member| *member != peer);
        if self.groups[group].is_empty() {
            self.open.retain(|_, g| *g != group);
        }
    }

    /// Applies what the engine did; returns a complaint if it broke a rule.
    fn observe(&mut self, actions: Vec<Action>) -> Result<(), String> {
        for action in actions {
            match action {
                Action::Send { conn, message } => {
                    let peer = self.by_conn[&conn];
                    let text = message.as_text().ok_or("binary frame to a mesh peer")?.to_owned();
                    let event = MeshEvent::decode(&text)?;
                    let p = &mut self.peers[peer];
                    if !p.open {
                        return Err(format!("{text} sent to closed peer {peer}"));
                    }
                    match event {
                        MeshEvent::IdAssigned(id) if p.id.is_none() => p.id = Some(id),
                        _ if p.id.is_none() => return Err(format!("{text} before IdAssigned")),
                        MeshEvent::IdAssigned(_) => return Err("second IdAssigned".into()),
                        MeshEvent::NewPeer(id) => {
                            if !p.known.insert(id) {
                                return Err(format!("NewPeer {id} twice to peer {peer}"));
                            }
                        }
                        MeshEvent::PeerLeft(id) => {
                            if !p.known.remove(&id) {
                                return Err(format!("PeerLeft {id} of an unknown peer to peer {peer}"));
                            }
                        }
                        MeshEvent::Signal { sender, data } => p.signals.push((sender, data.to_owned())),
                    }
                }
                Action::Close { conn, code, .. } => {
                    if code != 1001 {
                        return Err(format!("unexpected close {code}"));
                    }
                    let peer = self.by_conn[&conn];
                    self.gone(peer);
                }
                Action::Http(_) => return Err("unexpected HTTP answer".into()),
                Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {
                    return Err("unexpected cluster action".into())
                }
            }
        }
        Ok(())
    }

    /// Every open peer knows exactly the other members of its group.
    fn check_knowledge(&self) -> Result<(), String> {
        for (i, p) in self.peers.iter().enumerate().filter(|(_, p)| p.open) {
            let expected: BTreeSet<Uuid> = self.groups[p.group]
                .iter()
                .filter(|m| **m != i)
                .map(|m| self.peers[*m].id.expect("members were assigned ids"))
                .collect();
            if p.known != expected {
                return Err(format!("peer {i} knows {:?}, its group is {expected:?}", p.known));
            }
        }
        Ok(())
    }
}

fn run(ops: &[MeshOp]) -> Result<(), String> {
    let mut config = Config::default();
    config.mesh.enabled = true;
    config.server.ping_timeout = 5;
    config.security.max_connections_per_ip = 1000;
    let mut host = VirtualHost::new(Engine::new(config, [9; 32], Instant::ZERO, 0), Instant::ZERO);
    let mut model = Model::default();
    let ip = "127.0.0.1".parse().unwrap();
    for op in ops {
        let mut ticks = Vec::new();
        host.advance_by(Duration::from_millis(1), &mut |_, actions| ticks.push(actions));
        for actions in ticks {
            model.observe(actions)?;
        }
        let actions = match op {
            MeshOp::Connect { room, next } => {
                let conn = model.connect(*room, *next);
                let target = match next {
                    Some(n) => format!("/room{room}?next={n}"),
                    None => format!("/room{room}"),
                };
                host.step(Event::Opened { conn, peer_ip: ip, target, endpoint: Endpoint::Mesh })
            }
            MeshOp::Signal { from, to, payload } => {
                let (Some(sender), Some(receiver)) = (model.peers.get(*from), model.peers.get(*to)) else {
                    continue;
                };
                if !sender.open {
                    continue;
                }
                let (Some(sender_id), Some(receiver_id)) = (sender.id, receiver.id) else { continue };
                let data = format!(r#"{{ "n" : {payload} }}"#);
                let text = format!(r#"{{"Signal":{{"receiver":"{receiver_id}","data":{data}}}}}"#);
                let delivered = receiver.open && receiver.group == sender.group;
                let conn = sender.conn;
                let before = model.peers[*to].signals.len();
                let actions = host.step(Event::Text { conn, text });
                model.observe(actions)?;
                let got = &model.peers[*to].signals[before..];
                let expected: &[(Uuid, String)] = if delivered { &[(sender_id, data)] } else { &[] };
                if got != expected {
                    return Err(format!("signal {from} -> {to}: got {got:?}, expected {expected:?}"));
                }
                Vec::new()
            }
            MeshOp::KeepAlive(i) => match model.peers.get(*i).filter(|p| p.open) {
                Some(p) => host.step(Event::Text { conn: p.conn, text: r#""KeepAlive""#.into() }),
                None => continue,
            },
            MeshOp::Close(i) | MeshOp::Drop(i) => {
                let Some(p) = model.peers.get(*i).filter(|p| p.open) else { continue };
                let conn = p.conn;
                model.gone(*i);
                let cause = if matches!(op, MeshOp::Close(_)) {
                    CloseCause::ClientClosed
                } else {
                    CloseCause::TransportError
                };
                host.client_gone(conn, cause)
            }
            MeshOp::Advance(ms) => {
                let mut ticks = Vec::new();
                host.advance_by(Duration::from_millis(u64::from(*ms) * 3), &mut |_, actions| {
                    ticks.push(actions)
                });
                for actions in ticks {
                    model.observe(actions)?;
                }
                Vec::new()
            }
        };
        model.observe(actions)?;
        if let Some(broken) = host.rule_breaks().first() {
            return Err(format!("rule broken: {broken:?}"));
        }
        model.check_knowledge()?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn peers_know_exactly_their_group_and_signals_stay_inside(ops in proptest::collection::vec(op(), 1..80)) {
        if let Err(problem) = run(&ops) {
            prop_assert!(false, "{problem}");
        }
    }
}

#[test]
fn three_peers_with_next_two_form_a_pair_and_a_single() {
    use MeshOp::*;
    let ops = [
        Connect { room: 0, next: Some(2) },
        Connect { room: 0, next: Some(2) },
        Connect { room: 0, next: Some(2) },
        Signal { from: 0, to: 1, payload: 1 },
        Signal { from: 0, to: 2, payload: 2 },
        Connect { room: 0, next: Some(2) },
        Signal { from: 3, to: 2, payload: 3 },
        Drop(2),
        Advance(3000),
    ];
    run(&ops).unwrap();
}
