//! The state every client of the run shares (one thread: `Cell`s and `RefCell`s): the
//! options, the random source, the budgets, the games in progress, and the counts,
//! rejections, unexpected events, latencies and anomalies the report is made of.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::budget::Budget;
use super::session::Session;
use super::SoakOptions;
use crate::context::RunContext;
use crate::latency::Latency;
use crate::seq::Anomalies;
use crate::traffic::SenderAnomalies;

pub(super) struct Shared<'a> {
    pub(super) ctx: &'a RunContext,
    pub(super) opts: &'a SoakOptions,
    pub(super) players: usize,
    pub(super) started: Instant,
    pub(super) churn_end: Instant,
    pub(super) churn_over: Cell<bool>,
    pub(super) idle_over: Cell<bool>,
    rng: Cell<u64>,
    pub(super) budgets: RefCell<HashMap<Ipv4Addr, Budget>>,
    pub(super) next_room: Cell<usize>,
    pub(super) next_seat: Cell<u32>,
    pub(super) connections_opened: Cell<u64>,
    /// Games in progress, for spectators to pick.
    pub(super) live: RefCell<Vec<Rc<Session>>>,
    /// What happened (joins, drops, reconnects, …).
    pub(super) counts: RefCell<BTreeMap<&'static str, u64>>,
    /// Refusals by the server's limits (not loss).
    pub(super) rejections: RefCell<BTreeMap<String, u64>>,
    /// Anything unexpected (errors, closes, failed reconnects, …).
    pub(super) events: RefCell<BTreeMap<String, u64>>,
    pub(super) latency: RefCell<Latency>,
    pub(super) window_latency: RefCell<Latency>,
    pub(super) anomalies: RefCell<Anomalies>,
    pub(super) anomalous: RefCell<Vec<SenderAnomalies>>,
}

impl<'a> Shared<'a> {
    pub(super) fn new(
        ctx: &'a RunContext,
        opts: &'a SoakOptions,
        players: usize,
        started: Instant,
    ) -> Shared<'a> {
        let seed = u64::from_str_radix(&ctx.tag, 16).unwrap_or(0x9e37_79b9) | 1;
        Shared {
            ctx,
            opts,
            players,
            started,
            churn_end: started + opts.duration,
            churn_over: Cell::new(false),
            idle_over: Cell::new(false),
            rng: Cell::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            budgets: RefCell::new(HashMap::new()),
            next_room: Cell::new(0),
            next_seat: Cell::new(0),
            connections_opened: Cell::new(0),
            live: RefCell::new(Vec::new()),
            counts: RefCell::new(BTreeMap::new()),
            rejections: RefCell::new(BTreeMap::new()),
            events: RefCell::new(BTreeMap::new()),
            latency: RefCell::new(Latency::default()),
            window_latency: RefCell::new(Latency::default()),
            anomalies: RefCell::new(Anomalies::default()),
            anomalous: RefCell::new(Vec::new()),
        }
    }

    /// xorshift64*: reproducible enough, and cheap.
    pub(super) fn random(&self) -> f64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn between(&self, low: Duration, high: Duration) -> Duration {
        low + (high.saturating_sub(low)).mul_f64(self.random())
    }

    pub(super) fn count(&self, what: &'static str) {
        self.add(what, 1);
    }

    fn add(&self, what: &'static str, n: u64) {
        *self.counts.borrow_mut().entry(what).or_default() += n;
    }

    pub(super) fn event(&self, what: String) {
        *self.events.borrow_mut().entry(what).or_default() += 1;
    }

    fn reject(&self, what: String) {
        *self.rejections.borrow_mut().entry(what).or_default() += 1;
    }

    /// A refusal by a server limit is counted apart; anything else is unexpected.
    pub(super) fn failure(&self, request: &str, code: &str) {
        if code == "RATE_LIMIT_EXCEEDED" || code == "TOO_MANY_CONNECTIONS" {
            self.reject(format!("{request}:{code}"));
        } else {
            self.event(format!("{request}:{code}"));
        }
    }

    pub(super) fn time_left(&self) -> Duration {
        self.churn_end.saturating_duration_since(Instant::now())
    }

    pub(super) fn checked(&self, sender: u32, anomalies: Anomalies) {
        self.anomalies.borrow_mut().add(anomalies);
        if !anomalies.is_clean() {
            let mut list = self.anomalous.borrow_mut();
            match list.iter_mut().find(|s| s.sender == sender as usize) {
                Some(entry) => entry.anomalies.add(anomalies),
                None => list.push(SenderAnomalies { sender: sender as usize, anomalies }),
            }
        }
    }
}
