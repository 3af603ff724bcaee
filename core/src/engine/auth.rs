//! `Authenticate`, SDK compatibility and the authentication deadline (BEHAVIOUR §2,
//! DECISIONS D4–D6).

use std::time::Duration;

use super::connection::Role;
use super::timers::Timer;
use super::{close_code, Engine};
use crate::config::{ProtocolConfig, SdkCompatibilityConfig};
use crate::event::{Action, ConnId};
use crate::protocol::{
    Authenticate, ErrorCode, GameDataEncoding, PlayerNameRules, ProtocolInfoPayload, ProtocolVersion,
    RateLimitInfo, ServerMessage,
};
use crate::Instant;

/// Rate limits advertised when authentication is off (the original's default constants).
const OPEN_RATE_LIMITS: RateLimitInfo =
    RateLimitInfo { per_minute: 1000, per_hour: 10_000, per_day: 100_000 };
/// Per-minute figure advertised for an app without `rate_limit_per_minute`.
const DEFAULT_APP_PER_MINUTE: u32 = 1000;
/// The sliding window of per-app authentication limits.
const APP_WINDOW: Duration = Duration::from_secs(60);
/// The most `ProtocolInfo.max_outbound_message_size` may say (the SDK's bound).
const MAX_ADVERTISED_MESSAGE_SIZE: usize = 64 << 20;

impl Engine {
    pub(super) fn on_authenticate(&mut self, conn: ConnId, request: Authenticate, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get(&conn) else { return };
        if c.authenticate_answered {
            return;
        }
        let auth_required = self.config.security.require_websocket_auth;
        let app = if auth_required {
            let Some(index) =
                self.config.security.authorized_apps.iter().rposition(|a| a.app_id == request.app_id)
            else {
                self.counters.auth_failures_total += 1;
                self.send(conn, &auth_error("InvalidAppId", ErrorCode::InvalidAppId), out);
                self.close(conn, close_code::POLICY, "invalid app id", out);
                return;
            };
            if !self.admit_app_login(index) {
                self.counters.auth_failures_total += 1;
                self.counters.rate_limit_rejections_total += 1;
                self.send(conn, &auth_error("RateLimitExceeded", ErrorCode::RateLimitExceeded), out);
                self.close(conn, close_code::POLICY, "rate limit exceeded", out);
                return;
            }
            Some(index)
        } else {
            None
        };

        let sdk = &self.config.protocol.sdk_compatibility;
        if let Err(reason) = check_sdk(sdk, request.platform.as_deref(), request.sdk_version.as_deref()) {
            self.counters.auth_failures_total += 1;
            self.send(conn, &auth_error(&reason, ErrorCode::SdkVersionUnsupported), out);
            return;
        }

        let c = &self.conns[&conn];
        // Where authentication is not required a client may authenticate from inside a
        // room: its version is then kept, as its seat or spectator entry holds it.
        let negotiated = match c.role {
            Role::Idle => self.negotiate_version(c.path_asks, request.protocol_version),
            _ => Ok(c.version),
        };
        let version = match negotiated {
            Ok(version) => version,
            Err(text) => {
                self.counters.auth_failures_total += 1;
                self.send(conn, &auth_error(&text, ErrorCode::UnsupportedProtocolVersion), out);
                self.close(conn, close_code::POLICY, "unsupported protocol version", out);
                return;
            }
        };

        let supported = self.supported_formats();
        let requested = request.game_data_format.unwrap_or_default();
        let format = if supported.contains(&requested) {
            requested
        } else {
            let names: Vec<&str> = supported.iter().map(|f| f.display_name()).collect();
            let text = format!(
                "Requested game data format {} is not supported. Server supports: {}. Falling back to JSON.",
                requested.display_name(),
                names.join(", ")
            );
            self.send(conn, &ServerMessage::error(text, ErrorCode::UnsupportedGameDataFormat), out);
            GameDataEncoding::Json
        };

        let c = self.conns.get_mut(&conn).expect("checked above");
        c.authenticated = true;
        c.authenticate_answered = true;
        c.app = app;
        c.format = format;
        c.version = version;
        if let Some(at) = c.auth_deadline.take() {
            self.timers.cancel(at, Timer::AuthDeadline(conn));
        }

        let (app_name, rate_limits) = match app {
            Some(index) => {
                let entry = &self.config.security.authorized_apps[index];
                let per_minute = entry.rate_limit_per_minute.unwrap_or(DEFAULT_APP_PER_MINUTE);
                let limits = RateLimitInfo {
                    per_minute,
                    per_hour: per_minute.saturating_mul(60),
                    per_day: per_minute.saturating_mul(1440),
                };
                (entry.app_name.clone(), limits)
            }
            None => ("default".to_owned(), OPEN_RATE_LIMITS),
        };
        self.send(conn, &ServerMessage::Authenticated { app_name, organization: None, rate_limits }, out);
        let mut info = protocol_info(&self.config.protocol, &request, supported);
        if version.is_v3() {
            let protocol = &self.config.protocol;
            info.protocol_version = Some(version.number());
            info.min_protocol_version = Some(protocol.min_protocol_version);
            info.max_protocol_version = Some(protocol.max_protocol_version);
            info.transports = Some(vec!["websocket".to_owned()]);
            info.max_outbound_message_size =
                Some(self.config.websocket.max_outbound_queue_bytes.min(MAX_ADVERTISED_MESSAGE_SIZE));
            info.implementation_version = Some(concat!("signal-fish ", env!("CARGO_PKG_VERSION")).to_owned());
        }
        self.send(conn, &ServerMessage::ProtocolInfo(info), out);
    }

    /// The version a client gets: the one it names (else its path's), at most the
    /// server's newest; one below the server's oldest is refused with the reason.
    fn negotiate_version(&self, path_asks: u16, asked: Option<u16>) -> Result<ProtocolVersion, String> {
        let protocol = &self.config.protocol;
        let asked = asked.unwrap_or(path_asks);
        let number = asked.min(protocol.max_protocol_version);
        if number < protocol.min_protocol_version {
            return Err(format!(
                "Client protocol version {asked} is below the server minimum {}",
                protocol.min_protocol_version
            ));
        }
        Ok(ProtocolVersion::from_number(number).expect("validate() keeps versions within 2..=3"))
    }

    /// Records a successful app look-up unless the app's per-minute limit is reached.
    fn admit_app_login(&mut self, index: usize) -> bool {
        let Some(limit) = self.config.security.authorized_apps[index].rate_limit_per_minute else {
            return true;
        };
        let now = self.clock.now;
        let log = self.sources.app_auth_log.entry(index).or_default();
        while log.front().is_some_and(|t| now.saturating_duration_since(*t) >= APP_WINDOW) {
            log.pop_front();
        }
        if log.len() >= limit as usize {
            return false;
        }
        log.push_back(now);
        true
    }

    fn supported_formats(&self) -> Vec<GameDataEncoding> {
        let mut formats = vec![GameDataEncoding::Json];
        if self.config.protocol.enable_message_pack_game_data {
            formats.push(GameDataEncoding::MessagePack);
        }
        formats
    }

    pub(super) fn on_auth_deadline(&mut self, conn: ConnId, at: Instant, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.auth_deadline != Some(at) || c.authenticated {
            return;
        }
        c.auth_deadline = None;
        self.counters.auth_timeouts_total += 1;
        let text = format!(
            "Authentication timeout - must authenticate within {} seconds",
            self.config.websocket.auth_timeout_secs
        );
        self.send(conn, &ServerMessage::error(text, ErrorCode::AuthenticationTimeout), out);
        self.close(conn, close_code::POLICY, "authentication timeout", out);
    }
}

fn auth_error(error: &str, code: ErrorCode) -> ServerMessage {
    ServerMessage::AuthenticationError { error: error.to_owned(), error_code: code }
}

/// The SDK compatibility rules of BEHAVIOUR §2.3 with D4's lenient default.
pub(crate) fn check_sdk(
    sdk: &SdkCompatibilityConfig,
    platform: Option<&str>,
    version: Option<&str>,
) -> Result<(), String> {
    let enforce = sdk.enforce && !sdk.minimum_versions.is_empty();
    let Some(platform) = platform else {
        return if enforce {
            Err("SDK platform is required for compatibility validation".to_owned())
        } else {
            Ok(())
        };
    };
    let key = platform.to_ascii_lowercase();
    let Some(minimum) = sdk.minimum_versions.get(&key) else {
        return if enforce { Err(format!("SDK platform `{platform}` is not recognized")) } else { Ok(()) };
    };
    let Some(version) = version else {
        return Err(format!("SDK version is required for platform `{platform}`"));
    };
    let parsed = semver::Version::parse(version)
        .map_err(|e| format!("SDK version `{version}` for platform `{platform}` is invalid: {e}"))?;
    let minimum_parsed = semver::Version::parse(minimum).expect("validate() checked minimum versions");
    if parsed < minimum_parsed {
        return Err(format!(
            "SDK version `{version}` for platform `{platform}` is below the minimum supported version `{minimum}`"
        ));
    }
    Ok(())
}

fn protocol_info(
    protocol: &ProtocolConfig,
    request: &Authenticate,
    formats: Vec<GameDataEncoding>,
) -> ProtocolInfoPayload {
    let sdk = &protocol.sdk_compatibility;
    let key = request.platform.as_deref().map(str::to_ascii_lowercase);
    let lookup =
        |map: &std::collections::BTreeMap<String, String>| key.as_ref().and_then(|k| map.get(k)).cloned();
    let mut capabilities: Vec<String> = Vec::new();
    let platform_caps = key.as_ref().and_then(|k| sdk.capabilities.get(k));
    for cap in sdk.capabilities.get("_default").into_iter().chain(platform_caps).flatten() {
        if !capabilities.contains(cap) {
            capabilities.push(cap.clone());
        }
    }
    let rules = &protocol.player_name_validation;
    ProtocolInfoPayload {
        platform: request.platform.clone(),
        sdk_version: request.sdk_version.clone(),
        minimum_version: lookup(&sdk.minimum_versions),
        recommended_version: lookup(&sdk.recommended_versions),
        capabilities,
        notes: lookup(&sdk.notes).or_else(|| sdk.notes.get("_default").cloned()),
        game_data_formats: formats,
        player_name_rules: Some(PlayerNameRules {
            max_length: protocol.max_player_name_length,
            min_length: 1,
            allow_unicode_alphanumeric: rules.allow_unicode_alphanumeric,
            allow_spaces: rules.allow_spaces,
            allow_leading_trailing_whitespace: rules.allow_leading_trailing_whitespace,
            allowed_symbols: rules.allowed_symbols.clone(),
            additional_allowed_characters: rules.additional_allowed_characters.clone(),
        }),
        protocol_version: None,
        min_protocol_version: None,
        max_protocol_version: None,
        transports: None,
        max_outbound_message_size: None,
        implementation_version: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_rules_of_behaviour_2_3() {
        let mut sdk = SdkCompatibilityConfig::default();
        assert_eq!(check_sdk(&sdk, None, None), Ok(()), "lenient by default (D4)");
        assert_eq!(check_sdk(&sdk, Some("rust"), Some("0.14.0")), Ok(()));
        assert_eq!(check_sdk(&sdk, Some("Godot"), Some("0.9.0")), Ok(()));
        assert_eq!(
            check_sdk(&sdk, Some("Godot"), None),
            Err("SDK version is required for platform `Godot`".into())
        );
        assert_eq!(
            check_sdk(&sdk, Some("godot"), Some("0.8.9")),
            Err("SDK version `0.8.9` for platform `godot` is below the minimum supported version `0.9.0`"
                .into())
        );
        assert_eq!(
            check_sdk(&sdk, Some("unity"), Some("1.10.0-beta")),
            Err("SDK version `1.10.0-beta` for platform `unity` is below the minimum supported version `1.10.0`".into())
        );
        let invalid = check_sdk(&sdk, Some("unity"), Some("1.10")).unwrap_err();
        assert!(invalid.starts_with("SDK version `1.10` for platform `unity` is invalid: "), "{invalid}");
        sdk.enforce = true;
        assert_eq!(
            check_sdk(&sdk, None, None),
            Err("SDK platform is required for compatibility validation".into())
        );
        assert_eq!(
            check_sdk(&sdk, Some("Rust"), Some("1.0.0")),
            Err("SDK platform `Rust` is not recognized".into())
        );
    }
}
