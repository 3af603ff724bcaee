//! Configuration loading: files, environment overrides, errors that name the key.

use std::path::PathBuf;

use serde_json::{json, Value};
use signal_fish_server::config::{self, var_name, LoadError, LoadOptions};
use signal_fish_server::Config;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn options(vars: &[(&str, &str)]) -> LoadOptions {
    // A working directory without config.json.
    LoadOptions {
        working_dir: PathBuf::from("/nonexistent-signal-fish-dir"),
        env: env(vars),
        ..Default::default()
    }
}

/// A scratch directory unique to one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sfs-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every leaf key of the configuration with its default value.
fn leaves(value: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() && !is_map_key(prefix) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(v, &key, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn is_map_key(key: &str) -> bool {
    key.starts_with("protocol.sdk_compatibility.") || key == "relay_types.game_relay_mappings"
}

fn at<'a>(value: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(value, |v, k| &v[k])
}

/// A value for `key` different from `default`, as env text, and the JSON it must become.
fn changed(key: &str, default: &Value) -> (String, Value) {
    match (key, default) {
        ("logging.format", _) => ("TEXT".into(), json!("text")),
        ("logging.rotation", _) => ("Hourly".into(), json!("hourly")),
        ("security.transport.tls.client_auth", _) => ("optional".into(), json!("optional")),
        ("security.transport.token_binding.scheme", _) => {
            ("SEC_WEBSOCKET_KEY_SHA256".into(), json!("sec_websocket_key_sha256"))
        }
        ("metrics.dashboard_cache_history_fields", _) => {
            ("activerooms, RoomsByGame".into(), json!(["ActiveRooms", "RoomsByGame"]))
        }
        ("security.authorized_apps", _) => {
            let apps = json!([{"app_id":"g","app_secret":"s","app_name":"G","max_rooms":null,"max_players_per_room":null,"rate_limit_per_minute":5}]);
            (apps.to_string(), apps)
        }
        ("protocol.sdk_compatibility.minimum_versions", _) => {
            ("{\"x\":\"1.0.0\"}".into(), json!({"x":"1.0.0"}))
        }
        ("protocol.sdk_compatibility.recommended_versions", _) => ("{}".into(), json!({})),
        ("protocol.sdk_compatibility.capabilities", _) => ("{\"x\":[\"a\"]}".into(), json!({"x":["a"]})),
        ("protocol.sdk_compatibility.notes", _) => ("{\"x\":\"n\"}".into(), json!({"x":"n"})),
        ("relay_types.game_relay_mappings", _) => {
            ("{\"chess\":\"mirror\"}".into(), json!({"chess":"mirror"}))
        }
        ("mesh.port", _) => ("4000".into(), json!(4000)),
        (_, Value::Bool(b)) => ((!b).to_string(), json!(!b)),
        (_, Value::Number(n)) => {
            let n = n.as_u64().unwrap() + 1;
            (n.to_string(), json!(n))
        }
        (_, Value::String(s)) => (format!("{s}-x"), json!(format!("{s}-x"))),
        (_, Value::Null) => ("abc".into(), json!("abc")),
        (_, Value::Array(_)) => ("a, b".into(), json!(["a", "b"])),
        (key, other) => panic!("no test value for {key} = {other}"),
    }
}

#[test]
fn every_key_can_be_overridden_from_the_environment() {
    let defaults = serde_json::to_value(Config::default()).unwrap();
    let mut keys = Vec::new();
    leaves(&defaults, "", &mut keys);
    assert!(keys.len() > 60, "only {} keys found", keys.len());
    for (key, default) in keys {
        let (text, expected) = changed(&key, &default);
        let var = var_name(&key);
        let loaded = config::load_unvalidated(&options(&[(&var, &text)]))
            .unwrap_or_else(|e| panic!("{var}={text} failed: {e}"));
        let got = serde_json::to_value(&loaded.config).unwrap();
        assert_eq!(at(&got, &key), &expected, "{var}={text} did not reach {key}");
        // Nothing else moved.
        let mut reverted = got.clone();
        *key.split('.').fold(&mut reverted, |v, k| &mut v[k]) = default.clone();
        assert_eq!(reverted, defaults, "{var} changed other keys");
    }
}

#[test]
fn the_seeds_documented_variables_work() {
    let vars = [
        ("SIGNAL_FISH_PORT", "4000", "port", json!(4000)),
        ("SIGNAL_FISH_SERVER__DEFAULT_MAX_PLAYERS", "4", "server.default_max_players", json!(4)),
        ("SIGNAL_FISH_SERVER__PING_TIMEOUT", "45", "server.ping_timeout", json!(45)),
        ("SIGNAL_FISH_SERVER__ENABLE_RECONNECTION", "false", "server.enable_reconnection", json!(false)),
        ("SIGNAL_FISH_SERVER__REGION_ID", "eu-1", "server.region_id", json!("eu-1")),
        ("SIGNAL_FISH_RATE_LIMIT__TIME_WINDOW", "30", "rate_limit.time_window", json!(30)),
        ("SIGNAL_FISH_PROTOCOL__ROOM_CODE_LENGTH", "8", "protocol.room_code_length", json!(8)),
        (
            "SIGNAL_FISH_SECURITY__CORS_ORIGINS",
            "http://localhost:3000,http://localhost:5173",
            "security.cors_origins",
            json!("http://localhost:3000,http://localhost:5173"),
        ),
        ("SIGNAL_FISH_SECURITY__MAX_CONNECTIONS_PER_IP", "3", "security.max_connections_per_ip", json!(3)),
        ("SIGNAL_FISH_WEBSOCKET__BATCH_SIZE", "20", "websocket.batch_size", json!(20)),
        ("SIGNAL_FISH_WEBSOCKET__AUTH_TIMEOUT_SECS", "20", "websocket.auth_timeout_secs", json!(20)),
        // The original binary's spelling.
        ("SIGNAL_FISH__SERVER__MAX_ROOMS_PER_GAME", "7", "server.max_rooms_per_game", json!(7)),
    ];
    let all: Vec<(&str, &str)> = vars.iter().map(|(v, t, _, _)| (*v, *t)).collect();
    let loaded = config::load(&options(&all)).unwrap();
    let got = serde_json::to_value(&loaded.config).unwrap();
    for (var, _, key, expected) in &vars {
        assert_eq!(at(&got, key), expected, "{var}");
    }
    assert_eq!(loaded.describe(), format!("defaults + {} env overrides", vars.len()));
}

#[test]
fn bad_env_values_name_the_variable_the_key_and_what_is_accepted() {
    let cases = [
        ("SIGNAL_FISH_PORT", "http", &["SIGNAL_FISH_PORT", "\"http\"", "`port`", "non-negative integer"][..]),
        ("SIGNAL_FISH_PORT", "70000", &["port", "70000", "0 to 65535", "SIGNAL_FISH_PORT"]),
        (
            "SIGNAL_FISH_SERVER__ENABLE_RECONNECTION",
            "maybe",
            &["server.enable_reconnection", "true or false"],
        ),
        ("SIGNAL_FISH_LOGGING__FORMAT", "yaml", &["logging.format", "yaml", "json, text"]),
        (
            "SIGNAL_FISH_SERVER__PING_TIMOUT",
            "5",
            &["server.ping_timout", "not a configuration key", "ping_timeout"],
        ),
        (
            "SIGNAL_FISH_WEBSOCKET__AUTH_TIMEOUT_SECS",
            "2",
            &["websocket.auth_timeout_secs", "2", "at least 5", "SIGNAL_FISH_WEBSOCKET__AUTH_TIMEOUT_SECS"],
        ),
        ("SIGNAL_FISH_SECURITY__AUTHORIZED_APPS", "my-game", &["security.authorized_apps", "JSON array"]),
    ];
    for (var, value, needles) in cases {
        let err = config::load(&options(&[(var, value)])).expect_err(var).to_string();
        for needle in needles {
            assert!(err.contains(needle), "{var}={value}: {needle:?} missing from: {err}");
        }
    }
}

#[test]
fn file_errors_name_the_key_the_value_and_the_file() {
    let scratch = Scratch::new("file-errors");
    let cases = [
        (
            r#"{"server":{"ping_timeout":"30"}}"#,
            &["server.ping_timeout", "\"30\"", "non-negative integer", "config.json"][..],
        ),
        (r#"{"server":{"ping_timout":30}}"#, &["server", "ping_timout", "ping_timeout"]),
        (r#"{"logging":{"format":"yaml"}}"#, &["logging.format", "yaml", "json, text"]),
        (
            r#"{"security":{"require_metrics_auth":true}}"#,
            &["security.metrics_auth_token", "SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN"],
        ),
        (r#"{"port": 3536,}"#, &["config file config.json", "invalid JSON", "line 1"]),
        ("[1,2]", &["config file config.json", "JSON object"]),
    ];
    for (text, needles) in cases {
        scratch.write("config.json", text);
        let options = LoadOptions { working_dir: scratch.0.clone(), ..Default::default() };
        let err = config::load(&options).expect_err(text).to_string();
        for needle in needles {
            assert!(err.contains(needle), "{text}: {needle:?} missing from: {err}");
        }
    }
}

#[test]
fn env_overrides_the_file_and_a_named_file_must_exist() {
    let scratch = Scratch::new("precedence");
    scratch.write("config.json", r#"{"port": 4001, "server": {"default_max_players": 4}}"#);
    let named = scratch.write("other.json", r#"{"port": 4002}"#);
    let mut opts = LoadOptions { working_dir: scratch.0.clone(), ..Default::default() };
    assert_eq!(config::load(&opts).unwrap().config.port, 4001);
    opts.env = env(&[("SIGNAL_FISH_PORT", "4003")]);
    let loaded = config::load(&opts).unwrap();
    assert_eq!((loaded.config.port, loaded.config.server.default_max_players), (4003, 4));
    assert_eq!(loaded.describe(), "defaults + config file config.json + env SIGNAL_FISH_PORT");
    opts.env.clear();
    opts.config_path = Some(named);
    let loaded = config::load(&opts).unwrap();
    assert_eq!((loaded.config.port, loaded.config.server.default_max_players), (4002, 8));
    opts.config_path = Some(PathBuf::from("missing.json"));
    let err = config::load(&opts).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }));
    assert!(err.to_string().contains("missing.json"), "{err}");
    // SIGNAL_FISH_CONFIG_JSON is the lowest JSON source.
    let opts = LoadOptions {
        working_dir: scratch.0.clone(),
        env: env(&[("SIGNAL_FISH_CONFIG_JSON", r#"{"port": 1, "server": {"region_id": "inline"}}"#)]),
        ..Default::default()
    };
    let loaded = config::load(&opts).unwrap();
    assert_eq!((loaded.config.port, loaded.config.server.region_id.as_str()), (4001, "inline"));
}

#[test]
fn the_seeds_example_config_loads() {
    let scratch = Scratch::new("example");
    let path = scratch.write("example.json", include_str!("../config.example.json"));
    let opts = LoadOptions { config_path: Some(path), working_dir: scratch.0.clone(), ..Default::default() };
    let loaded = config::load(&opts).unwrap();
    assert_eq!(loaded.config.logging.format, signal_fish_core::config::LogFormat::Json);
    assert_eq!(loaded.config.security.authorized_apps[0].app_id, "my-game");
    assert_eq!(loaded.config.security.authorized_apps[0].rate_limit_per_minute, Some(60));
    assert_eq!(loaded.config.coordination.membership_snapshot_interval_secs, 30);
}

#[test]
fn printed_config_loads_back_identically() {
    let scratch = Scratch::new("roundtrip");
    let opts =
        options(&[("SIGNAL_FISH_SERVER__REGION_ID", "eu-west"), ("SIGNAL_FISH_LOGGING__LEVEL", "debug")]);
    let first = config::load(&opts).unwrap().config;
    let printed = signal_fish_server::cli::print_config(&first);
    let path = scratch.write("printed.json", &printed);
    let opts = LoadOptions { config_path: Some(path), working_dir: scratch.0.clone(), ..Default::default() };
    let second = config::load(&opts).unwrap().config;
    assert_eq!(first, second);
    assert_eq!(signal_fish_server::cli::print_config(&second), printed);
}
