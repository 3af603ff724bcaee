//! The signal phase of the `mesh` scenario: every peer sends `Signal`s at a fixed rate,
//! round-robin to the other peers of its room, through warm-up, measurement and drain
//! (no new signals; wait until every signal sent has arrived, or the drain time is
//! over). Each signal's `data` is a probe with a sequence number per (sender, receiver)
//! pair, so every receiver checks that it gets each sender's signals exactly once and
//! in order. Everything runs as one task on the calling thread.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use smol::Timer;

use crate::clock;
use crate::context::RunContext;
use crate::mesh_join::MeshPeer;
use crate::mesh_wire::{self, MeshIncoming};
use crate::phase::{self, Totals};
use crate::seq::{Anomalies, Arrival, SeqTracker};
use crate::traffic::TrafficReport;
use crate::wire::Probe;

type Sink = WebSocketSender<crate::net::ClientStream>;
type Source = WebSocketReceiver<crate::net::ClientStream>;

/// The signal phase.
#[derive(Debug, Clone)]
pub struct SignalPlan {
    /// Signals per second per peer.
    pub hz: f64,
    /// Signals before measuring.
    pub warmup: Duration,
    /// Measured signals.
    pub duration: Duration,
    /// Longest wait for signals in flight after sending stops.
    pub drain: Duration,
}

/// One room's peers and what passed between them.
struct Room {
    /// Peer index of each member, by position.
    members: Vec<usize>,
    /// Peer id of each member, by position.
    ids: Vec<String>,
    /// Signals sent, `[sender][receiver]` positions.
    sent: Vec<Vec<Cell<u64>>>,
    /// Distinct signals received, `[receiver][sender]` positions.
    received: Vec<Vec<Cell<u64>>>,
    /// Sequence checks, `[receiver][sender]` positions.
    trackers: RefCell<Vec<Vec<SeqTracker>>>,
}

impl Room {
    fn new(members: Vec<usize>, ids: Vec<String>) -> Room {
        let k = members.len();
        let square = || (0..k).map(|_| (0..k).map(|_| Cell::new(0)).collect()).collect();
        Room {
            sent: square(),
            received: square(),
            trackers: RefCell::new((0..k).map(|_| (0..k).map(|_| SeqTracker::default()).collect()).collect()),
            members,
            ids,
        }
    }

    fn owed(&self) -> u64 {
        self.sent.iter().flatten().map(Cell::get).sum()
    }

    fn received_distinct(&self) -> u64 {
        self.received.iter().flatten().map(Cell::get).sum()
    }
}

/// Where each peer id sits: (room, position).
type Seats = HashMap<String, (usize, usize)>;

/// Runs the signal phase between `peers` (room = index / room_size) and reports it as a
/// traffic phase: a message is a signal sent, a delivery a signal received.
pub async fn run(
    ctx: &RunContext,
    peers: Vec<MeshPeer>,
    room_size: usize,
    plan: &SignalPlan,
) -> TrafficReport {
    let mut by_room: BTreeMap<usize, Vec<MeshPeer>> = BTreeMap::new();
    for p in peers {
        by_room.entry(p.index / room_size.max(1)).or_default().push(p);
    }
    // A room left with one peer has nobody to signal.
    by_room.retain(|_, p| p.len() >= 2);
    let mut seats = Seats::new();
    let mut rooms = Vec::new();
    let mut sockets = Vec::new();
    for (r, room_peers) in by_room.into_values().enumerate() {
        let (mut indexes, mut ids) = (Vec::new(), Vec::new());
        for (pos, p) in room_peers.into_iter().enumerate() {
            seats.insert(p.id.clone(), (r, pos));
            indexes.push(p.index);
            ids.push(p.id);
            let (sink, source) = p.ws.split();
            sockets.push((r, pos, sink, source));
        }
        rooms.push(Room::new(indexes, ids));
    }
    let peer_count = sockets.len();

    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let measure_to = measure_from + plan.duration;
    let totals = Totals::new(measure_from, measure_to);
    let period = Duration::from_secs_f64(1.0 / plan.hz);

    let mut sender_futures = Vec::with_capacity(peer_count);
    let mut receiver_futures = Vec::with_capacity(peer_count);
    for (i, (r, pos, sink, source)) in sockets.into_iter().enumerate() {
        let room = &rooms[r];
        receiver_futures.push(receive(room, r, pos, source, &totals, &seats));
        // Senders are spread evenly over one period so the load is even.
        let first = start + period.mul_f64(i as f64 / peer_count.max(1) as f64);
        sender_futures.push(send(room, pos, sink, &totals, period, first, measure_to));
    }
    let window = phase::measure(
        ctx,
        &totals,
        measure_from,
        measure_to,
        plan.drain,
        sender_futures,
        receiver_futures,
        || {},
        || (rooms.iter().map(Room::owed).sum(), rooms.iter().map(Room::received_distinct).sum()),
    )
    .await;

    let mut anomalies = Anomalies::default();
    let mut per_sender = Vec::new();
    for room in &rooms {
        let trackers = room.trackers.borrow();
        phase::tally_room(
            &room.members,
            &trackers,
            |s, r| room.sent[s][r].get(),
            &mut anomalies,
            &mut per_sender,
        );
    }
    let expected = rooms.iter().map(Room::owed).sum();
    phase::report(rooms.len(), peer_count, window, &totals, expected, anomalies, per_sender)
}

/// Sends one signal every `period` from `first` until `until`, to the room-mates in
/// turn.
async fn send(
    room: &Room,
    pos: usize,
    mut sink: Sink,
    totals: &Totals,
    period: Duration,
    first: Instant,
    until: Instant,
) {
    let me = u32::try_from(room.members[pos]).expect("peer indexes fit u32");
    let mates: Vec<usize> = (0..room.members.len()).filter(|&m| m != pos).collect();
    let mut text = String::with_capacity(128);
    let mut timer = Timer::at(first);
    for k in 0u32.. {
        let at = first + period * k;
        if at >= until || totals.stop.get() {
            return;
        }
        timer.set_at(at);
        (&mut timer).await;
        let to = mates[k as usize % mates.len()];
        let seq = room.sent[pos][to].get();
        mesh_wire::signal(&mut text, &room.ids[to], Probe { sender: me, seq, sent_us: clock::now_us() });
        room.sent[pos][to].set(seq + 1);
        totals.sent.set(totals.sent.get() + 1);
        if sink.send(Message::text(text.as_str())).await.is_err() {
            totals.event("SEND_FAILED");
            return;
        }
    }
}

/// Reads what peer `pos` of room `r` receives until the socket ends.
async fn receive(room: &Room, r: usize, pos: usize, source: Source, totals: &Totals, seats: &Seats) {
    let mut reader = phase::TextReader::new(source);
    while let Some(text) = reader.next(totals).await {
        match mesh_wire::classify(&text) {
            MeshIncoming::Signal { sender, probe: Some(probe) } => {
                on_signal(room, r, pos, sender, probe, totals, seats);
            }
            MeshIncoming::Signal { probe: None, .. } => totals.event("FOREIGN_SIGNAL"),
            MeshIncoming::NewPeer(_) => totals.event("NEW_PEER_WHILE_SIGNALLING"),
            MeshIncoming::PeerLeft(_) => totals.event("PEER_LEFT"),
            MeshIncoming::IdAssigned(_) => totals.event("SECOND_ID_ASSIGNED"),
            MeshIncoming::Other => totals.event("UNEXPECTED"),
        }
    }
}

fn on_signal(room: &Room, r: usize, pos: usize, sender: &str, probe: Probe, totals: &Totals, seats: &Seats) {
    let now = clock::now_us();
    totals.delivered.set(totals.delivered.get() + 1);
    let Some(&(sender_room, sender_pos)) = seats.get(sender) else {
        totals.event("UNKNOWN_SENDER");
        return;
    };
    // The envelope's sender (set by the server) must be the peer that wrote the probe,
    // a room-mate and not the receiver itself.
    if sender_room != r || sender_pos == pos || room.members[sender_pos] != probe.sender as usize {
        totals.event("WRONG_SENDER");
        return;
    }
    let arrival = room.trackers.borrow_mut()[pos][sender_pos].observe(probe.seq);
    if arrival != Arrival::Duplicate {
        let got = &room.received[pos][sender_pos];
        got.set(got.get() + 1);
    }
    if (totals.measure_from_us..totals.measure_to_us).contains(&probe.sent_us) {
        totals.latency.borrow_mut().record(now.saturating_sub(probe.sent_us));
    }
}
