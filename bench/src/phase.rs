//! What every traffic phase shares (`traffic.rs` for game data, `mesh_traffic.rs` for
//! matchbox signals): the running totals, the measured window and the drain around the
//! senders and receivers, the per-sender anomaly tally, and the report.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use async_tungstenite::WebSocketReceiver;
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::clock;
use crate::context::RunContext;
use crate::join::close_code;
use crate::latency::Latency;
use crate::meter::{Meter, Usage};
use crate::seq::{Anomalies, SeqTracker};
use crate::traffic::{SenderAnomalies, TrafficReport, MAX_LISTED_SENDERS};

/// Messages a receiver handles before letting other clients run.
const RECEIVE_BURST: usize = 64;
/// How often the drain looks whether everything arrived.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Counters every sender and receiver of a phase updates.
pub(crate) struct Totals {
    pub(crate) sent: Cell<u64>,
    pub(crate) delivered: Cell<u64>,
    pub(crate) latency: RefCell<Latency>,
    /// Messages sent in [from, to) µs are measured for latency.
    pub(crate) measure_from_us: u64,
    pub(crate) measure_to_us: u64,
    events: RefCell<BTreeMap<String, u64>>,
    /// Set when the measured window ends: senders stop.
    pub(crate) stop: Cell<bool>,
}

impl Totals {
    /// Totals for a window from `measure_from` to `measure_to`.
    pub(crate) fn new(measure_from: Instant, measure_to: Instant) -> Totals {
        Totals {
            sent: Cell::new(0),
            delivered: Cell::new(0),
            latency: RefCell::new(Latency::default()),
            measure_from_us: clock::to_us(measure_from),
            measure_to_us: clock::to_us(measure_to),
            events: RefCell::new(BTreeMap::new()),
            stop: Cell::new(false),
        }
    }

    /// Counts one unexpected event.
    pub(crate) fn event(&self, what: &str) {
        *self.events.borrow_mut().entry(what.to_owned()).or_default() += 1;
    }
}

/// What the window saw: (sent, delivered) at its start and end, the server's usage over
/// it, and whether everything sent arrived before the drain time was over.
pub(crate) struct Window {
    pub(crate) at_from: (u64, u64),
    pub(crate) at_to: (u64, u64),
    pub(crate) usage: Usage,
    pub(crate) drained: bool,
}

/// Runs `senders` and `receivers` until the window (from `measure_from` to
/// `measure_to`) is over and the drain has ended: after the window `stop` is set,
/// `on_stop` runs (to wake waiting senders), and the drain waits until the senders are
/// done and `progress` (owed, received) shows everything arrived, or `drain` has passed.
/// The remaining futures are then dropped, which closes every socket.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn measure<S: Future<Output = ()>, R: Future<Output = ()>>(
    ctx: &RunContext,
    totals: &Totals,
    measure_from: Instant,
    measure_to: Instant,
    drain: Duration,
    senders: Vec<S>,
    receivers: Vec<R>,
    on_stop: impl Fn(),
    progress: impl Fn() -> (u64, u64),
) -> Window {
    let senders_done = Cell::new(false);
    let senders = async {
        futures_util::future::join_all(senders).await;
        senders_done.set(true);
        smol::future::pending().await
    };
    let receivers = async {
        futures_util::future::join_all(receivers).await;
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
        on_stop();
        let deadline = Instant::now() + drain;
        let drained = loop {
            let (owed, got) = progress();
            if senders_done.get() && got >= owed {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            Timer::after(DRAIN_POLL).await;
        };
        Window { at_from, at_to, usage, drained }
    };
    // Sender and receiver futures never finish first: the coordinator decides the end.
    coordinator.or(senders).or(receivers).await
}

/// Tallies one room's sequence checks (`trackers[receiver][sender]`, by position) into
/// `anomalies`, listing each sender with any in `per_sender`. `members` are the senders'
/// indexes; `sent(sender, receiver)` how many the sender sent that receiver.
pub(crate) fn tally_room(
    members: &[usize],
    trackers: &[Vec<SeqTracker>],
    sent: impl Fn(usize, usize) -> u64,
    anomalies: &mut Anomalies,
    per_sender: &mut Vec<SenderAnomalies>,
) {
    for (s, &index) in members.iter().enumerate() {
        let mut mine = Anomalies::default();
        for (r, row) in trackers.iter().enumerate() {
            if r != s {
                mine.add(row[s].finish(sent(s, r)));
            }
        }
        anomalies.add(mine);
        if !mine.is_clean() {
            per_sender.push(SenderAnomalies { sender: index, anomalies: mine });
        }
    }
}

/// The phase's report.
pub(crate) fn report(
    rooms: usize,
    clients: usize,
    window: Window,
    totals: &Totals,
    deliveries_expected: u64,
    anomalies: Anomalies,
    mut per_sender: Vec<SenderAnomalies>,
) -> TrafficReport {
    per_sender.sort_by_key(|s| {
        std::cmp::Reverse(s.anomalies.lost + s.anomalies.duplicated + s.anomalies.reordered)
    });
    let anomalous_sender_count = per_sender.len();
    per_sender.truncate(MAX_LISTED_SENDERS);
    let Window { at_from, at_to, usage, drained } = window;
    TrafficReport {
        rooms,
        clients,
        measured_secs: usage.secs,
        messages: at_to.0 - at_from.0,
        deliveries: at_to.1 - at_from.1,
        usage,
        messages_total: totals.sent.get(),
        deliveries_total: totals.delivered.get(),
        deliveries_expected,
        latency: totals.latency.borrow().percentiles(),
        anomalies,
        anomalous_senders: per_sender,
        anomalous_sender_count,
        events: totals.events.take(),
        drained,
    }
}

/// A receiver's text messages, one at a time, letting other clients run every
/// [`RECEIVE_BURST`] messages.
pub(crate) struct TextReader {
    source: WebSocketReceiver<crate::net::ClientStream>,
    burst: usize,
}

impl TextReader {
    pub(crate) fn new(source: WebSocketReceiver<crate::net::ClientStream>) -> TextReader {
        TextReader { source, burst: 0 }
    }

    /// The next text message; `None` once the socket ended (counted in `totals` as the
    /// close code, `READ_FAILED` or `EOF`). Other messages are skipped.
    pub(crate) async fn next(&mut self, totals: &Totals) -> Option<Utf8Bytes> {
        loop {
            self.burst += 1;
            if self.burst == RECEIVE_BURST {
                self.burst = 0;
                smol::future::yield_now().await;
            }
            match self.source.next().await {
                Some(Ok(Message::Text(text))) => return Some(text),
                Some(Ok(Message::Close(frame))) => {
                    totals.event(&close_code(frame.map(|f| u16::from(f.code))));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) => {
                    totals.event("READ_FAILED");
                    return None;
                }
                None => {
                    totals.event("EOF");
                    return None;
                }
            }
        }
    }
}
