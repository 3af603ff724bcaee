//! Server → client messages (PROTOCOL §6). Field order here is output order.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error_code::ErrorCode;
use super::raw::RawJson;
use super::types::{
    GameDataEncoding, LobbyState, PeerConnectionInfo, PlayerInfo, PlayerNameRules, RateLimitInfo,
    SpectatorInfo, SpectatorStateChangeReason,
};
use super::version::{
    DeliveryClass, DeliveryCounts, DeliveryGap, ReplayCompleteness, SenderWatermark, Stamp,
};

/// `ProtocolInfo` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtocolInfoPayload {
    /// Platform as sent by the client.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<String>,
    /// SDK version as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sdk_version: Option<String>,
    /// Configured minimum for the platform.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub minimum_version: Option<String>,
    /// Configured recommendation for the platform.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recommended_version: Option<String>,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Platform note.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notes: Option<String>,
    /// Supported game-data encodings.
    pub game_data_formats: Vec<GameDataEncoding>,
    /// Name rules.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub player_name_rules: Option<PlayerNameRules>,
    /// v3 only: the negotiated version. The v3 fields are absent, never `null`, on v2:
    /// the SDK reads their presence as the version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol_version: Option<u16>,
    /// v3 only: the oldest version the server accepts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min_protocol_version: Option<u16>,
    /// v3 only: the newest version the server speaks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_protocol_version: Option<u16>,
    /// v3 only: always `["websocket"]`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transports: Option<Vec<String>>,
    /// v3 only: the largest message the server sends this connection, in bytes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_outbound_message_size: Option<usize>,
    /// v3 only: the server's name and version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub implementation_version: Option<String>,
}

/// The room as a player sees it, shared by `RoomJoined` and `Reconnected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// Room id.
    pub room_id: Uuid,
    /// Room code (uppercase).
    pub room_code: String,
    /// The recipient's player id.
    pub player_id: Uuid,
    /// Game name.
    pub game_name: String,
    /// Capacity.
    pub max_players: u8,
    /// Whether the room has an authority.
    pub supports_authority: bool,
    /// All players, the recipient included.
    pub current_players: Vec<PlayerInfo>,
    /// Whether the recipient holds authority.
    pub is_authority: bool,
    /// Lobby state.
    pub lobby_state: LobbyState,
    /// Ready players.
    pub ready_players: Vec<Uuid>,
    /// Relay type label.
    pub relay_type: String,
    /// Spectators.
    pub current_spectators: Vec<SpectatorInfo>,
}

/// `RoomJoined` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomJoinedPayload {
    /// The room.
    #[serde(flatten)]
    pub snapshot: RoomSnapshot,
    /// Reconnection token, only for connections that opted in (DECISIONS D15).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reconnection_token: Option<String>,
}

/// `Reconnected` payload: the `RoomJoined` snapshot plus what was missed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconnectedPayload {
    /// The room.
    #[serde(flatten)]
    pub snapshot: RoomSnapshot,
    /// Server messages sent to the room while the player was away, in order (on v3 only
    /// the room-control messages, never game data).
    pub missed_events: Vec<RawJson>,
    /// v3 only: whether `missed_events` is complete.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replay: Option<ReplayCompleteness>,
    /// v3 only: every player of the snapshot and its stamp.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sender_watermarks: Option<Vec<SenderWatermark>>,
    /// The new reconnection token, for v3 connections and v2 ones that opted in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reconnection_token: Option<String>,
}

/// `DeliveryReport` payload (v3 only): what a recipient will not get, before the next
/// game data from that sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReportPayload {
    /// Cumulative counts for this connection.
    pub per_class: DeliveryCounts,
    /// The seqs skipped since the last report.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gaps: Vec<DeliveryGap>,
}

/// `SpectatorJoined` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectatorJoinedPayload {
    /// Room id.
    pub room_id: Uuid,
    /// Room code.
    pub room_code: String,
    /// The recipient's id.
    pub spectator_id: Uuid,
    /// Game name.
    pub game_name: String,
    /// Players.
    pub current_players: Vec<PlayerInfo>,
    /// Spectators, the recipient included.
    pub current_spectators: Vec<SpectatorInfo>,
    /// Lobby state.
    pub lobby_state: LobbyState,
    /// Always `joined`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<SpectatorStateChangeReason>,
}

/// A message the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ServerMessage {
    /// Authentication succeeded.
    Authenticated {
        /// App name.
        app_name: String,
        /// Never present.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        organization: Option<String>,
        /// Advertised limits.
        rate_limits: RateLimitInfo,
    },
    /// Compatibility details, right after `Authenticated`.
    ProtocolInfo(ProtocolInfoPayload),
    /// Authentication failed.
    AuthenticationError {
        /// Reason text.
        error: String,
        /// Code.
        error_code: ErrorCode,
    },
    /// Joined a room.
    RoomJoined(RoomJoinedPayload),
    /// Join failed.
    RoomJoinFailed {
        /// Reason text.
        reason: String,
        /// Code.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error_code: Option<ErrorCode>,
    },
    /// Left the room.
    RoomLeft,
    /// Another player joined.
    PlayerJoined {
        /// The newcomer.
        player: PlayerInfo,
    },
    /// A player left.
    PlayerLeft {
        /// Who.
        player_id: Uuid,
        /// v3 only: the epoch that ended.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        epoch: Option<u32>,
        /// v3 only: the last seq the player relayed in it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        final_seq: Option<u64>,
    },
    /// Relayed JSON game data.
    GameData {
        /// Sender.
        from_player: Uuid,
        /// Payload as sent.
        data: RawJson,
        /// v3 only: the sender's seq.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        seq: Option<u64>,
        /// v3 only: the sender's epoch.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        epoch: Option<u32>,
        /// v3 only: the class the sender asked for.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        class: Option<DeliveryClass>,
        /// v3 only: the sender's key for `latest`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        key: Option<u32>,
    },
    /// Binary game data as JSON (defined, not emitted as text).
    GameDataBinary {
        /// Sender.
        from_player: Uuid,
        /// Encoding.
        encoding: GameDataEncoding,
        /// Payload bytes, as an array of numbers.
        payload: Vec<u8>,
    },
    /// Authority holder changed.
    AuthorityChanged {
        /// New holder or null.
        authority_player: Option<Uuid>,
        /// Whether the recipient is the holder.
        you_are_authority: bool,
    },
    /// Answer to `AuthorityRequest`.
    AuthorityResponse {
        /// Granted?
        granted: bool,
        /// Denial reason; null when granted.
        reason: Option<String>,
        /// Denial code.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error_code: Option<ErrorCode>,
    },
    /// Lobby state or ready set changed.
    LobbyStateChanged {
        /// State.
        lobby_state: LobbyState,
        /// Ready players.
        ready_players: Vec<Uuid>,
        /// Whether all are ready.
        all_ready: bool,
    },
    /// Everyone is ready.
    GameStarting {
        /// One entry per player.
        peer_connections: Vec<PeerConnectionInfo>,
    },
    /// Heartbeat answer.
    Pong,
    /// Session resumed.
    Reconnected(ReconnectedPayload),
    /// Reconnect failed.
    ReconnectionFailed {
        /// Reason text.
        reason: String,
        /// Code.
        error_code: ErrorCode,
    },
    /// A player resumed its session.
    PlayerReconnected {
        /// Who.
        player_id: Uuid,
        /// v3 only: its new epoch.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        epoch: Option<u32>,
    },
    /// Now spectating.
    SpectatorJoined(SpectatorJoinedPayload),
    /// Spectating failed (defined; failures use `Error`).
    SpectatorJoinFailed {
        /// Reason.
        reason: String,
        /// Code.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error_code: Option<ErrorCode>,
    },
    /// No longer spectating.
    SpectatorLeft {
        /// Room id.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        room_id: Option<Uuid>,
        /// Room code, omitted when the room no longer exists.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        room_code: Option<String>,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<SpectatorStateChangeReason>,
        /// Remaining spectators.
        current_spectators: Vec<SpectatorInfo>,
    },
    /// Another spectator started watching.
    NewSpectatorJoined {
        /// The newcomer.
        spectator: SpectatorInfo,
        /// All spectators.
        current_spectators: Vec<SpectatorInfo>,
        /// Always `joined`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<SpectatorStateChangeReason>,
    },
    /// A spectator stopped watching.
    SpectatorDisconnected {
        /// Who.
        spectator_id: Uuid,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<SpectatorStateChangeReason>,
        /// Remaining spectators.
        current_spectators: Vec<SpectatorInfo>,
    },
    /// Something went wrong.
    Error {
        /// Text.
        message: String,
        /// Code.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error_code: Option<ErrorCode>,
    },
    /// v3 only: seqs a recipient will not get (DECISIONS D55).
    DeliveryReport(DeliveryReportPayload),
}

/// Every server message type name, in PROTOCOL §6 order.
pub const SERVER_MESSAGE_TYPES: [&str; 25] = [
    "Authenticated",
    "ProtocolInfo",
    "AuthenticationError",
    "RoomJoined",
    "RoomJoinFailed",
    "RoomLeft",
    "PlayerJoined",
    "PlayerLeft",
    "GameData",
    "GameDataBinary",
    "AuthorityChanged",
    "AuthorityResponse",
    "LobbyStateChanged",
    "GameStarting",
    "Pong",
    "Reconnected",
    "ReconnectionFailed",
    "PlayerReconnected",
    "SpectatorJoined",
    "SpectatorJoinFailed",
    "SpectatorLeft",
    "NewSpectatorJoined",
    "SpectatorDisconnected",
    "Error",
    "DeliveryReport",
];

impl ServerMessage {
    /// An `Error` with a code.
    pub fn error(message: impl Into<String>, code: ErrorCode) -> ServerMessage {
        ServerMessage::Error { message: message.into(), error_code: Some(code) }
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }

    /// Compact JSON as shareable bytes (serialised once, cloned per recipient).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("server messages always serialise"))
    }

    /// Parses a server message (for clients, tests and tools).
    pub fn decode(text: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The message's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Authenticated { .. } => "Authenticated",
            ServerMessage::ProtocolInfo(_) => "ProtocolInfo",
            ServerMessage::AuthenticationError { .. } => "AuthenticationError",
            ServerMessage::RoomJoined(_) => "RoomJoined",
            ServerMessage::RoomJoinFailed { .. } => "RoomJoinFailed",
            ServerMessage::RoomLeft => "RoomLeft",
            ServerMessage::PlayerJoined { .. } => "PlayerJoined",
            ServerMessage::PlayerLeft { .. } => "PlayerLeft",
            ServerMessage::GameData { .. } => "GameData",
            ServerMessage::GameDataBinary { .. } => "GameDataBinary",
            ServerMessage::AuthorityChanged { .. } => "AuthorityChanged",
            ServerMessage::AuthorityResponse { .. } => "AuthorityResponse",
            ServerMessage::LobbyStateChanged { .. } => "LobbyStateChanged",
            ServerMessage::GameStarting { .. } => "GameStarting",
            ServerMessage::Pong => "Pong",
            ServerMessage::Reconnected(_) => "Reconnected",
            ServerMessage::ReconnectionFailed { .. } => "ReconnectionFailed",
            ServerMessage::PlayerReconnected { .. } => "PlayerReconnected",
            ServerMessage::SpectatorJoined(_) => "SpectatorJoined",
            ServerMessage::SpectatorJoinFailed { .. } => "SpectatorJoinFailed",
            ServerMessage::SpectatorLeft { .. } => "SpectatorLeft",
            ServerMessage::NewSpectatorJoined { .. } => "NewSpectatorJoined",
            ServerMessage::SpectatorDisconnected { .. } => "SpectatorDisconnected",
            ServerMessage::Error { .. } => "Error",
            ServerMessage::DeliveryReport(_) => "DeliveryReport",
        }
    }
}

/// The relay hot path: `GameData{from_player, data}` with the payload spliced in as sent,
/// never parsed into a value and re-serialised (DECISIONS D21).
pub fn game_data_message(from_player: &Uuid, raw_payload: &str) -> Bytes {
    let mut out = game_data_head(from_player, raw_payload, 2);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// The v3 rendering of the same message: the v2 fields, then `seq`, `epoch` and the
/// sender's `class` and `key` when it gave them (PROTOCOL §12.3).
pub fn stamped_game_data_message(
    from_player: &Uuid,
    raw_payload: &str,
    stamp: Stamp,
    class: Option<DeliveryClass>,
    key: Option<u32>,
) -> Bytes {
    use std::io::Write as _;
    let mut out = game_data_head(from_player, raw_payload, 64);
    write!(out, r#","seq":{},"epoch":{}"#, stamp.seq, stamp.epoch).expect("writes to a Vec");
    if let Some(class) = class {
        let name = match class {
            DeliveryClass::Reliable => "reliable",
            DeliveryClass::Latest => "latest",
            DeliveryClass::Volatile => "volatile",
        };
        write!(out, r#","class":"{name}""#).expect("writes to a Vec");
    }
    if let Some(key) = key {
        write!(out, r#","key":{key}"#).expect("writes to a Vec");
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// `{"type":"GameData","data":{"from_player":"…","data":<payload>`, with room for
/// `tail_room` more bytes (the closing braces, and the v3 fields before them).
fn game_data_head(from_player: &Uuid, raw_payload: &str, tail_room: usize) -> Vec<u8> {
    const HEAD: &str = r#"{"type":"GameData","data":{"from_player":""#;
    const MIDDLE: &str = r#"","data":"#;
    let mut out = Vec::with_capacity(HEAD.len() + 36 + MIDDLE.len() + raw_payload.len() + tail_room);
    out.extend_from_slice(HEAD.as_bytes());
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.extend_from_slice(from_player.hyphenated().encode_lower(&mut id).as_bytes());
    out.extend_from_slice(MIDDLE.as_bytes());
    out.extend_from_slice(raw_payload.as_bytes());
    out
}
