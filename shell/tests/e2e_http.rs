//! End to end over real sockets: health and metrics endpoints, status codes, content
//! types, CORS, metrics authentication, keep-alive and malformed requests.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{http, http_raw, parse_reply, test_config, TestServer, IO_TIMEOUT};

const PROM: &str = "text/plain; version=0.0.4; charset=utf-8";

#[test]
fn health_metrics_and_fallback_routes() {
    let server = TestServer::start(test_config());
    let health = http(server.addr, "GET", "/v2/health", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    assert_eq!(health.header("content-type"), Some("text/plain; charset=utf-8"));

    for path in ["/metrics", "/v1/metrics", "/v2/metrics"] {
        let reply = http(server.addr, "GET", path, &[]);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"), "{path}");
        let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert!(json["serverMetrics"]["connections"]["total"].is_u64(), "{path}: {json}");
        assert_eq!(json["timeRange"], "1h");
    }
    let snapshot = http(server.addr, "GET", "/metrics?includeSnapshot=true&time_range=24h", &[]);
    let json: serde_json::Value = serde_json::from_str(&snapshot.body).unwrap();
    assert!(json["metricsSnapshot"].is_object());
    assert_eq!(json["timeRange"], "24h");
    let bad = http(server.addr, "GET", "/metrics?includeSnapshot=abc", &[]);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("abc"));

    for path in ["/metrics/prom", "/v1/metrics/prom", "/v2/metrics/prom"] {
        let reply = http(server.addr, "GET", path, &[]);
        assert_eq!((reply.status, reply.header("content-type")), (200, Some(PROM)), "{path}");
        assert!(reply.body.contains("# TYPE signal_fish_connections_total counter\n"), "{path}");
    }

    let fallback = http(server.addr, "GET", "/health", &[]);
    assert_eq!(fallback.status, 200);
    assert!(fallback.body.starts_with("Signal Fish Server. Use /v2/ws"));
    let not_upgrade = http(server.addr, "GET", "/v2/ws", &[]);
    assert_eq!(not_upgrade.status, 400);
    let wrong_method = http(server.addr, "POST", "/v2/health", &[]);
    assert_eq!((wrong_method.status, wrong_method.header("allow")), (405, Some("GET,HEAD")));
}

#[test]
fn head_sends_the_length_but_no_body() {
    let server = TestServer::start(test_config());
    let reply = http(server.addr, "HEAD", "/v2/health", &[]);
    assert_eq!((reply.status, reply.header("content-length"), reply.body.as_str()), (200, Some("2"), ""));
    let prom = http(server.addr, "HEAD", "/metrics/prom", &[]);
    assert!(prom.header("content-length").unwrap().parse::<usize>().unwrap() > 1000);
    assert!(prom.body.is_empty());
}

#[test]
fn cors_permissive_by_default_and_preflight() {
    let server = TestServer::start(test_config());
    let reply = http(server.addr, "GET", "/v2/health", &[("Origin", "http://game.example")]);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-expose-headers"), Some("*"));
    let preflight = http(
        server.addr,
        "OPTIONS",
        "/metrics",
        &[("Origin", "http://game.example"), ("Access-Control-Request-Method", "GET")],
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-methods"), Some("*"));
    assert_eq!(preflight.header("access-control-allow-headers"), Some("*"));
}

#[test]
fn cors_list_echoes_only_listed_origins() {
    let mut config = test_config();
    config.security.cors_origins = "http://a.example, http://b.example:8080".into();
    let server = TestServer::start(config);
    let hit = http(server.addr, "GET", "/v2/health", &[("Origin", "http://b.example:8080")]);
    assert_eq!(hit.header("access-control-allow-origin"), Some("http://b.example:8080"));
    let miss = http(server.addr, "GET", "/v2/health", &[("Origin", "http://evil.example")]);
    assert_eq!(miss.status, 200);
    assert_eq!(miss.header("access-control-allow-origin"), None);
    assert!(miss.header("vary").unwrap().contains("origin"));
}

#[test]
fn metrics_auth_protects_metrics_but_not_health() {
    let mut config = test_config();
    config.security.require_metrics_auth = true;
    config.security.metrics_auth_token = Some("a-long-metrics-token-123".into());
    let server = TestServer::start(config);
    for path in ["/metrics", "/v1/metrics", "/metrics/prom", "/v1/metrics/prom"] {
        let none = http(server.addr, "GET", path, &[]);
        assert_eq!((none.status, none.body.as_str()), (401, ""), "{path}");
        let wrong = http(server.addr, "GET", path, &[("Authorization", "Bearer nope")]);
        assert_eq!(wrong.status, 401, "{path}");
        let scheme = http(server.addr, "GET", path, &[("Authorization", "bearer a-long-metrics-token-123")]);
        assert_eq!(scheme.status, 401, "{path}: the scheme is case-sensitive");
        let ok = http(server.addr, "GET", path, &[("Authorization", "Bearer a-long-metrics-token-123")]);
        assert_eq!(ok.status, 200, "{path}");
    }
    assert_eq!(http(server.addr, "GET", "/v2/health", &[]).status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start(test_config());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    for _ in 0..3 {
        stream.write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).unwrap();
        let reply = parse_reply(&buf[..n]);
        assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn malformed_and_oversized_requests_get_errors() {
    let server = TestServer::start(test_config());
    let garbage = http_raw(server.addr, "NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(garbage.status, 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(http_raw(server.addr, &huge).status, 431);
    let no_key = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let reply = http_raw(server.addr, no_key);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("Sec-WebSocket-Key"));
    let old = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let reply = http_raw(server.addr, old);
    assert_eq!((reply.status, reply.header("sec-websocket-version")), (426, Some("13")));
    // The server still works.
    assert_eq!(http(server.addr, "GET", "/v2/health", &[]).status, 200);
}
