//! What `relay` and `fixed-rate` share: join every client, then run paced game-data
//! traffic through warm-up, measurement and drain.

use std::time::Duration;

use super::{check_phase, check_range, TRAFFIC_READ_BUFFER};
use crate::context::RunContext;
use crate::error::BenchError;
use crate::join::{join_all, JoinOutcome, JoinPlan};
use crate::traffic::{self, Pace, TrafficPlan, TrafficReport};

/// Largest extra payload per message.
pub const MAX_PAD: usize = 60_000;

/// The phases of a traffic scenario and how they are set up.
#[derive(Debug, Clone)]
pub struct TrafficPhases {
    /// Traffic before measuring.
    pub warmup: Duration,
    /// Measured traffic.
    pub duration: Duration,
    /// Longest wait for in-flight messages at the end.
    pub drain: Duration,
    /// Extra payload bytes per message.
    pub pad: usize,
    /// Join attempts in flight while setting up.
    pub join_in_flight: usize,
    /// Longest one join may take.
    pub join_timeout: Duration,
}

impl TrafficPhases {
    /// Fails naming the first option out of its range.
    pub fn check(&self) -> Result<(), BenchError> {
        check_range("--payload-bytes", self.pad, 0, MAX_PAD)?;
        check_range("--join-in-flight", self.join_in_flight, 1, 100_000)?;
        check_phase("--warmup-secs", self.warmup, false)?;
        check_phase("--secs", self.duration, true)?;
        check_phase("--drain-secs", self.drain, true)?;
        check_phase("--join-timeout-secs", self.join_timeout, true)
    }

    /// Joins `clients` in rooms of `room_size`, then runs the traffic paced by `pace`
    /// with the clients that joined.
    pub fn run(
        &self,
        ctx: &RunContext,
        clients: usize,
        room_size: u8,
        pace: Pace,
    ) -> (JoinOutcome, TrafficReport) {
        let join_plan = JoinPlan {
            clients,
            room_size,
            in_flight: self.join_in_flight,
            timeout: self.join_timeout,
            read_buffer: TRAFFIC_READ_BUFFER,
        };
        let traffic_plan = TrafficPlan {
            pace,
            warmup: self.warmup,
            duration: self.duration,
            drain: self.drain,
            pad: self.pad,
        };
        smol::block_on(async {
            let mut join = join_all(ctx, &join_plan).await;
            let members = std::mem::take(&mut join.members);
            let traffic = traffic::run(ctx, members, usize::from(room_size), &traffic_plan).await;
            (join, traffic)
        })
    }
}
