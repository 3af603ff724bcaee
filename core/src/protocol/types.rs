//! Shared payload types (PROTOCOL §4). Field order here is output order.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The lobby state of a room (PROTOCOL §4.1, DECISIONS D9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LobbyState {
    /// Not full yet.
    Waiting,
    /// Full; players toggle ready.
    Lobby,
    /// Everyone was ready; `GameStarting` has been sent.
    Finalized,
}

/// Relay transport a client asks for in `JoinRoom` (parsed, not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTransport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// WebSocket.
    Websocket,
    /// Let the peers decide.
    #[default]
    Auto,
}

/// Encoding of game data on a connection (PROTOCOL §4.1, BEHAVIOUR §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GameDataEncoding {
    /// JSON text frames (the default).
    #[default]
    Json,
    /// MessagePack binary frames.
    MessagePack,
    /// Declared by the protocol, never accepted.
    Rkyv,
}

impl GameDataEncoding {
    /// The name used in the `UNSUPPORTED_GAME_DATA_FORMAT` message.
    pub fn display_name(self) -> &'static str {
        match self {
            GameDataEncoding::Json => "Json",
            GameDataEncoding::MessagePack => "MessagePack",
            GameDataEncoding::Rkyv => "Rkyv",
        }
    }
}

/// Why a spectator joined or left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectatorStateChangeReason {
    /// Joined.
    Joined,
    /// Sent `LeaveSpectator`.
    VoluntaryLeave,
    /// Connection ended.
    Disconnected,
    /// Removed by the server.
    Removed,
    /// The room was closed.
    RoomClosed,
}

/// A player as other clients see it (PROTOCOL §4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// Player id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Whether this player holds the room's authority.
    pub is_authority: bool,
    /// Whether this player is ready in the current lobby round.
    pub is_ready: bool,
    /// When the player entered the room (RFC 3339, `Z`).
    pub connected_at: String,
    /// Connection info, omitted when none was provided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection_info: Option<ConnectionInfo>,
    /// v3 recipients only: the player's epoch (see [`super::Stamp`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub epoch: Option<u32>,
    /// v3 recipients only: the player's last relayed seq in that epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq: Option<u64>,
}

/// A spectator as clients see it (PROTOCOL §4.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectatorInfo {
    /// Spectator id (its connection's player id).
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// When it started watching.
    pub connected_at: String,
}

/// Peer-to-peer connection info a player shares (PROTOCOL §4.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectionInfo {
    /// A directly reachable host and port.
    Direct {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Unity Relay allocation.
    UnityRelay {
        /// Allocation id.
        allocation_id: String,
        /// Connection data.
        connection_data: String,
        /// Key.
        key: String,
    },
    /// A generic relay.
    Relay {
        /// Relay host.
        host: String,
        /// Relay port.
        port: u16,
        /// Transport (default `auto`).
        #[serde(default)]
        transport: RelayTransport,
        /// Allocation id.
        allocation_id: String,
        /// Token.
        token: String,
        /// Client id, omitted when absent.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_id: Option<u16>,
    },
    /// WebRTC offer material.
    Webrtc {
        /// SDP, `null` when absent.
        #[serde(default)]
        sdp: Option<String>,
        /// ICE candidates.
        ice_candidates: Vec<String>,
    },
    /// Anything else, as free-form JSON.
    Custom {
        /// The data (required, may be null).
        data: serde_json::Value,
    },
}

/// One entry of `GameStarting.peer_connections` (PROTOCOL §4.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerConnectionInfo {
    /// Player id.
    pub player_id: Uuid,
    /// Player name.
    pub player_name: String,
    /// Whether this player holds authority.
    pub is_authority: bool,
    /// The room's relay type label.
    pub relay_type: String,
    /// Connection info, omitted when never provided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection_info: Option<ConnectionInfo>,
}

/// Advertised rate limits (PROTOCOL §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    /// Per minute.
    pub per_minute: u32,
    /// Per hour.
    pub per_hour: u32,
    /// Per day.
    pub per_day: u32,
}

/// Player name rules advertised in `ProtocolInfo` (PROTOCOL §4.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerNameRules {
    /// Longest name in bytes.
    pub max_length: usize,
    /// Always 1.
    pub min_length: usize,
    /// Unicode letters and digits allowed.
    pub allow_unicode_alphanumeric: bool,
    /// Spaces allowed.
    pub allow_spaces: bool,
    /// Leading/trailing whitespace allowed.
    pub allow_leading_trailing_whitespace: bool,
    /// Allowed symbols.
    pub allowed_symbols: Vec<String>,
    /// Extra allowed characters, omitted when not configured.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub additional_allowed_characters: Option<String>,
}
