//! [`Config::validate`]: every rule a configuration must satisfy before the server starts.
//!
//! Each error names the key, the offending value and what is accepted (DECISIONS D3).

use std::fmt;

use super::{AddressRange, ClientAuthMode, Config, ADDRESS_RANGE_FORMS};

/// One invalid configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `websocket.auth_timeout_secs`.
    pub key: String,
    /// The offending value as written in JSON.
    pub value: String,
    /// What the key accepts.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {} is invalid: expected {}", self.key, self.value, self.expected)
    }
}

/// Every invalid value found, in key order of the configuration reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

struct Checker {
    errors: Vec<ConfigError>,
}

impl Checker {
    fn fail(&mut self, key: &str, value: impl fmt::Display, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.to_owned(),
            value: value.to_string(),
            expected: expected.into(),
        });
    }

    fn range(&mut self, key: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.fail(key, value, format!("an integer from {min} to {max}"));
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| text.to_owned())
}

/// Most entries `security.trusted_proxies` may have (each connection is checked
/// against every entry).
const MAX_TRUSTED_PROXIES: usize = 1024;

/// Largest sane value for durations in seconds: one week.
const WEEK_SECS: u64 = 7 * 24 * 3600;

impl Config {
    /// Checks every rule; returns all violations at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut c = Checker { errors: Vec::new() };
        let s = &self.server;
        let p = &self.protocol;

        c.range(
            "server.default_max_players",
            u64::from(s.default_max_players),
            1,
            u64::from(p.max_players_limit.max(1)),
        );
        c.range("server.ping_timeout", s.ping_timeout, 1, WEEK_SECS);
        c.range("server.room_cleanup_interval", s.room_cleanup_interval, 1, WEEK_SECS);
        c.range("server.max_rooms_per_game", s.max_rooms_per_game as u64, 1, 10_000_000);
        c.range("server.empty_room_timeout", s.empty_room_timeout, 0, WEEK_SECS);
        c.range("server.inactive_room_timeout", s.inactive_room_timeout, 1, WEEK_SECS);
        c.range("server.reconnection_window", s.reconnection_window, 1, WEEK_SECS);
        c.range("server.event_buffer_size", s.event_buffer_size as u64, 1, 100_000);
        c.range("server.max_connections", s.max_connections as u64, 1, 10_000_000);
        c.range("server.max_rooms", s.max_rooms as u64, 1, 10_000_000);
        c.range("server.max_spectators_per_room", s.max_spectators_per_room as u64, 0, 100_000);
        if let Some(prefix) = &s.room_code_prefix {
            let trimmed = prefix.trim();
            if !trimmed.bytes().all(|b| b.is_ascii_alphanumeric()) {
                c.fail("server.room_code_prefix", quoted(prefix), "ASCII letters and digits only");
            } else if trimmed.len() >= p.room_code_length {
                c.fail(
                    "server.room_code_prefix",
                    quoted(prefix),
                    format!("fewer characters than protocol.room_code_length ({})", p.room_code_length),
                );
            }
        }

        c.range("rate_limit.time_window", self.rate_limit.time_window, 1, WEEK_SECS);
        // 0 would make every existing room impossible to join.
        c.range(
            "rate_limit.max_player_joins_per_room",
            u64::from(self.rate_limit.max_player_joins_per_room),
            1,
            u64::from(u32::MAX),
        );
        c.range("metrics.max_renders_per_second", u64::from(self.metrics.max_renders_per_second), 1, 10_000);

        c.range("protocol.max_game_name_length", p.max_game_name_length as u64, 1, 1024);
        c.range("protocol.room_code_length", p.room_code_length as u64, 4, 16);
        c.range("protocol.max_player_name_length", p.max_player_name_length as u64, 1, 256);
        c.range("protocol.max_players_limit", u64::from(p.max_players_limit), 1, 255);
        c.range("protocol.min_protocol_version", u64::from(p.min_protocol_version), 2, 3);
        c.range("protocol.max_protocol_version", u64::from(p.max_protocol_version), 2, 3);
        if p.max_protocol_version < p.min_protocol_version {
            c.fail(
                "protocol.max_protocol_version",
                p.max_protocol_version,
                format!("at least protocol.min_protocol_version ({})", p.min_protocol_version),
            );
        }
        let sdk = &p.sdk_compatibility;
        for (table, versions) in
            [("minimum_versions", &sdk.minimum_versions), ("recommended_versions", &sdk.recommended_versions)]
        {
            for (platform, version) in versions {
                if let Err(e) = semver::Version::parse(version) {
                    c.fail(
                        &format!("protocol.sdk_compatibility.{table}.{platform}"),
                        quoted(version),
                        format!("a semantic version like 1.2.3 ({e})"),
                    );
                }
                if platform.to_ascii_lowercase() != *platform {
                    c.fail(
                        &format!("protocol.sdk_compatibility.{table}"),
                        quoted(platform),
                        "lowercase platform names",
                    );
                }
            }
        }
        for symbol in &p.player_name_validation.allowed_symbols {
            if symbol.chars().count() != 1 {
                c.fail(
                    "protocol.player_name_validation.allowed_symbols",
                    quoted(symbol),
                    "single-character strings",
                );
            }
        }

        if let Some(level) = &self.logging.level {
            const LEVELS: [&str; 7] = ["trace", "debug", "info", "warn", "warning", "error", "err"];
            if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim())) {
                c.fail("logging.level", quoted(level), "one of trace, debug, info, warn, error, or null");
            }
        }
        if self.logging.enable_file_logging && self.logging.filename.trim().is_empty() {
            c.fail("logging.filename", quoted(&self.logging.filename), "a non-empty file name");
        }

        let sec = &self.security;
        if let Err(entry) = crate::http::CorsPolicy::parse(&sec.cors_origins) {
            c.fail(
                "security.cors_origins",
                quoted(&sec.cors_origins),
                format!(
                    "\"*\" or comma-separated origins like http://localhost:3000 (bad entry {})",
                    quoted(&entry)
                ),
            );
        }
        if sec.require_metrics_auth && sec.metrics_auth_token.as_deref().is_none_or(|t| t.trim().is_empty()) {
            c.fail(
                "security.metrics_auth_token",
                "null",
                "a token when security.require_metrics_auth is true (set SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN, or SIGNAL_FISH_SECURITY__REQUIRE_METRICS_AUTH=false)",
            );
        }
        c.range("security.max_message_size", sec.max_message_size as u64, 64, 1 << 20);
        c.range("security.max_connections_per_ip", sec.max_connections_per_ip as u64, 0, 10_000_000);
        if sec.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            c.fail(
                "security.trusted_proxies",
                format!("a list of {} entries", sec.trusted_proxies.len()),
                format!("at most {MAX_TRUSTED_PROXIES} entries (use CIDR ranges)"),
            );
        }
        for entry in &sec.trusted_proxies {
            if let Err(problem) = AddressRange::parse(entry) {
                c.fail(
                    "security.trusted_proxies",
                    quoted(entry),
                    format!("{ADDRESS_RANGE_FORMS} ({problem})"),
                );
            }
        }
        if sec.require_proxy_protocol && sec.trusted_proxies.is_empty() {
            c.fail(
                "security.require_proxy_protocol",
                "true",
                "false while security.trusted_proxies is empty (the PROXY header is read only from trusted proxies)",
            );
        }
        let tls = &sec.transport.tls;
        if tls.enabled {
            // The files themselves are read by the transport (feature `tls`), which
            // names the key and the file when one cannot be used.
            for (key, path) in [
                ("security.transport.tls.certificate_path", &tls.certificate_path),
                ("security.transport.tls.private_key_path", &tls.private_key_path),
            ] {
                if path.as_deref().is_none_or(str::is_empty) {
                    c.fail(key, "null", "the path of a PEM file when security.transport.tls.enabled is true");
                }
            }
            if tls.client_auth != ClientAuthMode::None
                && tls.client_ca_cert_path.as_deref().is_none_or(str::is_empty)
            {
                c.fail(
                    "security.transport.tls.client_ca_cert_path",
                    "null",
                    "the path of a PEM bundle of client CAs when security.transport.tls.client_auth is not \"none\"",
                );
            }
            if sec.require_proxy_protocol {
                c.fail(
                    "security.require_proxy_protocol",
                    "true",
                    "false while security.transport.tls.enabled is true (a PROXY header would come before the TLS handshake, which this server does not read)",
                );
            }
        }
        if sec.transport.token_binding.enabled {
            c.fail(
                "security.transport.token_binding.enabled",
                "true",
                "false: token binding is not supported",
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, app) in sec.authorized_apps.iter().enumerate() {
            let key = format!("security.authorized_apps[{i}]");
            if app.app_id.is_empty() {
                c.fail(&format!("{key}.app_id"), "\"\"", "a non-empty application id");
            } else if !seen.insert(app.app_id.as_str()) {
                c.fail(&format!("{key}.app_id"), quoted(&app.app_id), "an app_id not listed before");
            }
            if app.rate_limit_per_minute == Some(0) {
                c.fail(&format!("{key}.rate_limit_per_minute"), 0, "at least 1, or null for no limit");
            }
            if app.max_rooms == Some(0) {
                c.fail(&format!("{key}.max_rooms"), 0, "at least 1, or null for no limit");
            }
            if app.max_players_per_room == Some(0) {
                c.fail(&format!("{key}.max_players_per_room"), 0, "at least 1, or null for no limit");
            }
        }

        let m = &self.metrics;
        c.range(
            "metrics.dashboard_cache_refresh_interval_secs",
            m.dashboard_cache_refresh_interval_secs,
            1,
            WEEK_SECS,
        );
        c.range("metrics.dashboard_cache_ttl_secs", m.dashboard_cache_ttl_secs, 0, WEEK_SECS);
        c.range(
            "metrics.dashboard_cache_history_window_secs",
            m.dashboard_cache_history_window_secs,
            0,
            WEEK_SECS,
        );

        let w = &self.websocket;
        c.range("websocket.batch_size", w.batch_size as u64, 1, 1024);
        c.range("websocket.batch_interval_ms", w.batch_interval_ms, 1, 1000);
        if w.auth_timeout_secs < 5 {
            c.fail(
                "websocket.auth_timeout_secs",
                w.auth_timeout_secs,
                "at least 5 seconds (an integer from 5 to 60)",
            );
        } else if w.auth_timeout_secs > 60 {
            c.fail(
                "websocket.auth_timeout_secs",
                w.auth_timeout_secs,
                "at most 60 seconds (an integer from 5 to 60)",
            );
        }
        c.range("websocket.max_outbound_queue_bytes", w.max_outbound_queue_bytes as u64, 4096, 1 << 30);
        c.range(
            "websocket.unfinished_message_budget_bytes",
            w.unfinished_message_budget_bytes as u64,
            65_536,
            1 << 40,
        );

        let mesh = &self.mesh;
        c.range("mesh.max_peers_per_room", mesh.max_peers_per_room as u64, 2, 1024);
        c.range("mesh.max_rooms", mesh.max_rooms as u64, 1, 10_000_000);
        if mesh.enabled {
            match mesh.port_after(self.port) {
                None => c.fail("mesh.port", "null", "a port: `port` + 1 is above 65535, so set mesh.port"),
                Some(port) if port == self.port && port != 0 => {
                    c.fail("mesh.port", port, "a port other than `port` (the main port)")
                }
                Some(_) => {}
            }
        }

        let recorder = &self.recorder;
        c.range("recorder.max_file_bytes", recorder.max_file_bytes, 1 << 16, 1 << 32);
        c.range("recorder.max_bytes", recorder.max_bytes, 1 << 16, 1 << 50);
        if recorder.max_bytes < recorder.max_file_bytes {
            c.fail(
                "recorder.max_bytes",
                recorder.max_bytes,
                "at least recorder.max_file_bytes (one whole file)",
            );
        }
        c.range("recorder.max_files", u64::from(recorder.max_files), 1, 1_000_000);
        c.range("recorder.digest_every", u64::from(recorder.digest_every), 1, 65_536);
        c.range("recorder.max_pending_bytes", recorder.max_pending_bytes, 1 << 20, 1 << 32);
        if recorder.enabled && recorder.dir.trim().is_empty() {
            c.fail("recorder.dir", "\"\"", "a folder path (relative to the working directory, or absolute)");
        }

        validate_cluster(&self.cluster, &mut c);

        if c.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(c.errors))
        }
    }

    /// Settings that are allowed but probably a mistake, as human-readable lines.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let sec = &self.security;
        if sec.require_websocket_auth && sec.authorized_apps.is_empty() {
            out.push(
                "security.require_websocket_auth is true but security.authorized_apps is empty: every client will be rejected"
                    .to_owned(),
            );
        }
        if sec.require_metrics_auth && sec.metrics_auth_token.as_deref().is_some_and(|t| t.len() < 16) {
            out.push("security.metrics_auth_token is shorter than 16 characters".to_owned());
        }
        if sec.max_connections_per_ip == 0 {
            out.push("security.max_connections_per_ip is 0: every connection will be rejected".to_owned());
        }
        out
    }
}

/// `cluster.*`: the URL's shape (the shell connects), the node id's characters, and
/// timings that leave a lease several heartbeats to be renewed in.
fn validate_cluster(cluster: &super::ClusterConfig, c: &mut Checker) {
    if let Some(url) = &cluster.redis_url {
        if let Err(problem) = redis_url_problem(url) {
            c.fail(
                "cluster.redis_url",
                quoted(&super::hide_password(url)),
                format!("{problem}: redis://[user:password@]host:port[/db], or null for a single node"),
            );
        }
    }
    if let Some(id) = &cluster.node_id {
        let fine = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !fine {
            c.fail(
                "cluster.node_id",
                quoted(id),
                "1 to 64 letters, digits, `-`, `_` or `.`, or null to generate one",
            );
        }
    }
    let prefix = &cluster.key_prefix;
    if prefix.is_empty()
        || prefix.len() > 64
        || prefix.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    {
        c.fail("cluster.key_prefix", quoted(prefix), "1 to 64 characters, no spaces");
    }
    c.range("cluster.lease_ms", cluster.lease_ms, 1_000, 600_000);
    c.range("cluster.heartbeat_ms", cluster.heartbeat_ms, 100, 200_000);
    if cluster.heartbeat_ms.saturating_mul(3) > cluster.lease_ms {
        c.fail(
            "cluster.heartbeat_ms",
            cluster.heartbeat_ms,
            format!("at most a third of cluster.lease_ms ({})", cluster.lease_ms / 3),
        );
    }
    c.range("cluster.redis_timeout_ms", cluster.redis_timeout_ms, 10, 60_000);
    // One slow operation holds up the heartbeat behind it: it must leave the lease
    // time for a heartbeat after it.
    if cluster.redis_timeout_ms.saturating_mul(3) > cluster.lease_ms {
        c.fail(
            "cluster.redis_timeout_ms",
            cluster.redis_timeout_ms,
            format!("at most a third of cluster.lease_ms ({})", cluster.lease_ms / 3),
        );
    }
    c.range("cluster.startup_wait_secs", cluster.startup_wait_secs, 0, 3_600);
}

/// What is wrong with a Redis URL, if anything (the shape only; reaching it is the
/// shell's business).
fn redis_url_problem(url: &str) -> Result<(), &'static str> {
    let rest = url.strip_prefix("redis://").ok_or("not a redis:// URL")?;
    // Query parameters (`?protocol=resp3`) are the client library's to judge.
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (authority, db) = match rest.split_once('/') {
        Some((authority, db)) => (authority, Some(db)),
        None => (rest, None),
    };
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:6379`.
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or("an IPv6 host without its closing ]")?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or("text after the IPv6 host's ]")?)),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("no host");
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err("the port is not 1 to 65535");
        }
    }
    if let Some(db) = db {
        if !db.is_empty() && db.parse::<u16>().is_err() {
            return Err("the database is not a number");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(config: &Config) -> Vec<ConfigError> {
        config.validate().err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn auth_timeout_bounds_name_key_and_value() {
        let mut config = Config::default();
        config.websocket.auth_timeout_secs = 3;
        let errors = errors_of(&config);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "websocket.auth_timeout_secs");
        assert_eq!(errors[0].value, "3");
        assert!(errors[0].to_string().contains("at least 5"));
        config.websocket.auth_timeout_secs = 61;
        assert!(errors_of(&config)[0].expected.contains("at most 60"));
    }

    #[test]
    fn metrics_auth_without_token_is_an_error() {
        let mut config = Config::default();
        config.security.require_metrics_auth = true;
        assert_eq!(errors_of(&config)[0].key, "security.metrics_auth_token");
        config.security.metrics_auth_token = Some("a-long-enough-secret-token".into());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn default_above_limit_is_an_error() {
        let mut config = Config::default();
        config.server.default_max_players = 9;
        config.protocol.max_players_limit = 8;
        assert_eq!(errors_of(&config)[0].key, "server.default_max_players");
    }

    #[test]
    fn a_room_must_admit_at_least_one_player_per_window() {
        let mut config = Config::default();
        config.rate_limit.max_player_joins_per_room = 0;
        let errors = config.validate().unwrap_err().0;
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "rate_limit.max_player_joins_per_room");
        config.rate_limit.max_player_joins_per_room = 1;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn token_binding_is_refused_and_tls_needs_its_files() {
        let mut config = Config::default();
        config.security.transport.tls.enabled = true;
        config.security.transport.tls.certificate_path = Some("cert.pem".into());
        config.security.transport.tls.private_key_path = Some("key.pem".into());
        config.security.transport.token_binding.enabled = true;
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["security.transport.token_binding.enabled"]);

        let mut config = Config::default();
        config.security.transport.tls.enabled = true;
        config.security.transport.tls.client_auth = ClientAuthMode::Require;
        config.security.require_proxy_protocol = true;
        config.security.trusted_proxies = vec!["10.0.0.0/8".into()];
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "security.transport.tls.certificate_path",
                "security.transport.tls.private_key_path",
                "security.transport.tls.client_ca_cert_path",
                "security.require_proxy_protocol"
            ]
        );
    }

    #[test]
    fn bad_semver_and_symbols_and_prefix() {
        let mut config = Config::default();
        config.protocol.sdk_compatibility.minimum_versions.insert("godot".into(), "1.x".into());
        config.protocol.player_name_validation.allowed_symbols.push("ab".into());
        config.server.room_code_prefix = Some("ABCDEF".into());
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "server.room_code_prefix",
                "protocol.sdk_compatibility.minimum_versions.godot",
                "protocol.player_name_validation.allowed_symbols"
            ]
        );
    }

    #[test]
    fn protocol_versions_are_2_or_3_and_ordered() {
        let mut config = Config::default();
        config.protocol.min_protocol_version = 3;
        config.protocol.max_protocol_version = 2;
        let errors = errors_of(&config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            "protocol.max_protocol_version = 2 is invalid: expected at least protocol.min_protocol_version (3)"
        );
        config.protocol.min_protocol_version = 1;
        config.protocol.max_protocol_version = 4;
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["protocol.min_protocol_version", "protocol.max_protocol_version"]);
        config.protocol.min_protocol_version = 3;
        config.protocol.max_protocol_version = 3;
        assert!(errors_of(&config).is_empty());
    }

    #[test]
    fn duplicate_app_ids_and_bad_cors() {
        let mut config = Config::default();
        let app = super::super::AuthorizedApp {
            app_id: "g".into(),
            app_secret: "s".into(),
            app_name: "G".into(),
            max_rooms: None,
            max_players_per_room: None,
            rate_limit_per_minute: Some(0),
        };
        config.security.authorized_apps = vec![app.clone(), app];
        config.security.cors_origins = "http://ok.example, not a url".into();
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "security.cors_origins",
                "security.authorized_apps[0].rate_limit_per_minute",
                "security.authorized_apps[1].app_id",
                "security.authorized_apps[1].rate_limit_per_minute"
            ]
        );
    }

    #[test]
    fn trusted_proxies_name_the_bad_entry_and_what_is_accepted() {
        let mut config = Config::default();
        config.security.trusted_proxies = vec!["10.0.0.0/8".into(), "2001:db8::/32".into(), "::1".into()];
        assert!(config.validate().is_ok());
        config.security.trusted_proxies.push("proxy.example".into());
        config.security.trusted_proxies.push("10.1.0.0/8".into());
        let errors = errors_of(&config);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].key, "security.trusted_proxies");
        assert_eq!(errors[0].value, "\"proxy.example\"");
        assert!(errors[0].expected.contains("CIDR range (10.0.0.0/8"), "{}", errors[0]);
        assert_eq!(errors[1].value, "\"10.1.0.0/8\"");
        let host_bits = &errors[1].expected;
        assert!(host_bits.contains("host bits are set; the range is written 10.0.0.0/8"), "{host_bits}");
        config.security.trusted_proxies = vec!["192.0.2.1".into(); MAX_TRUSTED_PROXIES + 1];
        let errors = errors_of(&config);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].expected.contains("at most 1024 entries"), "{}", errors[0]);
    }

    #[test]
    fn proxy_protocol_needs_trusted_proxies() {
        let mut config = Config::default();
        config.security.require_proxy_protocol = true;
        let errors = errors_of(&config);
        assert_eq!(errors[0].key, "security.require_proxy_protocol");
        assert!(errors[0].expected.contains("security.trusted_proxies is empty"));
        config.security.trusted_proxies = vec!["127.0.0.1".into()];
        assert!(config.validate().is_ok());
        assert_eq!(config.security.trusted_proxy_ranges(), ["127.0.0.1".parse().unwrap()]);
    }

    #[test]
    fn mesh_bounds_and_port() {
        let mut config = Config::default();
        config.mesh.max_peers_per_room = 1;
        config.mesh.max_rooms = 0;
        let keys: Vec<String> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["mesh.max_peers_per_room", "mesh.max_rooms"]);
        let mut config = Config::default();
        config.mesh.enabled = true;
        assert!(config.validate().is_ok());
        assert_eq!(config.mesh.port_after(config.port), Some(3537));
        config.port = u16::MAX;
        assert_eq!(errors_of(&config)[0].key, "mesh.port");
        config.mesh.port = Some(u16::MAX);
        assert!(errors_of(&config)[0].expected.contains("other than `port`"));
        config.mesh.port = Some(4000);
        assert!(config.validate().is_ok());
        // Disabled, the port is not checked.
        config.mesh = crate::config::MeshConfig { port: Some(u16::MAX), ..Default::default() };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn recorder_bounds_name_their_keys() {
        let mut config = Config::default();
        config.recorder.max_file_bytes = 1000;
        config.recorder.digest_every = 0;
        config.recorder.enabled = true;
        config.recorder.dir = " ".to_owned();
        let keys: Vec<String> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["recorder.max_file_bytes", "recorder.digest_every", "recorder.dir"]);
        let mut config = Config::default();
        config.recorder.max_bytes = 2 << 20;
        config.recorder.max_file_bytes = 4 << 20;
        let errors = errors_of(&config);
        assert_eq!(errors[0].key, "recorder.max_bytes");
        assert!(errors[0].to_string().contains("at least recorder.max_file_bytes"), "{}", errors[0]);
    }

    #[test]
    fn cluster_keys_name_what_is_accepted() {
        let mut config = Config::default();
        assert!(config.validate().is_ok());
        for good in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://u:p@h:1/3",
            "redis://h:6379/",
            "redis://[::1]:6379",
            "redis://[::1]",
            "redis://u:p@[::1]:6379/2",
            "redis://h:6379/0?protocol=resp3",
        ] {
            config.cluster.redis_url = Some(good.to_owned());
            assert!(config.validate().is_ok(), "{good}");
        }
        for bad in [
            "http://h:1",
            "redis://",
            "redis://h:0",
            "redis://h:99999",
            "redis://h:1/x",
            "h:6379",
            "redis://[::1",
            "redis://[::1]6379",
            "redis://[]:6379",
            "redis://[::1]:0",
        ] {
            config.cluster.redis_url = Some(bad.to_owned());
            let errors = errors_of(&config);
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].key, "cluster.redis_url");
            assert!(errors[0].to_string().contains("redis://[user:password@]host:port"), "{}", errors[0]);
        }
        // The password never shows, not even in the error about its URL.
        config.cluster.redis_url = Some("redis://u:s3cret@h:99999".to_owned());
        let error = errors_of(&config)[0].to_string();
        assert!(error.contains("redis://u:***@h:99999") && !error.contains("s3cret"), "{error}");
        config.cluster.redis_url = None;
        config.cluster.node_id = Some("node a".to_owned());
        config.cluster.lease_ms = 2_000;
        config.cluster.heartbeat_ms = 1_000;
        config.cluster.redis_timeout_ms = 500;
        config.cluster.key_prefix = String::new();
        let keys: Vec<_> = errors_of(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["cluster.node_id", "cluster.key_prefix", "cluster.heartbeat_ms"]);
        let mut config = Config::default();
        config.cluster.lease_ms = 2_000;
        config.cluster.heartbeat_ms = 500;
        config.cluster.redis_timeout_ms = 700;
        let errors = errors_of(&config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "cluster.redis_timeout_ms");
        assert!(errors[0].to_string().contains("at most a third of cluster.lease_ms (666)"), "{}", errors[0]);
        config.cluster.redis_timeout_ms = 666;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn warnings_for_auth_without_apps() {
        let mut config = Config::default();
        config.security.require_websocket_auth = true;
        assert_eq!(config.warnings().len(), 1);
    }
}
