//! Client → server messages (PROTOCOL §5) and the input parsing rules of §2.1.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::raw::RawJsonRef;
use super::types::{ConnectionInfo, GameDataEncoding, RelayTransport};

/// `Authenticate` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authenticate {
    /// Public application id.
    pub app_id: String,
    /// SDK semver.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sdk_version: Option<String>,
    /// Platform key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<String>,
    /// Requested game-data encoding.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub game_data_format: Option<GameDataEncoding>,
    /// The newest protocol version the client speaks (absent: the upgrade path's version,
    /// PROTOCOL §12.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol_version: Option<u16>,
}

/// `JoinRoom` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinRoom {
    /// Namespace of rooms.
    pub game_name: String,
    /// Absent: create with a generated code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub room_code: Option<String>,
    /// Display name.
    pub player_name: String,
    /// Capacity when creating.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_players: Option<u8>,
    /// Whether the room has an authority (default true).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub supports_authority: Option<bool>,
    /// Parsed and ignored.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub relay_transport: Option<RelayTransport>,
}

/// `Reconnect` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reconnect {
    /// The player id to resume.
    pub player_id: Uuid,
    /// The room it was in.
    pub room_id: Uuid,
    /// The reconnection token received in `RoomJoined` or `Reconnected`.
    pub auth_token: String,
}

/// `JoinAsSpectator` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinAsSpectator {
    /// Game name.
    pub game_name: String,
    /// Room code (any case).
    pub room_code: String,
    /// Display name (player-name rules).
    pub spectator_name: String,
}

/// A message a client sends. Game data borrows its payload from the input text, so a
/// relay never copies or re-parses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ClientMessage<'a> {
    /// Identify the application.
    Authenticate(Authenticate),
    /// Create or join a room.
    JoinRoom(JoinRoom),
    /// Leave the current room.
    LeaveRoom,
    /// Relay game data to the room.
    GameData {
        /// The payload, as raw JSON text.
        #[serde(borrow)]
        data: RawJsonRef<'a>,
        /// v3: the delivery class, as sent (checked by the engine for v3 senders only,
        /// ignored from v2 ones as v2 always did).
        #[serde(borrow, skip_serializing_if = "Option::is_none", default)]
        class: Option<RawJsonRef<'a>>,
        /// v3: the `latest` key, as sent.
        #[serde(borrow, skip_serializing_if = "Option::is_none", default)]
        key: Option<RawJsonRef<'a>>,
    },
    /// Claim or release authority.
    AuthorityRequest {
        /// true = claim, false = release.
        become_authority: bool,
    },
    /// Toggle ready.
    PlayerReady,
    /// Store P2P connection info.
    ProvideConnectionInfo {
        /// The info.
        connection_info: ConnectionInfo,
    },
    /// Heartbeat.
    Ping,
    /// Resume a session.
    Reconnect(Reconnect),
    /// Watch a room.
    JoinAsSpectator(JoinAsSpectator),
    /// Stop watching.
    LeaveSpectator,
    /// Start the game (sent by SDKs written for newer servers; not part of protocol v2).
    /// This server starts the game by itself when everyone is ready, so it is accepted
    /// once the game is starting and refused before.
    StartGame,
    /// v3: the client's view of its peer transport. Relay-only: accepted and ignored.
    TransportStatus,
    /// v3: WebRTC signalling, which a relay-only server never negotiates.
    Signal,
}

/// Every client message type name, in PROTOCOL §5 order.
pub const CLIENT_MESSAGE_TYPES: [&str; 11] = [
    "Authenticate",
    "JoinRoom",
    "LeaveRoom",
    "GameData",
    "AuthorityRequest",
    "PlayerReady",
    "ProvideConnectionInfo",
    "Ping",
    "Reconnect",
    "JoinAsSpectator",
    "LeaveSpectator",
];

/// A text frame that is not a valid client message. Its reason is for logs and tests;
/// the client always receives `Error{"Invalid client message", INVALID_INPUT}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The envelope: `type` and `data` in any order, other keys ignored, duplicates rejected.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

impl<'a> ClientMessage<'a> {
    /// Parses one text frame by the rules of PROTOCOL §2.1.
    pub fn decode(text: &'a str) -> Result<ClientMessage<'a>, DecodeError> {
        let envelope: Envelope<'a> = serde_json::from_str(text).map_err(bad)?;
        let data = envelope.data.filter(|raw| raw.get() != "null");
        let message = match envelope.kind.as_ref() {
            "Authenticate" => ClientMessage::Authenticate(payload(data)?),
            "JoinRoom" => ClientMessage::JoinRoom(payload(data)?),
            "LeaveRoom" => unit(data, ClientMessage::LeaveRoom)?,
            "GameData" => {
                let body: GameDataIn<'a> = payload(data)?;
                ClientMessage::GameData {
                    data: RawJsonRef(body.data),
                    class: body.class.map(RawJsonRef),
                    key: body.key.map(RawJsonRef),
                }
            }
            "AuthorityRequest" => {
                let body: AuthorityRequestIn = payload(data)?;
                ClientMessage::AuthorityRequest { become_authority: body.become_authority }
            }
            "PlayerReady" => unit(data, ClientMessage::PlayerReady)?,
            "ProvideConnectionInfo" => {
                let body: ProvideConnectionInfoIn = payload(data)?;
                ClientMessage::ProvideConnectionInfo { connection_info: body.connection_info }
            }
            "Ping" => unit(data, ClientMessage::Ping)?,
            "Reconnect" => ClientMessage::Reconnect(payload(data)?),
            "JoinAsSpectator" => ClientMessage::JoinAsSpectator(payload(data)?),
            "LeaveSpectator" => unit(data, ClientMessage::LeaveSpectator)?,
            "StartGame" => unit(data, ClientMessage::StartGame)?,
            // Their payloads are never used: a relay-only server ignores the one and
            // refuses the other whatever they hold.
            "TransportStatus" => ClientMessage::TransportStatus,
            "Signal" => ClientMessage::Signal,
            other => return Err(DecodeError(format!("unknown message type `{other}`"))),
        };
        Ok(message)
    }

    /// Compact JSON text of this message, as a client would send it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialise")
    }

    /// The message's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Authenticate(_) => "Authenticate",
            ClientMessage::JoinRoom(_) => "JoinRoom",
            ClientMessage::LeaveRoom => "LeaveRoom",
            ClientMessage::GameData { .. } => "GameData",
            ClientMessage::AuthorityRequest { .. } => "AuthorityRequest",
            ClientMessage::PlayerReady => "PlayerReady",
            ClientMessage::ProvideConnectionInfo { .. } => "ProvideConnectionInfo",
            ClientMessage::Ping => "Ping",
            ClientMessage::Reconnect(_) => "Reconnect",
            ClientMessage::JoinAsSpectator(_) => "JoinAsSpectator",
            ClientMessage::LeaveSpectator => "LeaveSpectator",
            ClientMessage::StartGame => "StartGame",
            ClientMessage::TransportStatus => "TransportStatus",
            ClientMessage::Signal => "Signal",
        }
    }
}

#[derive(Deserialize)]
struct GameDataIn<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow, default)]
    class: Option<&'a RawValue>,
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct AuthorityRequestIn {
    become_authority: bool,
}

#[derive(Deserialize)]
struct ProvideConnectionInfoIn {
    connection_info: ConnectionInfo,
}

fn bad(error: serde_json::Error) -> DecodeError {
    DecodeError(error.to_string())
}

/// Struct payloads must be a JSON object.
fn payload<'a, T: Deserialize<'a>>(data: Option<&'a RawValue>) -> Result<T, DecodeError> {
    let raw = data.ok_or_else(|| DecodeError("missing `data`".to_owned()))?;
    if !raw.get().starts_with('{') {
        return Err(DecodeError("`data` must be an object".to_owned()));
    }
    serde_json::from_str(raw.get()).map_err(bad)
}

/// Unit messages accept an absent or null `data` only.
fn unit<'a>(data: Option<&RawValue>, message: ClientMessage<'a>) -> Result<ClientMessage<'a>, DecodeError> {
    match data {
        None => Ok(message),
        Some(_) => Err(DecodeError("unit message with a `data` value".to_owned())),
    }
}
