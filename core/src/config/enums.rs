//! Enumerated configuration values. Each accepts its names in any letter case and is
//! written back in the canonical spelling.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

macro_rules! config_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every accepted spelling, canonical form.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a name in any letter case.
            pub fn parse(text: &str) -> Option<$name> {
                $(if text.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;
                impl Visitor<'_> for NameVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", $name::NAMES.join(", "))
                    }
                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$name, E> {
                        $name::parse(value).ok_or_else(|| {
                            E::custom(format!(
                                "unknown value `{value}`, expected one of {}",
                                $name::NAMES.join(", ")
                            ))
                        })
                    }
                }
                deserializer.deserialize_str(NameVisitor)
            }
        }
    };
}

config_enum! {
    /// `logging.format`.
    LogFormat {
        /// One JSON object per line.
        Json = "json",
        /// Human-readable lines.
        Text = "text",
    }
}

config_enum! {
    /// `logging.rotation`.
    LogRotation {
        /// A new file every day.
        Daily = "daily",
        /// A new file every hour.
        Hourly = "hourly",
        /// One file.
        Never = "never",
    }
}

config_enum! {
    /// `security.transport.tls.client_auth`.
    ClientAuthMode {
        /// No client certificates.
        None = "none",
        /// Verified if presented.
        Optional = "optional",
        /// Mandatory.
        Require = "require",
    }
}

#[allow(clippy::derivable_impls)] // the enum comes from a macro
impl Default for ClientAuthMode {
    fn default() -> Self {
        ClientAuthMode::None
    }
}

config_enum! {
    /// `security.transport.token_binding.scheme`.
    TokenBindingScheme {
        /// HMAC-SHA256 keyed by the `Sec-WebSocket-Key`.
        SecWebsocketKeySha256 = "sec_websocket_key_sha256",
    }
}

config_enum! {
    /// One value of `metrics.dashboard_cache_history_fields`.
    DashboardField {
        /// Number of rooms.
        ActiveRooms = "ActiveRooms",
        /// Rooms per game name.
        RoomsByGame = "RoomsByGame",
        /// Percentiles of players per room.
        PlayerPercentiles = "PlayerPercentiles",
        /// Percentiles of players per room, per game.
        GamePercentiles = "GamePercentiles",
        /// Live connections.
        ActiveConnections = "ActiveConnections",
        /// Rooms created since start.
        RoomsCreated = "RoomsCreated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_case_is_accepted_and_canonical_is_written() {
        let format: LogFormat = serde_json::from_str("\"Json\"").unwrap();
        assert_eq!(format, LogFormat::Json);
        assert_eq!(serde_json::to_string(&format).unwrap(), "\"json\"");
        assert_eq!(LogRotation::parse("HOURLY"), Some(LogRotation::Hourly));
    }

    #[test]
    fn unknown_value_names_the_choices() {
        let err = serde_json::from_str::<LogFormat>("\"yaml\"").unwrap_err().to_string();
        assert!(err.contains("yaml") && err.contains("json, text"), "{err}");
    }
}
