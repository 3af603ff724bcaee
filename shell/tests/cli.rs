//! The binary as a user runs it: flags, exit codes, outputs, and a signal-driven
//! shutdown.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::child::{command, wait_for_listening, Scratch};
use support::Client;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command(dir, args, env).output().expect("run binary");
    (
        status.code().expect("exit code"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn version_help_and_usage_errors() {
    let scratch = Scratch::new("flags");
    let (code, out, _) = run(&scratch.0, &["--version"], &[]);
    assert_eq!((code, out.trim()), (0, format!("signal-fish-server {}", env!("CARGO_PKG_VERSION")).as_str()));
    assert_eq!(run(&scratch.0, &["-V"], &[]).0, 0);
    let (code, out, _) = run(&scratch.0, &["--help"], &[]);
    assert_eq!(code, 0);
    for needle in
        ["--validate-config", "--print-config", "--config", "SIGNAL_FISH_", "config.json", "RUST_LOG"]
    {
        assert!(out.contains(needle), "help lacks {needle}");
    }
    assert_eq!(run(&scratch.0, &["-h"], &[]).0, 0);
    let (code, _, err) = run(&scratch.0, &["--validate-config", "--print-config"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = run(&scratch.0, &["--no-such-flag"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--no-such-flag"), "{err}");
}

#[test]
fn validate_config_reports_a_summary_or_the_bad_key() {
    let scratch = Scratch::new("validate");
    let (code, out, _) = run(&scratch.0, &["-c"], &[("SIGNAL_FISH_SERVER__REGION_ID", "eu-1")]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Configuration validation passed\n\nConfiguration summary:\n  Port: 3536\n  Storage backend: InMemory\n  TLS enabled: false\n  Metrics auth required: false\n  Reconnection enabled: true\n  Max players per room: 8\n  Deployment region: eu-1\n"
    );
    let (code, out, err) =
        run(&scratch.0, &["--validate-config"], &[("SIGNAL_FISH_WEBSOCKET__AUTH_TIMEOUT_SECS", "99")]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("Configuration validation failed:\n"), "{err}");
    assert!(err.contains("websocket.auth_timeout_secs = 99") && err.contains("at most 60"), "{err}");
    std::fs::write(scratch.0.join("config.json"), r#"{"security":{"max_message_size":"big"}}"#).unwrap();
    let (code, _, err) = run(&scratch.0, &["-c"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("security.max_message_size") && err.contains("\"big\""), "{err}");
}

#[test]
fn print_config_round_trips_through_a_file() {
    let scratch = Scratch::new("print");
    let env = [
        ("SIGNAL_FISH_SERVER__DEFAULT_MAX_PLAYERS", "4"),
        ("SIGNAL_FISH_SECURITY__CORS_ORIGINS", "http://a.example,http://b.example"),
    ];
    let (code, printed, _) = run(&scratch.0, &["--print-config"], &env);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(value["server"]["default_max_players"], 4);
    assert_eq!(value["security"]["metrics_auth_token"], serde_json::Value::Null);
    assert!(printed.contains("\n  \"port\": 3536,\n"), "two-space indent expected:\n{printed}");
    std::fs::write(scratch.0.join("printed.json"), &printed).unwrap();
    let (code, again, _) = run(&scratch.0, &["--print-config", "--config", "printed.json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(again, printed);
    // An invalid but well-typed config still prints (no validation gate) ...
    let (code, _, _) =
        run(&scratch.0, &["--print-config"], &[("SIGNAL_FISH_WEBSOCKET__AUTH_TIMEOUT_SECS", "1")]);
    assert_eq!(code, 0);
    // ... but an ill-typed one cannot.
    let (code, _, err) = run(&scratch.0, &["--print-config"], &[("SIGNAL_FISH_PORT", "x")]);
    assert_eq!(code, 1);
    assert!(err.contains("SIGNAL_FISH_PORT"), "{err}");
}

#[test]
fn a_bad_config_stops_start_up_with_exit_1() {
    let scratch = Scratch::new("badstart");
    let (code, _, err) = run(&scratch.0, &[], &[("SIGNAL_FISH_SECURITY__REQUIRE_METRICS_AUTH", "true")]);
    assert_eq!(code, 1);
    assert!(err.starts_with("Error: ") && err.contains("security.metrics_auth_token"), "{err}");
    let (code, _, err) = run(&scratch.0, &["--config", "nope.json"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.json"), "{err}");
    // A malformed Redis URL names the key and the form it takes.
    let (code, _, err) =
        run(&scratch.0, &["--validate-config"], &[("SIGNAL_FISH_CLUSTER__REDIS_URL", "http://x")]);
    assert_eq!(code, 1);
    assert!(err.contains("cluster.redis_url") && err.contains("redis://[user:password@]host:port"), "{err}");
    // A well-formed one nobody answers on stops start-up naming it (cluster.startup_wait_secs
    // is 0 by default: fail fast).
    let env = [("SIGNAL_FISH_PORT", "0"), ("SIGNAL_FISH_CLUSTER__REDIS_URL", "redis://127.0.0.1:1")];
    let (code, _, err) = run(&scratch.0, &[], &env);
    assert_eq!(code, 1);
    assert!(err.contains("cannot join the cluster through redis://127.0.0.1:1"), "{err}");
}

#[test]
fn sigterm_closes_connections_with_1001_and_exits_0() {
    let scratch = Scratch::new("sigterm");
    let env = [("SIGNAL_FISH_PORT", "0"), ("SIGNAL_FISH_LOGGING__DIR", "my-logs")];
    let mut child = command(&scratch.0, &[], &env).stdout(Stdio::piped()).spawn().unwrap();
    let (addr, lines) = wait_for_listening(&mut child);

    let health = support::http(addr, "GET", "/v2/health", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    let mut client = Client::connect_from(addr, "/v2/ws", None);
    client.join("demo", "Alice", None);

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (code, _) = client.expect_close();
    assert_eq!(code, 1001);

    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
    let log: Vec<String> = lines.try_iter().collect();
    assert!(log.iter().any(|l| l.contains("SIGTERM")), "{log:?}");
    // JSON lines on stdout, and the same lines in the day's log file.
    for line in &log {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["level"].is_string() && value["fields"]["message"].is_string(), "{line}");
    }
    let files: Vec<_> =
        std::fs::read_dir(scratch.0.join("my-logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("server.log.20") && name.len() == "server.log.2026-01-01".len(), "{name}");
    let written = std::fs::read_to_string(&files[0]).unwrap();
    assert!(written.contains("listening on") && written.contains("SIGTERM"), "{written}");
}

#[test]
fn text_logs_and_rust_log_filter() {
    let scratch = Scratch::new("textlog");
    let env = [
        ("SIGNAL_FISH_PORT", "0"),
        ("SIGNAL_FISH_LOGGING__FORMAT", "text"),
        ("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false"),
        ("RUST_LOG", "signal_fish_server=debug"),
    ];
    let mut child = command(&scratch.0, &[], &env).stdout(Stdio::piped()).spawn().unwrap();
    let (addr, lines) = wait_for_listening(&mut child);
    let mut client = Client::connect_from(addr, "/v2/ws", None);
    client.join("demo", "Alice", None);
    drop(client);
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let log: Vec<String> = lines.try_iter().collect();
    assert!(log.iter().all(|l| !l.starts_with('{')), "text lines expected: {log:?}");
    // RUST_LOG=debug shows connection events; nothing per message.
    assert!(log.iter().any(|l| l.contains("DEBUG") && l.contains("websocket opened")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("JoinRoom")), "{log:?}");
    assert!(!scratch.0.join("logs").exists());
}

#[test]
fn trusted_proxies_come_from_a_comma_separated_variable_and_bad_entries_stop_the_server() {
    let scratch = Scratch::new("proxies");
    let env = [
        ("SIGNAL_FISH_SECURITY__TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::/32,127.0.0.1"),
        ("SIGNAL_FISH_SECURITY__REQUIRE_PROXY_PROTOCOL", "true"),
    ];
    let (code, printed, _) = run(&scratch.0, &["--print-config"], &env);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        value["security"]["trusted_proxies"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"])
    );
    assert_eq!(value["security"]["require_proxy_protocol"], true);
    assert_eq!(run(&scratch.0, &["-c"], &env).0, 0);
    // Defaults: nobody trusted, no PROXY protocol.
    let (_, printed, _) = run(&scratch.0, &["--print-config"], &[]);
    let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(value["security"]["trusted_proxies"], serde_json::json!([]));
    assert_eq!(value["security"]["require_proxy_protocol"], false);
    // A bad entry names the key, the value and what is accepted; the server does not start.
    let bad = [("SIGNAL_FISH_SECURITY__TRUSTED_PROXIES", "10.0.0.0/8,proxy.example")];
    for args in [&["-c"][..], &[]] {
        let (code, _, err) = run(&scratch.0, args, &bad);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("security.trusted_proxies") && err.contains("\"proxy.example\""), "{err}");
        assert!(err.contains("CIDR range (10.0.0.0/8, 2001:db8::/32)"), "{err}");
    }
    // The PROXY protocol without trusted proxies is a mistake.
    let (code, _, err) = run(&scratch.0, &["-c"], &[("SIGNAL_FISH_SECURITY__REQUIRE_PROXY_PROTOCOL", "on")]);
    assert_eq!(code, 1);
    assert!(err.contains("security.require_proxy_protocol"), "{err}");
}

#[test]
fn tls_and_token_binding_settings_stop_the_server_with_the_key_named() {
    // DECISIONS D31: no plain-text server that looks secure. Without the `tls` feature,
    // enabling TLS names the key and says how to build with it; with the feature,
    // enabling it without its files names the missing ones.
    let scratch = Scratch::new("tls-refused");
    let tls_key = if cfg!(feature = "tls") {
        "security.transport.tls.certificate_path"
    } else {
        "security.transport.tls.enabled"
    };
    for (variable, key) in [
        ("SIGNAL_FISH_SECURITY__TRANSPORT__TLS__ENABLED", tls_key),
        (
            "SIGNAL_FISH_SECURITY__TRANSPORT__TOKEN_BINDING__ENABLED",
            "security.transport.token_binding.enabled",
        ),
    ] {
        let env = [(variable, "true"), ("SIGNAL_FISH_PORT", "0")];
        // Validating, and starting (as `a_bad_config_stops_start_up_with_exit_1` does).
        for args in [&["-c"][..], &[][..]] {
            let (code, _, err) = run(&scratch.0, args, &env);
            assert_eq!(code, 1, "{args:?} with {variable}=true: {err}");
            assert!(err.contains(key), "{args:?}: the error names {key}: {err}");
            if key == "security.transport.tls.enabled" {
                assert!(err.contains("--features tls"), "says how to build with TLS: {err}");
            }
        }
    }
}
