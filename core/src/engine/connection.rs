//! Connections: their state, and their admission on `Opened` (the per-IP and global
//! connection caps, BEHAVIOUR §1; DECISIONS D15 for the reconnection opt-in). Mesh peers
//! (DECISIONS D50) pass the same caps, then take their place in `mesh.rs`.

use core::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::mesh::MeshKey;
use super::room::RoomKey;
use super::timers::Timer;
use super::{close_code, Engine};
use crate::event::{Action, ConnId, Endpoint};
use crate::protocol::{ErrorCode, GameDataEncoding, ProtocolVersion, ServerMessage};
use crate::Instant;

/// What a connection is doing in the room world. A connection is a player of one room or
/// a spectator of one room, never both (DECISIONS D14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    /// In no room.
    Idle,
    /// Seated as a player.
    Player(RoomKey),
    /// Watching.
    Spectator(RoomKey),
    /// A matchbox full-mesh peer, from its connection to its end (DECISIONS D50).
    Mesh(MeshKey),
    /// Cluster mode: waiting for the room directory (`cluster.rs`).
    Resolving,
    /// Cluster mode: served by the node that owns its room; this node holds the socket.
    Forwarded,
}

/// A live WebSocket connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Connection {
    /// The player id; assigned at connect, replaced by the resumed id on `Reconnect`.
    pub player_id: Uuid,
    /// The TCP peer address.
    pub ip: IpAddr,
    /// Connected with `?reconnection_token=true` (DECISIONS D15).
    pub wants_token: bool,
    /// Whether messages other than `Authenticate` are allowed.
    pub authenticated: bool,
    /// Whether an `Authenticate` already succeeded (later ones are ignored).
    pub authenticate_answered: bool,
    /// Index into `security.authorized_apps` of the app it authenticated as.
    pub app: Option<usize>,
    /// Negotiated game-data encoding.
    pub format: GameDataEncoding,
    /// The protocol version it speaks: its path's until `Authenticate` settles it.
    pub version: ProtocolVersion,
    /// The version its path asks for when `Authenticate` names none (2, or 3 on
    /// `/v3/ws`), before the server's bounds.
    pub path_asks: u16,
    /// The epoch of its player id's latest seat (0 before the first join): every join
    /// and reconnect starts the next one, so an epoch never repeats for a player id.
    pub epoch: u32,
    /// `DeliveryReport` gaps reported to it (v3), the cumulative count the SDK checks.
    pub unsupported_format_gaps: u64,
    /// Auth deadline, while one is pending.
    pub auth_deadline: Option<Instant>,
    /// Last inbound frame.
    pub last_inbound: Instant,
    /// When the liveness timer entry is set.
    pub liveness_at: Instant,
    /// Room membership.
    pub role: Role,
}

impl Engine {
    pub(super) fn on_opened(
        &mut self,
        conn: ConnId,
        ip: IpAddr,
        target: &str,
        endpoint: Endpoint,
        out: &mut Vec<Action>,
    ) {
        if self.conns.contains_key(&conn) {
            // A duplicate id is a caller bug; never let it corrupt the existing connection.
            return;
        }
        if self.shutting_down {
            out.push(Action::Close { conn, code: close_code::GOING_AWAY, reason: "server shutting down" });
            return;
        }
        let mesh = endpoint == Endpoint::Mesh;
        if mesh && !self.config.mesh.enabled {
            // Only a host that ignores `mesh.enabled` gets here; refuse rather than serve.
            out.push(Action::Close { conn, code: close_code::POLICY, reason: "mesh mode disabled" });
            return;
        }
        // A mesh peer gets the close code and reason only: its protocol has no error
        // message, and a v2 `Error` would be an unknown event to it.
        let limit = self.config.security.max_connections_per_ip;
        let current = self.sources.ips.get(&ip).map_or(0, |s| s.connections);
        if current >= limit {
            self.counters.connections_rejected_total += 1;
            if !mesh {
                let text = format!("Too many connections from your IP ({current}/{limit})");
                self.send(conn, &ServerMessage::error(text, ErrorCode::TooManyConnections), out);
            }
            out.push(Action::Close { conn, code: close_code::POLICY, reason: "too many connections" });
            return;
        }
        let global = self.config.server.max_connections;
        if self.conns.len() >= global {
            self.counters.connections_rejected_total += 1;
            if !mesh {
                let text = format!("Server is at capacity ({global}/{global} connections)");
                self.send(conn, &ServerMessage::error(text, ErrorCode::TooManyConnections), out);
            }
            out.push(Action::Close { conn, code: close_code::TRY_AGAIN_LATER, reason: "server at capacity" });
            return;
        }
        let mesh_address = if mesh {
            match self.mesh_admit(target) {
                Ok(address) => Some(address),
                Err((code, reason)) => {
                    self.counters.mesh_refusals_total += 1;
                    out.push(Action::Close { conn, code, reason });
                    return;
                }
            }
        } else {
            None
        };

        let state = self.sources.ips.entry(ip).or_default();
        state.connections += 1;
        if let Some(at) = state.purge_at.take() {
            self.timers.cancel(at, Timer::IpWindow(ip));
        }
        // The matchbox protocol has no authentication: mesh peers never get a deadline
        // (DECISIONS D50; the mode is off unless the operator turns it on).
        let auth_required = self.config.security.require_websocket_auth && !mesh;
        let auth_deadline = auth_required
            .then(|| self.clock.now + Duration::from_secs(self.config.websocket.auth_timeout_secs));
        let liveness_at = self.clock.now + Duration::from_secs(self.config.server.ping_timeout);
        let player_id = self.rng.uuid_v4();
        self.conns.insert(
            conn,
            Connection {
                player_id,
                ip,
                wants_token: !mesh && wants_reconnection_token(target),
                authenticated: !auth_required,
                authenticate_answered: false,
                app: None,
                format: GameDataEncoding::Json,
                version: self.path_version(target),
                path_asks: path_asks(target),
                epoch: 0,
                unsupported_format_gaps: 0,
                auth_deadline,
                last_inbound: self.clock.now,
                liveness_at,
                role: Role::Idle,
            },
        );
        if let Some(at) = auth_deadline {
            self.timers.schedule(at, Timer::AuthDeadline(conn));
        }
        self.timers.schedule(liveness_at, Timer::Liveness(conn));
        self.counters.connections_total += 1;
        if let Some(address) = mesh_address {
            self.mesh_join(conn, address, out);
        }
    }
}

impl Connection {
    /// Whether a dropped connection keeps its seat for a `Reconnect` (when the server
    /// allows reconnection): v3 connections always, v2 ones that opted in (D15, D56).
    pub(crate) fn keeps_seat(&self) -> bool {
        self.wants_token || self.version.is_v3()
    }
}

impl Engine {
    /// The version of a connection that does not name one in `Authenticate`: 3 on
    /// `/v3/ws`, 2 elsewhere, within `protocol.min_protocol_version` and
    /// `max_protocol_version`.
    /// (A client that authenticates below the minimum is refused then; one that never
    /// authenticates, on a server without authentication, speaks the minimum.)
    fn path_version(&self, target: &str) -> ProtocolVersion {
        let protocol = &self.config.protocol;
        let number = path_asks(target).clamp(protocol.min_protocol_version, protocol.max_protocol_version);
        ProtocolVersion::from_number(number).expect("validate() keeps versions within 2..=3")
    }
}

/// The version a WebSocket path stands for: 3 for `/v3/ws`, 2 otherwise.
fn path_asks(target: &str) -> u16 {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path == "/v3/ws" {
        3
    } else {
        2
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
