//! Per-IP state: connection counts and the room-operation rate limit (BEHAVIOUR §1,
//! §14; DECISIONS D18). Connections are admitted in `connection.rs`.

use core::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::timers::Timer;
use super::Engine;
use crate::Instant;

/// What the engine knows about one client IP.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct IpState {
    /// Live connections from this IP.
    pub connections: usize,
    /// Start of the current rate window, if one is open.
    pub window_start: Option<Instant>,
    /// Room creations in the window.
    pub creations: u32,
    /// Join attempts in the window (creations count too).
    pub joins: u32,
    /// When the purge timer is set, if it is.
    pub purge_at: Option<Instant>,
}

/// The kind of room operation, for rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RoomOperation {
    /// A `JoinRoom` that creates a room (without a code, or with a code no room has).
    Create,
    /// A `JoinRoom` into an existing room, or a `JoinAsSpectator`.
    Join,
}

impl Engine {
    /// Releases a connection's IP slot; forgets the IP once it has no connections and no
    /// open rate window.
    pub(super) fn release_ip(&mut self, ip: IpAddr) {
        let window = Duration::from_secs(self.config.rate_limit.time_window);
        let Some(state) = self.sources.ips.get_mut(&ip) else { return };
        state.connections = state.connections.saturating_sub(1);
        if state.connections > 0 {
            return;
        }
        match state.window_start {
            Some(start) if start + window > self.clock.now => {
                let at = start + window;
                state.purge_at = Some(at);
                self.timers.schedule(at, Timer::IpWindow(ip));
            }
            _ => {
                self.sources.ips.remove(&ip);
            }
        }
    }

    pub(super) fn on_ip_window_end(&mut self, ip: IpAddr) {
        if let Some(state) = self.sources.ips.get_mut(&ip) {
            state.purge_at = None;
            if state.connections == 0 {
                self.sources.ips.remove(&ip);
            }
        }
    }

    /// Counts one room operation against the IP's window; on refusal returns the reason
    /// text with the whole seconds left in the window.
    pub(super) fn check_rate_limit(&mut self, ip: IpAddr, operation: RoomOperation) -> Result<(), String> {
        let rl = &self.config.rate_limit;
        let window = Duration::from_secs(rl.time_window);
        let (max_creations, max_joins) = (rl.max_room_creations, rl.max_join_attempts);
        let now = self.clock.now;
        let state = self.sources.ips.entry(ip).or_default();
        match state.window_start {
            Some(start) if now.saturating_duration_since(start) < window => {}
            Some(_) => {
                self.counters.rate_limit_resets_total += 1;
                state.window_start = Some(now);
                state.creations = 0;
                state.joins = 0;
            }
            None => {
                state.window_start = Some(now);
                state.creations = 0;
                state.joins = 0;
            }
        }
        let start = state.window_start.unwrap_or(now);
        let seconds_left = (start + window).saturating_duration_since(now).as_secs();
        match operation {
            RoomOperation::Create if state.creations >= max_creations => {
                self.counters.rate_limit_rejections_total += 1;
                Err(format!("Room creation rate limit exceeded. Try again in {seconds_left} seconds."))
            }
            RoomOperation::Join if state.joins >= max_joins => {
                self.counters.rate_limit_rejections_total += 1;
                Err(format!("Join attempt rate limit exceeded. Try again in {seconds_left} seconds."))
            }
            RoomOperation::Create => {
                state.creations += 1;
                state.joins += 1;
                Ok(())
            }
            RoomOperation::Join => {
                state.joins += 1;
                Ok(())
            }
        }
    }
}
