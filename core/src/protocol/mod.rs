//! Protocol v2 (and v3's relay subset, `version`) on the wire: message types, shared payloads, error codes, MessagePack
//! game data; and the matchbox full-mesh messages (`mesh`). Byte-exact with `PROTOCOL.md`.

mod client;
mod error_code;
mod mesh;
mod msgpack;
mod portable_json;
mod raw;
mod server;
mod types;
mod version;

pub use client::{
    Authenticate, ClientMessage, DecodeError, JoinAsSpectator, JoinRoom, Reconnect, CLIENT_MESSAGE_TYPES,
};
pub use error_code::ErrorCode;
pub use mesh::{MeshEvent, MeshRequest};
pub use msgpack::{
    binary_game_data_message, parse_binary_game_data_message, parse_stamped_binary_game_data_message,
    stamped_binary_game_data_message, translate_to_json, translate_to_json_message,
};
pub use portable_json::{check_portable_json, PortabilityProblem, MAX_PAYLOAD_DEPTH};
pub use raw::{RawJson, RawJsonRef};
pub use server::{
    game_data_message, stamped_game_data_message, DeliveryReportPayload, ProtocolInfoPayload,
    ReconnectedPayload, RoomJoinedPayload, RoomSnapshot, ServerMessage, SpectatorJoinedPayload,
    SERVER_MESSAGE_TYPES,
};
pub use types::{
    ConnectionInfo, GameDataEncoding, LobbyState, PeerConnectionInfo, PlayerInfo, PlayerNameRules,
    RateLimitInfo, RelayTransport, SpectatorInfo, SpectatorStateChangeReason,
};
pub use version::{
    DeliveryClass, DeliveryCounts, DeliveryGap, GapReason, LatestCounts, ProtocolVersion, ReliableCounts,
    ReplayCompleteness, SenderWatermark, Stamp, VolatileCounts,
};
