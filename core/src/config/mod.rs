//! Server configuration as plain data.
//!
//! Every key of the original's example configuration is here with the seed's documented
//! default (DECISIONS D1). Reading files and environment variables is the shell's job; the
//! core only defines the shape, the defaults and [`Config::validate`].
//!
//! Deserialisation rejects unknown keys (D3) and accepts enum values in any case (the
//! original's example config writes `"format": "Json"`).

mod address_range;
mod enums;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use address_range::{AddressRange, ADDRESS_RANGE_FORMS};
pub use enums::{ClientAuthMode, DashboardField, LogFormat, LogRotation, TokenBindingScheme};
pub use validate::{ConfigError, ConfigErrors};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// TCP port the server listens on (all IPv4 interfaces).
    pub port: u16,
    /// Rooms, liveness, reconnection.
    pub server: ServerConfig,
    /// Room-operation rate limits per client IP.
    pub rate_limit: RateLimitConfig,
    /// Protocol limits, name rules and SDK compatibility.
    pub protocol: ProtocolConfig,
    /// Log output (used by the shell).
    pub logging: LoggingConfig,
    /// Authentication, CORS, size and connection limits.
    pub security: SecurityConfig,
    /// Accepted for compatibility with 0.2.0 configuration files; has no effect.
    pub auth: AuthCacheConfig,
    /// Accepted for compatibility with 0.2.0 configuration files; has no effect.
    pub coordination: CoordinationConfig,
    /// Dashboard history kept for the JSON metrics.
    pub metrics: MetricsConfig,
    /// The `relay_type` label reported to clients.
    pub relay_types: RelayTypesConfig,
    /// Outbound delivery and the authentication timeout.
    pub websocket: WebSocketConfig,
    /// The matchbox full-mesh signaling mode on a second port (DECISIONS D50).
    pub mesh: MeshConfig,
    /// The flight recorder (used by the shell; DECISIONS D57).
    pub recorder: RecorderConfig,
    /// Cluster mode: several nodes sharing one room space through Redis (DECISIONS D58).
    pub cluster: ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 3536,
            server: ServerConfig::default(),
            rate_limit: RateLimitConfig::default(),
            protocol: ProtocolConfig::default(),
            logging: LoggingConfig::default(),
            security: SecurityConfig::default(),
            auth: AuthCacheConfig::default(),
            coordination: CoordinationConfig::default(),
            metrics: MetricsConfig::default(),
            relay_types: RelayTypesConfig::default(),
            websocket: WebSocketConfig::default(),
            mesh: MeshConfig::default(),
            recorder: RecorderConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// `server.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `max_players` of a room created without one.
    pub default_max_players: u8,
    /// Seconds of inbound silence after which a connection is closed (1001).
    pub ping_timeout: u64,
    /// Accepted for compatibility: expiry here is exact (a timer per deadline), not swept.
    pub room_cleanup_interval: u64,
    /// Rooms allowed per exact `game_name`, empty ones included.
    pub max_rooms_per_game: usize,
    /// Seconds an empty room is kept after its last activity.
    pub empty_room_timeout: u64,
    /// Seconds a room with players is kept without any activity.
    pub inactive_room_timeout: u64,
    /// Seconds a disconnected player's seat is kept for a `Reconnect`.
    pub reconnection_window: u64,
    /// Room events kept for a disconnected player; one more ends the reservation.
    pub event_buffer_size: usize,
    /// Whether seats are kept for players that asked for a reconnection token.
    pub enable_reconnection: bool,
    /// Accepted for compatibility; has no wire effect.
    pub heartbeat_throttle_secs: u64,
    /// Deployment label printed by `--validate-config`; no wire effect.
    pub region_id: String,
    /// Fixed leading characters of generated room codes.
    pub room_code_prefix: Option<String>,
    /// Live WebSocket connections the server accepts in total.
    pub max_connections: usize,
    /// Rooms that may exist at once across all games.
    pub max_rooms: usize,
    /// Spectators allowed per room.
    pub max_spectators_per_room: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_max_players: 8,
            ping_timeout: 30,
            room_cleanup_interval: 60,
            max_rooms_per_game: 1000,
            empty_room_timeout: 300,
            inactive_room_timeout: 3600,
            reconnection_window: 300,
            event_buffer_size: 100,
            enable_reconnection: true,
            heartbeat_throttle_secs: 30,
            region_id: "default".to_owned(),
            room_code_prefix: None,
            max_connections: 10_000,
            max_rooms: 10_000,
            max_spectators_per_room: 32,
        }
    }
}

/// `rate_limit.*` — fixed windows per client IP (DECISIONS D18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Room creations per client IP per window (`JoinRoom` without a code, or with a code
    /// that names no room).
    pub max_room_creations: u32,
    /// Window length in seconds.
    pub time_window: u64,
    /// Join attempts per client IP per window (`JoinRoom` into an existing room,
    /// `JoinAsSpectator`, and every creation).
    pub max_join_attempts: u32,
    /// Spectators admitted per room per window, whoever asks: bounds the broadcasts
    /// spectator churn causes to a room's members.
    pub max_spectator_joins_per_room: u32,
    /// Players admitted into one existing room per window, whoever asks (creations and
    /// reconnections do not count): bounds the join/leave announcements player churn
    /// from many addresses causes to a room's members.
    pub max_player_joins_per_room: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_room_creations: 5,
            time_window: 60,
            max_join_attempts: 20,
            max_spectator_joins_per_room: 30,
            max_player_joins_per_room: 60,
        }
    }
}

/// `protocol.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Longest game name, in UTF-8 bytes.
    pub max_game_name_length: usize,
    /// Length of room codes, generated and supplied.
    pub room_code_length: usize,
    /// Longest player or spectator name, in UTF-8 bytes.
    pub max_player_name_length: usize,
    /// Largest `max_players` a room may have.
    pub max_players_limit: u8,
    /// Whether `game_data_format: "message_pack"` may be negotiated.
    pub enable_message_pack_game_data: bool,
    /// The oldest protocol version a client may negotiate (2 or 3; PROTOCOL §12.1).
    pub min_protocol_version: u16,
    /// The newest protocol version the server offers (2 or 3): a client asking for more
    /// gets this one.
    pub max_protocol_version: u16,
    /// SDK version rules applied on `Authenticate`.
    pub sdk_compatibility: SdkCompatibilityConfig,
    /// Which characters player and spectator names may contain.
    pub player_name_validation: PlayerNameValidationConfig,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            max_game_name_length: 64,
            room_code_length: 6,
            max_player_name_length: 32,
            max_players_limit: 100,
            enable_message_pack_game_data: true,
            min_protocol_version: 2,
            max_protocol_version: 3,
            sdk_compatibility: SdkCompatibilityConfig::default(),
            player_name_validation: PlayerNameValidationConfig::default(),
        }
    }
}

/// `protocol.sdk_compatibility.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdkCompatibilityConfig {
    /// When true (and `minimum_versions` is not empty) a platform must be given and listed.
    /// Off by default (DECISIONS D4).
    pub enforce: bool,
    /// Lowest accepted SDK version per platform (lowercase key).
    pub minimum_versions: BTreeMap<String, String>,
    /// Version advertised as recommended per platform.
    pub recommended_versions: BTreeMap<String, String>,
    /// Capabilities advertised: `_default` first, then the platform's own.
    pub capabilities: BTreeMap<String, Vec<String>>,
    /// Free-text note per platform (`_default` as fallback).
    pub notes: BTreeMap<String, String>,
}

impl Default for SdkCompatibilityConfig {
    fn default() -> Self {
        let map =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        SdkCompatibilityConfig {
            enforce: false,
            minimum_versions: map(&[
                ("unity", "1.10.0"),
                ("godot", "0.9.0"),
                ("godot-rust", "0.9.0"),
                ("test", "1.0.0"),
            ]),
            recommended_versions: map(&[("unity", "1.12.0"), ("godot-rust", "0.9.2")]),
            capabilities: [
                ("_default".to_owned(), strings(&["reconnection", "spectator-mode", "rate-limits-v2"])),
                ("unity".to_owned(), strings(&["relay-matchbox", "relay-mirror", "relay-fishnet"])),
            ]
            .into_iter()
            .collect(),
            notes: map(&[(
                "unity",
                "Upgrade to 1.12.x for deterministic reconnect handling and spectator patches.",
            )]),
        }
    }
}

/// `protocol.player_name_validation.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlayerNameValidationConfig {
    /// Unicode letters and digits allowed (else ASCII only).
    pub allow_unicode_alphanumeric: bool,
    /// U+0020 allowed inside names.
    pub allow_spaces: bool,
    /// Leading and trailing whitespace allowed.
    pub allow_leading_trailing_whitespace: bool,
    /// Extra single-character symbols allowed.
    pub allowed_symbols: Vec<String>,
    /// Further characters allowed, as one string.
    pub additional_allowed_characters: Option<String>,
}

impl Default for PlayerNameValidationConfig {
    fn default() -> Self {
        PlayerNameValidationConfig {
            allow_unicode_alphanumeric: true,
            allow_spaces: true,
            allow_leading_trailing_whitespace: false,
            allowed_symbols: vec!["-".to_owned(), "_".to_owned()],
            additional_allowed_characters: None,
        }
    }
}

/// `logging.*` (used by the shell).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Directory of the log file; created if missing.
    pub dir: String,
    /// Base name of the log file.
    pub filename: String,
    /// When a new log file is started.
    pub rotation: LogRotation,
    /// Level filter; when unset, `RUST_LOG` applies, else `info`.
    pub level: Option<String>,
    /// Whether logs also go to a file.
    pub enable_file_logging: bool,
    /// Line format.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: "logs".to_owned(),
            filename: "server.log".to_owned(),
            rotation: LogRotation::Daily,
            level: None,
            enable_file_logging: true,
            format: LogFormat::Json,
        }
    }
}

/// `security.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// `*`, or a comma-separated list of allowed origins.
    pub cors_origins: String,
    /// Whether clients must `Authenticate` with a listed `app_id` first.
    pub require_websocket_auth: bool,
    /// Whether metrics endpoints need `Authorization: Bearer <metrics_auth_token>`.
    pub require_metrics_auth: bool,
    /// The bearer token for metrics endpoints.
    pub metrics_auth_token: Option<String>,
    /// Largest accepted inbound message, in bytes.
    pub max_message_size: usize,
    /// Live connections allowed per client IP.
    pub max_connections_per_ip: usize,
    /// Reverse proxies (addresses and CIDR ranges, see [`AddressRange`]) whose word on
    /// the client's address is taken: from their connections the client address comes
    /// from the PROXY protocol header, `Forwarded` or `X-Forwarded-For`. Empty by
    /// default: every TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Whether every connection from a trusted proxy must start with a PROXY protocol
    /// header (v1 or v2); connections from other peers are direct clients and must not
    /// send one.
    pub require_proxy_protocol: bool,
    /// TLS and token binding (not supported by this server; must stay disabled).
    pub transport: TransportConfig,
    /// Applications allowed to authenticate.
    pub authorized_apps: Vec<AuthorizedApp>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            cors_origins: "*".to_owned(),
            require_websocket_auth: false,
            require_metrics_auth: false,
            metrics_auth_token: None,
            max_message_size: 65_536,
            max_connections_per_ip: 10,
            trusted_proxies: Vec::new(),
            require_proxy_protocol: false,
            transport: TransportConfig::default(),
            authorized_apps: Vec::new(),
        }
    }
}

impl SecurityConfig {
    /// The valid entries of `trusted_proxies` (all of them once the configuration is
    /// validated).
    pub fn trusted_proxy_ranges(&self) -> Vec<AddressRange> {
        self.trusted_proxies.iter().filter_map(|entry| AddressRange::parse(entry).ok()).collect()
    }
}

/// `security.transport.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportConfig {
    /// Built-in TLS; terminate TLS at a reverse proxy instead.
    pub tls: TlsConfig,
    /// Token binding of the original; not supported.
    pub token_binding: TokenBindingConfig,
}

/// `security.transport.tls.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve `wss://` and `https://` on the one port (needs the server's feature `tls`).
    pub enabled: bool,
    /// PEM certificate chain path.
    pub certificate_path: Option<String>,
    /// PEM private key path.
    pub private_key_path: Option<String>,
    /// PEM client CA bundle path.
    pub client_ca_cert_path: Option<String>,
    /// Client certificate policy.
    pub client_auth: ClientAuthMode,
}

/// `security.transport.token_binding.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenBindingConfig {
    /// Must be false: token binding is not supported.
    pub enabled: bool,
    /// Whether clients must use the subprotocol.
    pub required: bool,
    /// Whether a client certificate fingerprint is needed.
    pub require_client_fingerprint: bool,
    /// The WebSocket subprotocol name.
    pub subprotocol: String,
    /// The proof scheme.
    pub scheme: TokenBindingScheme,
}

impl Default for TokenBindingConfig {
    fn default() -> Self {
        TokenBindingConfig {
            enabled: false,
            required: false,
            require_client_fingerprint: false,
            subprotocol: "signalfish.tokenbinding.v1".to_owned(),
            scheme: TokenBindingScheme::SecWebsocketKeySha256,
        }
    }
}

/// One entry of `security.authorized_apps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedApp {
    /// Public identifier clients send in `Authenticate`.
    pub app_id: String,
    /// Kept for compatibility; never sent by clients and never checked.
    pub app_secret: String,
    /// Returned in `Authenticated.app_name`.
    pub app_name: String,
    /// Rooms this app's clients may have created at once.
    #[serde(default)]
    pub max_rooms: Option<u32>,
    /// Largest `max_players` this app's rooms may have.
    #[serde(default)]
    pub max_players_per_room: Option<u8>,
    /// Successful authentications per sliding minute, and the advertised rate limits.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
}

/// `auth.*` (accepted, unused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthCacheConfig {
    /// Unused.
    pub rate_limit_cache_cleanup_interval_secs: u64,
    /// Unused.
    pub rate_limit_cache_retention_secs: u64,
    /// Unused.
    pub rate_limit_cache_alert_rows: u64,
}

impl Default for AuthCacheConfig {
    fn default() -> Self {
        AuthCacheConfig {
            rate_limit_cache_cleanup_interval_secs: 300,
            rate_limit_cache_retention_secs: 172_800,
            rate_limit_cache_alert_rows: 100_000,
        }
    }
}

/// `coordination.*` (accepted, unused).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinationConfig {
    /// Unused.
    pub dedup_cache: DedupCacheConfig,
    /// Unused.
    pub membership_snapshot_interval_secs: u64,
}

/// `coordination.dedup_cache.*` (accepted, unused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupCacheConfig {
    /// Unused.
    pub capacity: usize,
    /// Unused.
    pub ttl_secs: u64,
    /// Unused.
    pub cleanup_interval_secs: u64,
}

impl Default for DedupCacheConfig {
    fn default() -> Self {
        DedupCacheConfig { capacity: 100_000, ttl_secs: 60, cleanup_interval_secs: 30 }
    }
}

/// `metrics.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Seconds between dashboard samples.
    pub dashboard_cache_refresh_interval_secs: u64,
    /// Age in seconds after which the dashboard is reported stale.
    pub dashboard_cache_ttl_secs: u64,
    /// Seconds of dashboard history kept.
    pub dashboard_cache_history_window_secs: u64,
    /// Which values each history sample records.
    pub dashboard_cache_history_fields: Vec<DashboardField>,
    /// Metrics responses rendered per second, all clients together; more requests get
    /// 429. Rendering runs on the engine's thread, so this bounds what a flood of
    /// metrics requests can take from game traffic.
    pub max_renders_per_second: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            dashboard_cache_refresh_interval_secs: 5,
            dashboard_cache_ttl_secs: 30,
            dashboard_cache_history_window_secs: 300,
            dashboard_cache_history_fields: vec![
                DashboardField::ActiveRooms,
                DashboardField::RoomsByGame,
                DashboardField::PlayerPercentiles,
                DashboardField::GamePercentiles,
            ],
            max_renders_per_second: 20,
        }
    }
}

/// `relay_types.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayTypesConfig {
    /// Label for games without a mapping.
    pub default_relay_type: String,
    /// Label per exact game name.
    pub game_relay_mappings: BTreeMap<String, String>,
}

impl Default for RelayTypesConfig {
    fn default() -> Self {
        RelayTypesConfig { default_relay_type: "matchbox".to_owned(), game_relay_mappings: BTreeMap::new() }
    }
}

/// `websocket.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Whether writes are coalesced (DECISIONS D20).
    pub enable_batching: bool,
    /// Most frames written in one go.
    pub batch_size: usize,
    /// Longest a frame waits to be coalesced, in milliseconds.
    pub batch_interval_ms: u64,
    /// Seconds a client has to authenticate when auth is required.
    pub auth_timeout_secs: u64,
    /// Bytes queued for one connection before it is closed as a slow consumer (D19).
    pub max_outbound_queue_bytes: usize,
    /// Bytes all connections together may hold in messages whose fragments have not all
    /// arrived; over it, the connections holding the most are closed (1013) first.
    pub unfinished_message_budget_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            enable_batching: true,
            batch_size: 10,
            batch_interval_ms: 16,
            auth_timeout_secs: 10,
            max_outbound_queue_bytes: 1 << 20,
            unfinished_message_budget_bytes: 64 << 20,
        }
    }
}

/// `mesh.*` — the matchbox full-mesh mode (DECISIONS D50, D51).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Whether the server listens on the mesh port. Off by default: the mode has no
    /// authentication, which is the matchbox protocol's own (D50).
    pub enabled: bool,
    /// The mesh port; `null` is the main port + 1, as the original serves it.
    pub port: Option<u16>,
    /// Peers in one room or `next` group at once; one more is refused (1008).
    pub max_peers_per_room: usize,
    /// Mesh rooms and groups that may exist at once; a peer that would open one more is
    /// refused (1013).
    pub max_rooms: usize,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig { enabled: false, port: None, max_peers_per_room: 32, max_rooms: 10_000 }
    }
}

impl MeshConfig {
    /// The port the mesh listens on when the main one is `main_port`: `port`, else
    /// `main_port + 1` (`None` when that overflows; validation refuses it).
    pub fn port_after(&self, main_port: u16) -> Option<u16> {
        match self.port {
            Some(port) => Some(port),
            None => main_port.checked_add(1),
        }
    }
}

/// `recorder.*` — the flight recorder: every event the engine steps, written to disk so
/// that `signal-fish-sim replay` reproduces the run (DECISIONS D57). Recordings hold
/// secrets (the engine's seed, reconnection tokens, payloads unless redacted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecorderConfig {
    /// Whether the server records. Off by default (`--record DIR` turns it on for a run).
    pub enabled: bool,
    /// The folder recordings are written to (created, mode 0700, if missing).
    pub dir: String,
    /// Bytes all recording files in `dir` may take together; the oldest are deleted to
    /// stay under it.
    pub max_bytes: u64,
    /// A file is closed and the next one started (with a fresh checkpoint) once it holds
    /// this many bytes.
    pub max_file_bytes: u64,
    /// Recording files kept in `dir` at most; the oldest are deleted beyond it.
    pub max_files: u32,
    /// Replace game-data payloads before they are recorded (replay then reproduces every
    /// action but payload bytes).
    pub redact_payloads: bool,
    /// Steps per digest record (what `replay --verify` checks against).
    pub digest_every: u32,
    /// Recorded bytes waiting for the disk at most; past it recording stops (the server
    /// goes on) rather than stall the server or lose events from a file's middle.
    pub max_pending_bytes: u64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            enabled: false,
            dir: "recordings".to_owned(),
            max_bytes: 1 << 30,
            max_file_bytes: 64 << 20,
            max_files: 64,
            redact_payloads: false,
            digest_every: 64,
            max_pending_bytes: 32 << 20,
        }
    }
}

/// `cluster.*` — cluster mode (DECISIONS D58). Off while `redis_url` is null: the
/// server is then one node on its own, exactly as without this section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The Redis (or Valkey) holding the room directory and carrying messages between
    /// nodes: `redis://host:port[/db]`, optionally with `user:password@`. Null: single node.
    pub redis_url: Option<String>,
    /// This node's name, unique in the cluster (letters, digits, `-`, `_`, `.`; at most
    /// 64). Null: generated at start.
    pub node_id: Option<String>,
    /// Prefix of every Redis key and channel, so several clusters can share one Redis.
    pub key_prefix: String,
    /// How long a node's claim on its rooms outlives its last heartbeat: a node killed
    /// without a shutdown frees its codes, and its peers learn it is gone, this long after.
    pub lease_ms: u64,
    /// How often a node renews its lease (at most a third of `lease_ms`).
    pub heartbeat_ms: u64,
    /// How long one Redis operation may take before the client gets an error.
    pub redis_timeout_ms: u64,
    /// At start with Redis unreachable: 0 fails at once with the error; more waits that
    /// many seconds for it (retrying with backoff) before failing.
    pub startup_wait_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            node_id: None,
            key_prefix: "signal-fish".to_owned(),
            lease_ms: 5_000,
            heartbeat_ms: 1_000,
            redis_timeout_ms: 1_000,
            startup_wait_secs: 0,
        }
    }
}

impl ClusterConfig {
    /// Whether cluster mode is on.
    pub fn enabled(&self) -> bool {
        self.redis_url.is_some()
    }

    /// `redis_url` as logs and errors may show it: its password replaced by `***`.
    pub fn redis_url_shown(&self) -> Option<String> {
        self.redis_url.as_deref().map(hide_password)
    }
}

/// `url` with the password of its `user:password@` part (if any) replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    match authority[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl Config {
    /// The transport-level message cap: frames above it close the connection (1009);
    /// frames between `max_message_size` and this get `MESSAGE_TOO_LARGE` and live on.
    pub fn hard_message_cap(&self) -> usize {
        self.security.max_message_size.saturating_mul(4).min(1 << 20).max(self.security.max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_is_shown_without_its_password() {
        for (url, shown) in [
            ("redis://u:s3cret@h:6379/2", "redis://u:***@h:6379/2"),
            ("redis://:s3cret@h:6379", "redis://:***@h:6379"),
            ("redis://u:p@ss@h", "redis://u:***@h"),
            ("redis://user@h:6379", "redis://user@h:6379"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("h:6379", "h:6379"),
        ] {
            let config = ClusterConfig { redis_url: Some(url.to_owned()), ..ClusterConfig::default() };
            assert_eq!(config.redis_url_shown().as_deref(), Some(shown), "{url}");
        }
        assert_eq!(ClusterConfig::default().redis_url_shown(), None);
    }

    #[test]
    fn empty_document_gives_seed_defaults() {
        let config: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.port, 3536);
        assert!(!config.security.require_websocket_auth);
        assert!(!config.security.require_metrics_auth);
        assert_eq!(config.security.cors_origins, "*");
        assert_eq!(config.websocket.auth_timeout_secs, 10);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = serde_json::from_str::<Config>(r#"{"server":{"ping_timout":5}}"#).unwrap_err();
        assert!(err.to_string().contains("ping_timout"), "{err}");
    }

    #[test]
    fn print_round_trip() {
        let config = Config::default();
        let text = serde_json::to_string_pretty(&config).unwrap();
        let back: Config = serde_json::from_str(&text).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn hard_cap_is_four_times_at_most_one_mebibyte() {
        let mut config = Config::default();
        assert_eq!(config.hard_message_cap(), 262_144);
        config.security.max_message_size = 1 << 20;
        assert_eq!(config.hard_message_cap(), 1 << 20);
    }
}
