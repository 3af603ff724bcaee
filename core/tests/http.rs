//! HTTP routes: health, metrics (JSON and Prometheus), metrics auth, CORS, fallbacks
//! (OPERATIONS §2–5).

mod support;

use signal_fish_core::Config;
use support::*;

fn header<'a>(r: &'a signal_fish_core::http::HttpResponse, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn health_and_fallback() {
    let mut h = Harness::new();
    let r = h.http("GET", "/v2/health", &[]);
    assert_eq!((r.status, &r.body[..]), (200, &b"OK"[..]));
    assert_eq!(header(&r, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(h.http("HEAD", "/v2/health", &[]).status, 200);
    for path in ["/", "/health", "/anything?x=1"] {
        let r = h.http("GET", path, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(
            &r.body[..],
            b"Signal Fish Server. Use /v2/ws for WebSocket protocol, /v1/metrics for metrics, /metrics/prom for Prometheus."
        );
    }
    let r = h.http("POST", "/v2/health", &[]);
    assert_eq!((r.status, header(&r, "allow")), (405, Some("GET,HEAD")));
    let r = h.http("GET", "/v2/ws", &[]);
    assert_eq!(r.status, 400);
    let r = h.http("OPTIONS", "/metrics", &[("Origin", "http://x.example")]);
    assert_eq!((r.status, header(&r, "access-control-allow-methods")), (200, Some("*")));
}

#[test]
fn json_metrics_document() {
    let mut h = Harness::new();
    let (a, b) = (h.connect(), h.connect());
    let (code, _) = h.create(a, "space", "Alice", 4);
    h.join(b, "space", &code, "Bob");
    h.send(a, r#"{"type":"GameData","data":{"data":1}}"#);
    // The room figures are those of the latest dashboard sample (OPERATIONS §4).
    let doc: serde_json::Value = serde_json::from_slice(&h.http("GET", "/metrics", &[]).body).unwrap();
    assert_eq!(doc["activeRooms"], 0, "sampled before the room existed");
    h.advance(secs(5));
    for path in ["/metrics", "/v1/metrics", "/v2/metrics"] {
        let r = h.http("GET", path, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["activeRooms"], 1);
        assert_eq!(doc["roomsByGame"]["space"], 1);
        assert_eq!(doc["playerPercentiles"]["p100"], 2.0);
        assert_eq!(doc["gamePercentiles"]["space"]["p50"], 2.0);
        assert_eq!(doc["serverMetrics"]["connections"]["active"], 2);
        assert_eq!(doc["serverMetrics"]["rooms"]["created"], 1);
        assert_eq!(doc["serverMetrics"]["rooms"]["joined"], 1);
        assert_eq!(doc["serverMetrics"]["gameData"]["deliveries"], 1);
        assert_eq!(doc["timeRange"], "1h");
        assert_eq!(doc["timestamp"], "2026-03-01T12:00:05.000000000+00:00");
        assert_eq!(doc["dashboardCache"]["stale"], false);
        assert!(doc.get("metricsSnapshot").is_none());
    }
    let r = h.http("GET", "/metrics?includeSnapshot=true&time_range=24h", &[]);
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["timeRange"], "24h");
    assert_eq!(doc["metricsSnapshot"]["rooms"]["rooms_created"], 1);
    assert_eq!(doc["metricsSnapshot"]["timestamp"], "2026-03-01T12:00:05Z");
    let r = h.http("GET", "/metrics?includeSnapshot=abc", &[]);
    assert_eq!(r.status, 400);
    assert!(std::str::from_utf8(&r.body).unwrap().contains("includeSnapshot"));
}

#[test]
fn dashboard_history_samples_the_configured_fields() {
    let mut h = Harness::new();
    let empty = h.http("GET", "/metrics", &[]);
    let doc: serde_json::Value = serde_json::from_slice(&empty.body).unwrap();
    let first = &doc["dashboardCache"]["history"][0];
    assert_eq!(first["playerPercentiles"], serde_json::json!({}), "no rooms: empty object, as at top level");
    assert_eq!(first["activeRooms"], 0);
    let a = h.connect();
    h.create(a, "g", "A", 2);
    h.advance(secs(5));
    let doc: serde_json::Value = serde_json::from_slice(&h.http("GET", "/metrics", &[]).body).unwrap();
    let history = doc["dashboardCache"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["roomsByGame"]["g"], 1);
    assert_eq!(history[1]["playerPercentiles"]["p50"], 1.0);
    assert_eq!(history[1]["fetchedAt"], "2026-03-01T12:00:05.000000000+00:00");
}

#[test]
fn prometheus_metrics() {
    let mut h = Harness::new();
    let a = h.connect();
    h.create(a, "g", "A", 2);
    for path in ["/metrics/prom", "/v1/metrics/prom", "/v2/metrics/prom"] {
        let r = h.http("GET", path, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = std::str::from_utf8(&r.body).unwrap();
        assert!(text.contains("\nsignal_fish_connections_total 1\n"), "{text}");
        assert!(text.contains("\nsignal_fish_rooms_created_total 1\n"));
        assert!(text.contains("\nsignal_fish_players_active 1\n"));
    }
}

#[test]
fn metrics_auth_demands_the_exact_bearer_token() {
    let mut config = Config::default();
    config.security.require_metrics_auth = true;
    config.security.metrics_auth_token = Some("s3cret-token-for-metrics".into());
    let mut h = Harness::with_config(config);
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong")],
        vec![("Authorization", "bearer s3cret-token-for-metrics")],
    ] {
        let r = h.http("GET", "/metrics/prom", &headers);
        assert_eq!((r.status, r.body.len()), (401, 0));
    }
    assert_eq!(
        h.http("GET", "/metrics", &[("authorization", "Bearer s3cret-token-for-metrics")]).status,
        200
    );
    assert_eq!(h.http("GET", "/v2/health", &[]).status, 200, "health is never protected");
}

#[test]
fn cors_origin_lists() {
    let mut config = Config::default();
    config.security.cors_origins = "http://localhost:3000, http://game.example".into();
    let mut h = Harness::with_config(config);
    let r = h.http("GET", "/v2/health", &[("Origin", "http://game.example")]);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("http://game.example"));
    assert!(header(&r, "vary").is_some());
    let r = h.http("GET", "/v2/health", &[("Origin", "http://evil.example")]);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(r.status, 200, "non-matching origins are still served");
}
