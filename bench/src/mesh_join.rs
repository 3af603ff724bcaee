//! The join phase of the `mesh` scenario: `peers` matchbox peers connect to rooms of
//! `room_size` (peer `index` goes to room `index / room_size`, path
//! `/bench_<tag>_<room>`), at most `in_flight` connecting at once. Each waits for its
//! `IdAssigned`, then keeps reading until every peer of its room has been told of every
//! peer that joined after it (`NewPeer`): the room is then *announced*.
//!
//! Two latencies come out of it: connect start → `IdAssigned` per peer, and per room the
//! last joiner's connect start → the last `NewPeer` of the room received (the moment the
//! room's full mesh could start its WebRTC offers).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use event_listener::Event;
use smol::future::FutureExt as _;
use smol::lock::Semaphore;
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::context::RunContext;
use crate::join::close_code;
use crate::latency::Latency;
use crate::mesh_wire::{self, MeshIncoming};
use crate::meter::{Meter, Usage};
use crate::net::{self, Ws};

/// Messages a peer reads while waiting for `IdAssigned` before giving up.
const MAX_MESSAGES_BEFORE_ID: usize = 16;

/// How to join.
#[derive(Debug, Clone)]
pub struct MeshJoinPlan {
    /// Peers to connect.
    pub peers: usize,
    /// Peers per room.
    pub room_size: usize,
    /// Connection attempts under way at once.
    pub in_flight: usize,
    /// Longest connect → `IdAssigned`, and longest wait after it for the room to be
    /// announced.
    pub timeout: Duration,
    /// WebSocket read buffer per peer.
    pub read_buffer: usize,
}

/// A peer that has its id and whose room was announced (or whose wait timed out).
#[derive(Debug)]
pub struct MeshPeer {
    /// The peer's index (its room is `index / room_size`).
    pub index: usize,
    /// Its peer id, from `IdAssigned`.
    pub id: String,
    /// Its WebSocket.
    pub ws: Ws,
}

/// What the join phase did.
#[derive(Debug)]
pub struct MeshJoinOutcome {
    /// Live peers in index order (the signal phase takes them).
    pub peers: Vec<MeshPeer>,
    /// Peers that got their `IdAssigned`.
    pub joined: usize,
    /// Failed attempts by cause (`TIMEOUT`, `CONNECT_…`, `HTTP_…`, `CLOSED_…`, …).
    pub failures: BTreeMap<String, u64>,
    /// Connect start → `IdAssigned`, per peer.
    pub id_latency: Latency,
    /// Last joiner's connect start → last `NewPeer` of its room received, per room.
    pub announce_latency: Latency,
    /// Rooms with at least two peers that got their ids.
    pub rooms_expected: usize,
    /// Of those, rooms where every peer heard of every later peer, exactly once.
    pub rooms_announced: usize,
    /// `NewPeer` messages received.
    pub new_peers: u64,
    /// Unexpected things peers saw after their `IdAssigned` (`PEER_LEFT`, `EOF`,
    /// `ROOM_NOT_ANNOUNCED`, `FOREIGN_NEW_PEER`, …).
    pub events: BTreeMap<String, u64>,
    /// Wall time from the first attempt to the last room announced (or given up).
    pub elapsed: Duration,
    /// CPU use over the same time.
    pub usage: Usage,
}

impl MeshJoinOutcome {
    /// Failed attempts.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// One room while its peers join.
struct RoomJoin {
    /// Peers meant for it.
    size: usize,
    /// Peers that got their id or failed.
    resolved: Cell<usize>,
    /// (index, id, connect start) of peers with an id, in the order their ids arrived.
    joined: RefCell<Vec<(usize, String, Instant)>>,
    /// (receiver index, announced id, arrival) of every `NewPeer` received.
    announced: RefCell<Vec<(usize, String, Instant)>>,
    done: Cell<bool>,
    wake: Event,
}

impl RoomJoin {
    fn new(size: usize) -> RoomJoin {
        RoomJoin {
            size,
            resolved: Cell::new(0),
            joined: RefCell::new(Vec::new()),
            announced: RefCell::new(Vec::new()),
            done: Cell::new(false),
            wake: Event::new(),
        }
    }

    /// Marks the room announced once every peer is resolved and the `NewPeer` count
    /// reached one per pair of joined peers, and wakes its waiting peers.
    fn check(&self) {
        let j = self.joined.borrow().len();
        if self.resolved.get() >= self.size && self.announced.borrow().len() >= j * j.saturating_sub(1) / 2 {
            self.done.set(true);
            self.wake.notify(usize::MAX);
        }
    }
}

/// Shared counters of the phase.
struct Totals {
    failures: RefCell<BTreeMap<String, u64>>,
    events: RefCell<BTreeMap<String, u64>>,
    id_latency: RefCell<Latency>,
}

impl Totals {
    fn event(&self, what: &str) {
        *self.events.borrow_mut().entry(what.to_owned()).or_default() += 1;
    }
}

/// The path of room `room`: one segment, letters, digits and `_`.
pub fn room_path(ctx: &RunContext, room: usize) -> String {
    format!("/bench_{}_{room}", ctx.tag)
}

/// Runs the join phase.
pub async fn join_all(ctx: &RunContext, plan: &MeshJoinPlan) -> MeshJoinOutcome {
    let room_size = plan.room_size.max(1);
    let rooms: Vec<RoomJoin> = (0..plan.peers.div_ceil(room_size))
        .map(|r| RoomJoin::new(room_size.min(plan.peers - r * room_size)))
        .collect();
    let totals = Totals {
        failures: RefCell::new(BTreeMap::new()),
        events: RefCell::new(BTreeMap::new()),
        id_latency: RefCell::new(Latency::default()),
    };
    let slots = Semaphore::new(plan.in_flight.max(1));
    let meter = Meter::start(ctx);
    let started = Instant::now();
    let last = Cell::new(started);
    let peers = (0..plan.peers).map(|index| {
        let (rooms, totals, slots, last) = (&rooms, &totals, &slots, &last);
        async move {
            let peer = join_one(ctx, plan, index, &rooms[index / room_size], slots, totals).await;
            last.set(Instant::now());
            peer
        }
    });
    let peers: Vec<MeshPeer> = futures_util::future::join_all(peers).await.into_iter().flatten().collect();
    let usage = meter.stop(ctx);

    let mut announce_latency = Latency::default();
    let (mut rooms_expected, mut rooms_announced, mut new_peers) = (0, 0, 0u64);
    for room in &rooms {
        let joined = room.joined.borrow();
        let announced = room.announced.borrow();
        new_peers += announced.len() as u64;
        if joined.len() < 2 {
            continue;
        }
        rooms_expected += 1;
        match check_announcements(&joined, &announced) {
            Ok(latency) => {
                rooms_announced += 1;
                announce_latency.record(latency.as_micros() as u64);
            }
            Err(what) => totals.event(what),
        }
    }
    MeshJoinOutcome {
        joined: rooms.iter().map(|r| r.joined.borrow().len()).sum(),
        peers,
        failures: totals.failures.into_inner(),
        id_latency: totals.id_latency.into_inner(),
        announce_latency,
        rooms_expected,
        rooms_announced,
        new_peers,
        events: totals.events.into_inner(),
        elapsed: last.get().duration_since(started),
        usage,
    }
}

/// Checks a room's `NewPeer` messages: each peer must have heard of exactly the peers
/// that got their ids after it, once each. Returns the last joiner's connect start →
/// the last `NewPeer` received, or what was wrong.
fn check_announcements(
    joined: &[(usize, String, Instant)],
    announced: &[(usize, String, Instant)],
) -> Result<Duration, &'static str> {
    let ids: BTreeMap<&str, usize> = joined.iter().map(|(index, id, _)| (id.as_str(), *index)).collect();
    let mut heard: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (receiver, id, _) in announced {
        let Some(&about) = ids.get(id.as_str()) else { return Err("FOREIGN_NEW_PEER") };
        if about == *receiver {
            return Err("SELF_NEW_PEER");
        }
        if !heard.entry(*receiver).or_default().insert(about) {
            return Err("DUPLICATE_NEW_PEER");
        }
    }
    // Every pair once: the earlier peer heard of the later, so the k-th peer to join
    // heard of the j - 1 - k after it, and the last one of nobody.
    let pairs = joined.len() * (joined.len() - 1) / 2;
    if announced.len() != pairs {
        return Err("ROOM_NOT_ANNOUNCED");
    }
    let mut silent = joined.iter().filter(|(index, _, _)| !heard.contains_key(index));
    let (Some(last_joiner), None) = (silent.next(), silent.next()) else { return Err("NEW_PEER_MISMATCH") };
    let last_new_peer = announced.iter().map(|(_, _, at)| *at).max().expect("pairs > 0");
    Ok(last_new_peer.saturating_duration_since(last_joiner.2))
}

/// One peer: wait for a slot, connect, read `IdAssigned`, then read `NewPeer`s until its
/// room is announced (at most `plan.timeout` after the id).
async fn join_one(
    ctx: &RunContext,
    plan: &MeshJoinPlan,
    index: usize,
    room: &RoomJoin,
    slots: &Semaphore,
    totals: &Totals,
) -> Option<MeshPeer> {
    let permit = slots.acquire().await;
    let began = Instant::now();
    let path = room_path(ctx, index / plan.room_size.max(1));
    let attempt = connect_for_id(ctx, plan, index, &path).or(async {
        Timer::after(plan.timeout).await;
        Err("TIMEOUT".to_owned())
    });
    let result = attempt.await;
    drop(permit);
    room.resolved.set(room.resolved.get() + 1);
    let (mut ws, id) = match result {
        Ok(joined) => joined,
        Err(cause) => {
            *totals.failures.borrow_mut().entry(cause).or_default() += 1;
            room.check();
            return None;
        }
    };
    totals.id_latency.borrow_mut().record(began.elapsed().as_micros() as u64);
    room.joined.borrow_mut().push((index, id.clone(), began));
    room.check();

    enum Wake {
        Read(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
        Announced,
        TimedOut,
    }
    let deadline = Instant::now() + plan.timeout;
    while !room.done.get() {
        let listener = room.wake.listen();
        if room.done.get() {
            break;
        }
        let wake = async { Wake::Read(ws.next().await) }
            .or(async {
                listener.await;
                Wake::Announced
            })
            .or(async {
                Timer::at(deadline).await;
                Wake::TimedOut
            })
            .await;
        let text = match wake {
            Wake::Announced => break,
            Wake::TimedOut => {
                totals.event("ROOM_NOT_ANNOUNCED_IN_TIME");
                break;
            }
            Wake::Read(Some(Ok(Message::Text(text)))) => text,
            Wake::Read(Some(Ok(Message::Close(frame)))) => {
                totals.event(&close_code(frame.map(|f| u16::from(f.code))));
                return None;
            }
            Wake::Read(Some(Ok(_))) => continue,
            Wake::Read(Some(Err(_))) => {
                totals.event("READ_FAILED");
                return None;
            }
            Wake::Read(None) => {
                totals.event("EOF");
                return None;
            }
        };
        match mesh_wire::classify(&text) {
            MeshIncoming::NewPeer(about) => {
                room.announced.borrow_mut().push((index, about.to_owned(), Instant::now()));
                room.check();
            }
            MeshIncoming::PeerLeft(_) => totals.event("PEER_LEFT"),
            MeshIncoming::IdAssigned(_) => totals.event("SECOND_ID_ASSIGNED"),
            MeshIncoming::Signal { .. } => totals.event("SIGNAL_WHILE_JOINING"),
            MeshIncoming::Other => totals.event("UNEXPECTED"),
        }
    }
    Some(MeshPeer { index, id, ws })
}

/// Connect, upgrade on `path`, and read until `IdAssigned` (which must come first).
async fn connect_for_id(
    ctx: &RunContext,
    plan: &MeshJoinPlan,
    index: usize,
    path: &str,
) -> Result<(Ws, String), String> {
    let mut ws =
        net::open_path(ctx.sources.addr(index), ctx.server_for(index), plan.read_buffer, path).await?;
    for _ in 0..MAX_MESSAGES_BEFORE_ID {
        match ws.next().await {
            None => return Err("EOF".to_owned()),
            Some(Err(_)) => return Err("READ_FAILED".to_owned()),
            Some(Ok(Message::Text(text))) => {
                return match mesh_wire::classify(&text) {
                    MeshIncoming::IdAssigned(id) => {
                        let id = id.to_owned();
                        Ok((ws, id))
                    }
                    _ => Err("NOT_ID_ASSIGNED_FIRST".to_owned()),
                };
            }
            Some(Ok(Message::Close(frame))) => return Err(close_code(frame.map(|f| u16::from(f.code)))),
            Some(Ok(_)) => {}
        }
    }
    Err("NO_ID_ASSIGNED".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_of_a_room_of_three() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let joined = vec![(0, "a".to_owned(), at(0)), (1, "b".to_owned(), at(1)), (2, "c".to_owned(), at(5))];
        let mut announced =
            vec![(0, "b".to_owned(), at(2)), (0, "c".to_owned(), at(7)), (1, "c".to_owned(), at(9))];
        assert_eq!(check_announcements(&joined, &announced), Ok(Duration::from_millis(4)));
        announced[2].1 = "z".to_owned();
        assert_eq!(check_announcements(&joined, &announced), Err("FOREIGN_NEW_PEER"));
        announced[2].1 = "b".to_owned();
        assert_eq!(check_announcements(&joined, &announced), Err("SELF_NEW_PEER"));
        announced[2] = (0, "c".to_owned(), at(9));
        assert_eq!(check_announcements(&joined, &announced), Err("DUPLICATE_NEW_PEER"));
        announced.pop();
        assert_eq!(check_announcements(&joined, &announced), Err("ROOM_NOT_ANNOUNCED"));
    }
}
