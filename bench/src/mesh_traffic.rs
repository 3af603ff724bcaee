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
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::clock;
use crate::context::RunContext;
use crate::join::close_code;
use crate::latency::Latency;
use crate::mesh_join::MeshPeer;
use crate::mesh_wire::{self, MeshIncoming};
use crate::meter::Meter;
use crate::seq::{Anomalies, Arrival, SeqTracker};
use crate::traffic::{SenderAnomalies, TrafficReport, MAX_LISTED_SENDERS};
use crate::wire::Probe;

type Sink = WebSocketSender<crate::net::ClientStream>;
type Source = WebSocketReceiver<crate::net::ClientStream>;

/// Messages a receiver handles before letting other peers run.
const RECEIVE_BURST: usize = 64;
/// How often the drain phase looks whether everything arrived.
const DRAIN_POLL: Duration = Duration::from_millis(2);

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

struct Totals {
    sent: Cell<u64>,
    delivered: Cell<u64>,
    latency: RefCell<Latency>,
    /// Signals sent in [from, to) µs are measured for latency.
    measure_from_us: u64,
    measure_to_us: u64,
    events: RefCell<BTreeMap<String, u64>>,
    stop: Cell<bool>,
}

impl Totals {
    fn event(&self, what: &str) {
        *self.events.borrow_mut().entry(what.to_owned()).or_default() += 1;
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
    let totals = Totals {
        sent: Cell::new(0),
        delivered: Cell::new(0),
        latency: RefCell::new(Latency::default()),
        measure_from_us: clock::to_us(measure_from),
        measure_to_us: clock::to_us(measure_to),
        events: RefCell::new(BTreeMap::new()),
        stop: Cell::new(false),
    };
    let senders_done = Cell::new(false);
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
    let senders = async {
        futures_util::future::join_all(sender_futures).await;
        senders_done.set(true);
        smol::future::pending().await
    };
    let receivers = async {
        futures_util::future::join_all(receiver_futures).await;
        smol::future::pending().await
    };
    let coordinator = async {
        Timer::at(measure_from).await;
        let meter = Meter::start(ctx);
        let at_from = (totals.sent.get(), totals.delivered.get());
        Timer::at(measure_to).await;
        let usage = meter.stop(ctx);
        let at_to = (totals.sent.get(), totals.delivered.get());
        totals.stop.set(true);
        let deadline = Instant::now() + plan.drain;
        let drained = loop {
            let owed: u64 = rooms.iter().map(Room::owed).sum();
            let got: u64 = rooms.iter().map(Room::received_distinct).sum();
            if senders_done.get() && got >= owed {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            Timer::after(DRAIN_POLL).await;
        };
        (at_from, at_to, usage, drained)
    };
    // Sender and receiver futures never finish first: the coordinator decides the end,
    // and dropping the rest closes every socket.
    let (at_from, at_to, usage, drained) = coordinator.or(senders).or(receivers).await;

    let mut anomalies = Anomalies::default();
    let mut per_sender = Vec::new();
    for room in &rooms {
        let trackers = room.trackers.borrow();
        for (s, &index) in room.members.iter().enumerate() {
            let mut mine = Anomalies::default();
            for (r, row) in trackers.iter().enumerate() {
                if r != s {
                    mine.add(row[s].finish(room.sent[s][r].get()));
                }
            }
            anomalies.add(mine);
            if !mine.is_clean() {
                per_sender.push(SenderAnomalies { sender: index, anomalies: mine });
            }
        }
    }
    per_sender.sort_by_key(|s| {
        std::cmp::Reverse(s.anomalies.lost + s.anomalies.duplicated + s.anomalies.reordered)
    });
    let anomalous_sender_count = per_sender.len();
    per_sender.truncate(MAX_LISTED_SENDERS);
    let latency = totals.latency.borrow().percentiles();
    TrafficReport {
        rooms: rooms.len(),
        clients: peer_count,
        measured_secs: usage.secs,
        messages: at_to.0 - at_from.0,
        deliveries: at_to.1 - at_from.1,
        usage,
        messages_total: totals.sent.get(),
        deliveries_total: totals.delivered.get(),
        deliveries_expected: rooms.iter().map(Room::owed).sum(),
        latency,
        anomalies,
        anomalous_senders: per_sender,
        anomalous_sender_count,
        events: totals.events.take(),
        drained,
    }
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
async fn receive(room: &Room, r: usize, pos: usize, mut source: Source, totals: &Totals, seats: &Seats) {
    let mut burst = 0;
    loop {
        burst += 1;
        if burst == RECEIVE_BURST {
            burst = 0;
            smol::future::yield_now().await;
        }
        let text = match source.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                totals.event(&close_code(frame.map(|f| u16::from(f.code))));
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) => {
                totals.event("READ_FAILED");
                return;
            }
            None => {
                totals.event("EOF");
                return;
            }
        };
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
