//! Per-connection state.

use core::net::IpAddr;

use uuid::Uuid;

use super::room::RoomKey;
use crate::protocol::GameDataEncoding;
use crate::Instant;

/// What a connection is doing in the room world. A connection is a player of one room or
/// a spectator of one room, never both (DECISIONS D14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// In no room.
    Idle,
    /// Seated as a player.
    Player(RoomKey),
    /// Watching.
    Spectator(RoomKey),
}

/// A live WebSocket connection.
#[derive(Clone, Debug)]
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
    /// Auth deadline, while one is pending.
    pub auth_deadline: Option<Instant>,
    /// Last inbound frame.
    pub last_inbound: Instant,
    /// When the liveness timer entry is set.
    pub liveness_at: Instant,
    /// Room membership.
    pub role: Role,
}
