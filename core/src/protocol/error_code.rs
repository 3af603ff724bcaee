//! Error codes (PROTOCOL §7): `SCREAMING_SNAKE_CASE` strings on the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($variant:ident = $text:literal),+ $(,)?) => {
        /// Every error code of protocol v2 in the order of PROTOCOL §7, then the three of v3 (§12).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $text, "`")]
                #[serde(rename = $text)]
                $variant
            ),+
        }

        impl ErrorCode {
            /// All codes, in specification order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text),+ }
            }
        }
    };
}

error_codes! {
    Unauthorized = "UNAUTHORIZED",
    InvalidToken = "INVALID_TOKEN",
    AuthenticationRequired = "AUTHENTICATION_REQUIRED",
    InvalidAppId = "INVALID_APP_ID",
    AppIdExpired = "APP_ID_EXPIRED",
    AppIdRevoked = "APP_ID_REVOKED",
    AppIdSuspended = "APP_ID_SUSPENDED",
    MissingAppId = "MISSING_APP_ID",
    AuthenticationTimeout = "AUTHENTICATION_TIMEOUT",
    SdkVersionUnsupported = "SDK_VERSION_UNSUPPORTED",
    UnsupportedGameDataFormat = "UNSUPPORTED_GAME_DATA_FORMAT",
    InvalidInput = "INVALID_INPUT",
    InvalidGameName = "INVALID_GAME_NAME",
    InvalidRoomCode = "INVALID_ROOM_CODE",
    InvalidPlayerName = "INVALID_PLAYER_NAME",
    InvalidMaxPlayers = "INVALID_MAX_PLAYERS",
    MessageTooLarge = "MESSAGE_TOO_LARGE",
    RoomNotFound = "ROOM_NOT_FOUND",
    RoomFull = "ROOM_FULL",
    AlreadyInRoom = "ALREADY_IN_ROOM",
    NotInRoom = "NOT_IN_ROOM",
    RoomCreationFailed = "ROOM_CREATION_FAILED",
    MaxRoomsPerGameExceeded = "MAX_ROOMS_PER_GAME_EXCEEDED",
    InvalidRoomState = "INVALID_ROOM_STATE",
    AuthorityNotSupported = "AUTHORITY_NOT_SUPPORTED",
    AuthorityConflict = "AUTHORITY_CONFLICT",
    AuthorityDenied = "AUTHORITY_DENIED",
    RateLimitExceeded = "RATE_LIMIT_EXCEEDED",
    TooManyConnections = "TOO_MANY_CONNECTIONS",
    ReconnectionFailed = "RECONNECTION_FAILED",
    ReconnectionTokenInvalid = "RECONNECTION_TOKEN_INVALID",
    ReconnectionExpired = "RECONNECTION_EXPIRED",
    PlayerAlreadyConnected = "PLAYER_ALREADY_CONNECTED",
    SpectatorNotAllowed = "SPECTATOR_NOT_ALLOWED",
    TooManySpectators = "TOO_MANY_SPECTATORS",
    NotASpectator = "NOT_A_SPECTATOR",
    SpectatorJoinFailed = "SPECTATOR_JOIN_FAILED",
    InternalError = "INTERNAL_ERROR",
    StorageError = "STORAGE_ERROR",
    ServiceUnavailable = "SERVICE_UNAVAILABLE",
    UnsupportedProtocolVersion = "UNSUPPORTED_PROTOCOL_VERSION",
    InvalidDeliveryClass = "INVALID_DELIVERY_CLASS",
    UnsupportedTransport = "UNSUPPORTED_TRANSPORT",
}

impl ErrorCode {
    /// Whether this engine ever sends the code. The others exist for clients of other
    /// servers: token binding and app lifecycle are not implemented (`UNAUTHORIZED`,
    /// `INVALID_TOKEN`, `APP_ID_*`), pre-auth messages get `AUTHENTICATION_REQUIRED`
    /// (DECISIONS D6) rather than `MISSING_APP_ID`, spectating is never disabled, a
    /// single-threaded engine has no insert races or storage faults, and it is never
    /// partially available.
    pub const fn is_emitted(self) -> bool {
        !matches!(
            self,
            ErrorCode::Unauthorized
                | ErrorCode::InvalidToken
                | ErrorCode::AppIdExpired
                | ErrorCode::AppIdRevoked
                | ErrorCode::AppIdSuspended
                | ErrorCode::MissingAppId
                | ErrorCode::SpectatorNotAllowed
                | ErrorCode::SpectatorJoinFailed
                | ErrorCode::InternalError
                | ErrorCode::StorageError
                | ErrorCode::ServiceUnavailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_three_codes_serialise_as_their_names() {
        // The 40 of protocol v2 and three of v3's relay subset (PROTOCOL §12).
        assert_eq!(ErrorCode::ALL.len(), 43);
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
    }
}
