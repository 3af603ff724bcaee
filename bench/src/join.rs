//! The join phase every scenario starts with: `clients` connections, each connecting
//! from its source address, upgrading to WebSocket and sending `JoinRoom` for room
//! `index / room_size`, with at most `in_flight` attempts under way at once.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::context::RunContext;
use crate::latency::Latency;
use crate::meter::{Meter, Usage};
use crate::net::{self, Ws};
use crate::wire::{self, Incoming};

/// Messages a client reads while waiting for `RoomJoined` before giving up.
const MAX_MESSAGES_BEFORE_JOINED: usize = 64;

/// How to join.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// Connections to open.
    pub clients: usize,
    /// Players per room (`max_players` of each room).
    pub room_size: u8,
    /// Attempts under way at once.
    pub in_flight: usize,
    /// Longest one attempt may take (connect to `RoomJoined`).
    pub timeout: Duration,
    /// WebSocket read buffer per client.
    pub read_buffer: usize,
}

/// A joined client.
#[derive(Debug)]
pub struct Member {
    /// The client's index (its room is `index / room_size`).
    pub index: usize,
    /// Its WebSocket.
    pub ws: Ws,
}

/// What the join phase did.
#[derive(Debug)]
pub struct JoinOutcome {
    /// Joined clients in index order (scenarios take them for their next phase).
    pub members: Vec<Member>,
    /// How many clients joined.
    pub joined: usize,
    /// Failed attempts by cause (an error code, `TIMEOUT`, `CONNECT_…`, `CLOSED_…`).
    pub failures: BTreeMap<String, u64>,
    /// Connect → `RoomJoined`, successful attempts only.
    pub latency: Latency,
    /// Wall time from the first attempt to the last `RoomJoined` (or failure).
    pub elapsed: Duration,
    /// CPU use from the first attempt to the last answer.
    pub usage: Usage,
}

impl JoinOutcome {
    /// Failed attempts.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Runs the join phase.
pub async fn join_all(ctx: &RunContext, plan: &JoinPlan) -> JoinOutcome {
    let next = Cell::new(0usize);
    let joined: RefCell<Vec<Option<Ws>>> = RefCell::new((0..plan.clients).map(|_| None).collect());
    let failures = RefCell::new(BTreeMap::<String, u64>::new());
    let latency = RefCell::new(Latency::default());
    let meter = Meter::start(ctx);
    let started = Instant::now();
    let last = Cell::new(started);
    // `in_flight` workers take the next index until none is left; they run as one
    // task, each woken only by its own socket.
    let worker = || async {
        loop {
            let index = next.get();
            if index >= plan.clients {
                return;
            }
            next.set(index + 1);
            let began = Instant::now();
            let result = join_one(ctx, plan, index).await;
            let now = Instant::now();
            last.set(now);
            match result {
                Ok(ws) => {
                    latency.borrow_mut().record(now.duration_since(began).as_micros() as u64);
                    joined.borrow_mut()[index] = Some(ws);
                }
                Err(cause) => *failures.borrow_mut().entry(cause).or_default() += 1,
            }
        }
    };
    let workers = (0..plan.in_flight.clamp(1, plan.clients.max(1))).map(|_| worker());
    futures_util::future::join_all(workers).await;
    let usage = meter.stop(ctx);
    let elapsed = last.get().duration_since(started);
    let members = joined
        .into_inner()
        .into_iter()
        .enumerate()
        .filter_map(|(index, ws)| ws.map(|ws| Member { index, ws }))
        .collect::<Vec<_>>();
    JoinOutcome {
        joined: members.len(),
        members,
        failures: failures.into_inner(),
        latency: latency.into_inner(),
        elapsed,
        usage,
    }
}

/// One client: connect, upgrade, `JoinRoom`, wait for the answer.
async fn join_one(ctx: &RunContext, plan: &JoinPlan, index: usize) -> Result<Ws, String> {
    let attempt = async {
        let mut ws = net::open(ctx.sources.addr(index), ctx.server_for(index), plan.read_buffer).await?;
        let room = index / usize::from(plan.room_size);
        let join = wire::join_room(
            &ctx.game_name(room),
            &RunContext::room_code(room),
            &format!("p{index}"),
            plan.room_size,
        );
        ws.send(Message::text(join)).await.map_err(|_| "SEND_FAILED".to_owned())?;
        for _ in 0..MAX_MESSAGES_BEFORE_JOINED {
            match ws.next().await {
                None => return Err("EOF".to_owned()),
                Some(Err(_)) => return Err("READ_FAILED".to_owned()),
                Some(Ok(Message::Text(text))) => match wire::classify(&text) {
                    Incoming::RoomJoined { .. } => return Ok(ws),
                    Incoming::JoinFailed { code } | Incoming::Error { code } => return Err(code),
                    _ => {}
                },
                Some(Ok(Message::Close(frame))) => return Err(close_code(frame.map(|f| u16::from(f.code)))),
                Some(Ok(_)) => {}
            }
        }
        Err("NO_ROOM_JOINED".to_owned())
    };
    attempt
        .or(async {
            Timer::after(plan.timeout).await;
            Err("TIMEOUT".to_owned())
        })
        .await
}

/// `CLOSED_1008`, or `CLOSED` without a code.
pub fn close_code(code: Option<u16>) -> String {
    code.map_or_else(|| "CLOSED".to_owned(), |c| format!("CLOSED_{c}"))
}
