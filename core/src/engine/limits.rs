//! Connection caps (per IP and global) and the per-IP room-operation rate limit
//! (BEHAVIOUR §1, §14; DECISIONS D18).

use core::net::IpAddr;
use std::time::Duration;

use super::connection::{Connection, Role};
use super::timers::Timer;
use super::{close_code, Engine};
use crate::event::{Action, ConnId};
use crate::protocol::{ErrorCode, GameDataEncoding, ServerMessage};
use crate::Instant;

/// What the engine knows about one client IP.
#[derive(Clone, Debug, Default)]
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
    pub(super) fn on_opened(&mut self, conn: ConnId, ip: IpAddr, target: &str, out: &mut Vec<Action>) {
        if self.conns.contains_key(&conn) {
            // A duplicate id is a caller bug; never let it corrupt the existing connection.
            return;
        }
        if self.shutting_down {
            out.push(Action::Close { conn, code: close_code::GOING_AWAY, reason: "server shutting down" });
            return;
        }
        let limit = self.config.security.max_connections_per_ip;
        let current = self.ips.get(&ip).map_or(0, |s| s.connections);
        if current >= limit {
            self.counters.connections_rejected_total += 1;
            let text = format!("Too many connections from your IP ({current}/{limit})");
            self.send(conn, &ServerMessage::error(text, ErrorCode::TooManyConnections), out);
            out.push(Action::Close { conn, code: close_code::POLICY, reason: "too many connections" });
            return;
        }
        let global = self.config.server.max_connections;
        if self.conns.len() >= global {
            self.counters.connections_rejected_total += 1;
            let text = format!("Server is at capacity ({global}/{global} connections)");
            self.send(conn, &ServerMessage::error(text, ErrorCode::TooManyConnections), out);
            out.push(Action::Close { conn, code: close_code::TRY_AGAIN_LATER, reason: "server at capacity" });
            return;
        }

        let state = self.ips.entry(ip).or_default();
        state.connections += 1;
        if let Some(at) = state.purge_at.take() {
            self.timers.cancel(at, Timer::IpWindow(ip));
        }
        let auth_required = self.config.security.require_websocket_auth;
        let auth_deadline =
            auth_required.then(|| self.now + Duration::from_secs(self.config.websocket.auth_timeout_secs));
        let liveness_at = self.now + Duration::from_secs(self.config.server.ping_timeout);
        let player_id = self.rng.uuid_v4();
        self.conns.insert(
            conn,
            Connection {
                player_id,
                ip,
                wants_token: wants_reconnection_token(target),
                authenticated: !auth_required,
                authenticate_answered: false,
                app: None,
                format: GameDataEncoding::Json,
                auth_deadline,
                last_inbound: self.now,
                liveness_at,
                role: Role::Idle,
            },
        );
        if let Some(at) = auth_deadline {
            self.timers.schedule(at, Timer::AuthDeadline(conn));
        }
        self.timers.schedule(liveness_at, Timer::Liveness(conn));
        self.counters.connections_total += 1;
    }

    /// Releases a connection's IP slot; forgets the IP once it has no connections and no
    /// open rate window.
    pub(super) fn release_ip(&mut self, ip: IpAddr) {
        let window = Duration::from_secs(self.config.rate_limit.time_window);
        let Some(state) = self.ips.get_mut(&ip) else { return };
        state.connections = state.connections.saturating_sub(1);
        if state.connections > 0 {
            return;
        }
        match state.window_start {
            Some(start) if start + window > self.now => {
                let at = start + window;
                state.purge_at = Some(at);
                self.timers.schedule(at, Timer::IpWindow(ip));
            }
            _ => {
                self.ips.remove(&ip);
            }
        }
    }

    pub(super) fn on_ip_window_end(&mut self, ip: IpAddr) {
        if let Some(state) = self.ips.get_mut(&ip) {
            state.purge_at = None;
            if state.connections == 0 {
                self.ips.remove(&ip);
            }
        }
    }

    /// Counts one room operation against the IP's window; on refusal returns the reason
    /// text with the whole seconds left in the window.
    pub(super) fn check_rate_limit(&mut self, ip: IpAddr, operation: RoomOperation) -> Result<(), String> {
        let rl = &self.config.rate_limit;
        let window = Duration::from_secs(rl.time_window);
        let (max_creations, max_joins) = (rl.max_room_creations, rl.max_join_attempts);
        let now = self.now;
        let state = self.ips.entry(ip).or_default();
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

/// Whether the upgrade target opts in to reconnection tokens (DECISIONS D15).
fn wants_reconnection_token(target: &str) -> bool {
    let Some((_, query)) = target.split_once('?') else { return false };
    query.split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key == "reconnection_token" && (value.eq_ignore_ascii_case("true") || value == "1")
    })
}

#[cfg(test)]
mod tests {
    use super::wants_reconnection_token;

    #[test]
    fn opt_in_query() {
        assert!(wants_reconnection_token("/v2/ws?reconnection_token=true"));
        assert!(wants_reconnection_token("/v2/ws?a=b&reconnection_token=1"));
        assert!(!wants_reconnection_token("/v2/ws"));
        assert!(!wants_reconnection_token("/v2/ws?reconnection_token=false"));
        assert!(!wants_reconnection_token("/v2/ws?reconnection_tokens=true"));
    }
}
