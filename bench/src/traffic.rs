//! Game-data traffic between joined clients, for `relay` (each sender as fast as its
//! in-flight window allows) and `fixed-rate` (each sender at a fixed rate).
//!
//! Every receiver checks each sender's sequence numbers (loss, duplicates, reordering)
//! and records send→receive latency from the probe's timestamp. The run has three
//! phases: warm-up (traffic, not counted), measurement (rates, CPU and latency), drain
//! (no new messages; wait until every message sent has reached every room-mate, or the
//! drain time is over). Everything runs as one task on the calling thread.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use event_listener::Event;
use futures_util::SinkExt as _;
use smol::Timer;

use crate::clock;
use crate::context::RunContext;
use crate::join::Member;
use crate::latency::Percentiles;
use crate::meter::Usage;
use crate::phase::{self, Totals};
use crate::seq::{Anomalies, Arrival, SeqTracker};
use crate::wire::{self, Incoming, Probe};

type Sink = WebSocketSender<crate::net::ClientStream>;
type Source = WebSocketReceiver<crate::net::ClientStream>;

/// Messages a receiver handles before letting other clients run.
/// Senders with anomalies listed in a report.
pub const MAX_LISTED_SENDERS: usize = 20;

/// How senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Flat out, at most this many messages not yet received by every room-mate.
    Window(u64),
    /// This many messages per second per sender, evenly spaced, each sender starting at
    /// its own point of the period (see [`Stagger`]).
    Rate(f64, Stagger),
}

/// Where in the period each fixed-rate sender starts. The senders' start points always
/// cover the period evenly; what differs is who sits next to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stagger {
    /// Room-mates far apart in the period, as independent players' ticks are: a
    /// recipient's messages rarely meet in one server wake-up.
    Scattered,
    /// Senders in order, room by room: room-mates send within a few slots of each
    /// other, so the server often finds a recipient's messages together (the layout of
    /// the figures measured before `--stagger` existed).
    ByRoom,
}

impl Stagger {
    /// The name `--stagger` takes and the JSON summary reports.
    pub fn name(self) -> &'static str {
        match self {
            Stagger::Scattered => "scattered",
            Stagger::ByRoom => "by-room",
        }
    }

    /// The stagger called `name`, if any.
    pub fn from_name(name: &str) -> Option<Stagger> {
        [Stagger::Scattered, Stagger::ByRoom].into_iter().find(|s| s.name() == name)
    }

    /// Sender `i`'s slot among `n` equal slots of the period: a permutation of `0..n`.
    /// Scattered steps by a stride near n × 0.618 that shares no factor with `n`, so
    /// consecutive senders land 0.38–0.62 of a period apart, and with 100 senders or more
    /// any two of one room of 4 at least 0.14 apart (multiples of the golden ratio stay
    /// well spread).
    pub fn slot(self, i: usize, n: usize) -> usize {
        let n = n.max(1);
        match self {
            Stagger::ByRoom => i % n,
            Stagger::Scattered => {
                let mut stride = ((n as f64 * 0.618) as usize).max(1);
                while gcd(stride, n) != 1 {
                    stride += 1;
                }
                ((i % n) * stride) % n
            }
        }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The traffic phase.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// Pacing.
    pub pace: Pace,
    /// Traffic before measuring.
    pub warmup: Duration,
    /// Measured traffic.
    pub duration: Duration,
    /// Longest wait for in-flight messages after sending stops.
    pub drain: Duration,
    /// Extra payload bytes per message.
    pub pad: usize,
}

/// What one sender's messages suffered, summed over its room-mates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderAnomalies {
    /// The sender's client index.
    pub sender: usize,
    /// Its anomalies.
    pub anomalies: Anomalies,
}

/// The outcome of a traffic phase.
#[derive(Debug, Clone)]
pub struct TrafficReport {
    /// Rooms with at least two members.
    pub rooms: usize,
    /// Clients sending (and receiving).
    pub clients: usize,
    /// Length of the measurement phase in seconds (as it happened).
    pub measured_secs: f64,
    /// Messages sent during measurement.
    pub messages: u64,
    /// Game-data deliveries received during measurement.
    pub deliveries: u64,
    /// CPU use during measurement.
    pub usage: Usage,
    /// Messages sent in all phases.
    pub messages_total: u64,
    /// Deliveries received in all phases.
    pub deliveries_total: u64,
    /// Deliveries owed in all phases (each message × its room-mates).
    pub deliveries_expected: u64,
    /// Send → receive latency of messages sent during measurement.
    pub latency: Percentiles,
    /// Totals over every (receiver, sender) pair.
    pub anomalies: Anomalies,
    /// Senders with anomalies (at most [`MAX_LISTED_SENDERS`], worst first).
    pub anomalous_senders: Vec<SenderAnomalies>,
    /// How many senders had anomalies.
    pub anomalous_sender_count: usize,
    /// Unexpected things receivers saw (`CLOSED_1008`, `ERROR_…`, `EOF`, …).
    pub events: BTreeMap<String, u64>,
    /// Whether every message reached every room-mate before the drain ended.
    pub drained: bool,
}

struct Room {
    /// Client index of each member, by position.
    members: Vec<usize>,
    /// Messages sent, by sender position.
    sent: Vec<Cell<u64>>,
    /// Distinct messages received, `[receiver][sender]` positions.
    received: Vec<Vec<Cell<u64>>>,
    trackers: RefCell<Vec<Vec<SeqTracker>>>,
    /// Rung when a sender's window may have opened, by sender position.
    windows: Vec<Event>,
}

impl Room {
    fn new(members: Vec<usize>) -> Room {
        let k = members.len();
        Room {
            sent: (0..k).map(|_| Cell::new(0)).collect(),
            received: (0..k).map(|_| (0..k).map(|_| Cell::new(0)).collect()).collect(),
            trackers: RefCell::new((0..k).map(|_| (0..k).map(|_| SeqTracker::default()).collect()).collect()),
            windows: (0..k).map(|_| Event::new()).collect(),
            members,
        }
    }

    /// Messages of `sender` some room-mate has not received yet.
    fn in_flight(&self, sender: usize) -> u64 {
        let slowest = (0..self.members.len())
            .filter(|&r| r != sender)
            .map(|r| self.received[r][sender].get())
            .min()
            .unwrap_or(u64::MAX);
        self.sent[sender].get().saturating_sub(slowest)
    }

    fn owed(&self) -> u64 {
        let mates = self.members.len() as u64 - 1;
        self.sent.iter().map(|s| s.get() * mates).sum()
    }

    fn received_distinct(&self) -> u64 {
        self.received.iter().flatten().map(Cell::get).sum()
    }
}

/// Where each client index sits: (room, position).
type Seats = Vec<Option<(usize, usize)>>;

/// Runs traffic between `members` (room = index / room_size) and reports.
pub async fn run(
    ctx: &RunContext,
    members: Vec<Member>,
    room_size: usize,
    plan: &TrafficPlan,
) -> TrafficReport {
    let mut by_room: BTreeMap<usize, Vec<Member>> = BTreeMap::new();
    for m in members {
        by_room.entry(m.index / room_size).or_default().push(m);
    }
    // A room left with one member has nobody to talk to.
    by_room.retain(|_, m| m.len() >= 2);
    let max_index = by_room.values().flatten().map(|m| m.index + 1).max().unwrap_or(0);
    let mut seats: Seats = vec![None; max_index];
    let mut rooms = Vec::new();
    let mut sockets = Vec::new();
    for (r, room_members) in by_room.into_values().enumerate() {
        let mut indexes = Vec::new();
        for (pos, m) in room_members.into_iter().enumerate() {
            seats[m.index] = Some((r, pos));
            indexes.push(m.index);
            let (sink, source) = m.ws.split();
            sockets.push((r, pos, sink, source));
        }
        rooms.push(Room::new(indexes));
    }
    let clients = sockets.len();

    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let measure_to = measure_from + plan.duration;
    let totals = Totals::new(measure_from, measure_to);

    let mut sender_futures = Vec::with_capacity(clients);
    let mut receiver_futures = Vec::with_capacity(clients);
    for (i, (r, pos, sink, source)) in sockets.into_iter().enumerate() {
        let room = &rooms[r];
        let totals = &totals;
        let seats = &seats;
        receiver_futures.push(receive(room, pos, source, totals, seats));
        let first = start + plan_offset(plan.pace, i, clients);
        sender_futures.push(send(room, pos, sink, totals, plan, first, measure_to));
    }
    let window = phase::measure(
        ctx,
        &totals,
        measure_from,
        measure_to,
        plan.drain,
        sender_futures,
        receiver_futures,
        || {
            for room in &rooms {
                room.windows.iter().for_each(|w| {
                    w.notify(usize::MAX);
                });
            }
        },
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
            |s, _| room.sent[s].get(),
            &mut anomalies,
            &mut per_sender,
        );
    }
    let expected = rooms.iter().map(Room::owed).sum();
    phase::report(rooms.len(), clients, window, &totals, expected, anomalies, per_sender)
}

/// When sender `i` of `n` sends first: fixed-rate senders are spread over one period
/// so the load is even; window senders all start at once.
fn plan_offset(pace: Pace, i: usize, n: usize) -> Duration {
    match pace {
        Pace::Window(_) => Duration::ZERO,
        Pace::Rate(hz, stagger) => Duration::from_secs_f64(stagger.slot(i, n) as f64 / n.max(1) as f64 / hz),
    }
}

async fn send(
    room: &Room,
    pos: usize,
    mut sink: Sink,
    totals: &Totals,
    plan: &TrafficPlan,
    first: Instant,
    until: Instant,
) {
    let me = u32::try_from(room.members[pos]).expect("client indexes fit u32");
    let mut text = String::with_capacity(96 + plan.pad);
    let write = |sink_text: &mut String| {
        let seq = room.sent[pos].get();
        wire::game_data(sink_text, Probe { sender: me, seq, sent_us: clock::now_us() }, plan.pad);
        room.sent[pos].set(seq + 1);
        totals.sent.set(totals.sent.get() + 1);
        Message::text(sink_text.as_str())
    };
    match plan.pace {
        Pace::Window(window) => loop {
            if totals.stop.get() || Instant::now() >= until {
                return;
            }
            let in_flight = room.in_flight(pos);
            if in_flight >= window {
                let listener = room.windows[pos].listen();
                if room.in_flight(pos) >= window && !totals.stop.get() {
                    listener.await;
                }
                continue;
            }
            for _ in in_flight..window {
                if sink.feed(write(&mut text)).await.is_err() {
                    totals.event("SEND_FAILED");
                    return;
                }
            }
            if sink.flush().await.is_err() {
                totals.event("SEND_FAILED");
                return;
            }
        },
        Pace::Rate(hz, _) => {
            let period = Duration::from_secs_f64(1.0 / hz);
            let mut timer = Timer::at(first);
            for k in 0u32.. {
                let at = first + period * k;
                if at >= until || totals.stop.get() {
                    return;
                }
                timer.set_at(at);
                (&mut timer).await;
                if sink.send(write(&mut text)).await.is_err() {
                    totals.event("SEND_FAILED");
                    return;
                }
            }
        }
    }
}

async fn receive(room: &Room, pos: usize, source: Source, totals: &Totals, seats: &Seats) {
    let mut reader = phase::TextReader::new(source);
    while let Some(text) = reader.next(totals).await {
        match wire::classify(&text) {
            Incoming::GameData(probe) => on_probe(room, pos, probe, totals, seats),
            Incoming::ForeignGameData => totals.event("FOREIGN_GAME_DATA"),
            Incoming::Error { code } => totals.event(&format!("ERROR_{code}")),
            Incoming::Garbage => totals.event("GARBAGE"),
            _ => {}
        }
    }
}

fn on_probe(room: &Room, pos: usize, probe: Probe, totals: &Totals, seats: &Seats) {
    let now = clock::now_us();
    totals.delivered.set(totals.delivered.get() + 1);
    let Some(&Some((_, sender))) = seats.get(probe.sender as usize) else {
        totals.event("UNKNOWN_SENDER");
        return;
    };
    if room.members.get(sender) != Some(&(probe.sender as usize)) || sender == pos {
        totals.event("WRONG_ROOM_SENDER");
        return;
    }
    let arrival = room.trackers.borrow_mut()[pos][sender].observe(probe.seq);
    if arrival != Arrival::Duplicate {
        let got = &room.received[pos][sender];
        got.set(got.get() + 1);
        room.windows[sender].notify(usize::MAX);
    }
    if (totals.measure_from_us..totals.measure_to_us).contains(&probe.sent_us) {
        totals.latency.borrow_mut().record(now.saturating_sub(probe.sent_us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stagger_gives_each_sender_its_own_slot() {
        for n in [1, 2, 4, 7, 500, 1000, 1024, 4096] {
            for stagger in [Stagger::Scattered, Stagger::ByRoom] {
                let mut slots: Vec<usize> = (0..n).map(|i| stagger.slot(i, n)).collect();
                slots.sort_unstable();
                assert_eq!(slots, (0..n).collect::<Vec<_>>(), "{stagger:?} over {n} senders");
            }
        }
    }

    #[test]
    fn scattered_room_mates_are_far_apart_in_the_period() {
        for n in [500, 1000, 1024, 2000] {
            for i in 0..n - 1 {
                let (a, b) = (Stagger::Scattered.slot(i, n), Stagger::Scattered.slot(i + 1, n));
                let gap = a.abs_diff(b);
                let circular = gap.min(n - gap);
                assert!(circular * 4 >= n, "senders {i} and {} of {n}: slots {a} and {b}", i + 1);
            }
        }
        // Any two players of one room of 4 (senders 4r..4r+3).
        for n in [100, 500, 1000, 2000] {
            for room in 0..n / 4 {
                let slots: Vec<usize> =
                    (4 * room..4 * room + 4).map(|i| Stagger::Scattered.slot(i, n)).collect();
                for (k, a) in slots.iter().enumerate() {
                    for b in &slots[k + 1..] {
                        let gap = a.abs_diff(*b).min(n - a.abs_diff(*b));
                        assert!(gap * 100 >= n * 14, "room {room} of {n} senders: slots {slots:?}");
                    }
                }
            }
        }
        assert_eq!(Stagger::ByRoom.slot(5, 1000), 5);
    }

    #[test]
    fn each_stagger_is_found_by_its_name() {
        for stagger in [Stagger::Scattered, Stagger::ByRoom] {
            assert_eq!(Stagger::from_name(stagger.name()), Some(stagger));
        }
        assert_eq!(Stagger::from_name("by-room"), Some(Stagger::ByRoom));
        assert_eq!(Stagger::from_name("random"), None);
    }
}
