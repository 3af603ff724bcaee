//! HTTP routes on the WebSocket port (OPERATIONS §2–5): health, metrics (JSON and
//! Prometheus, with optional bearer auth), CORS, the banner fallback.

use std::time::Duration;

use bytes::Bytes;

use super::Engine;
use crate::event::Action;
use crate::http::{HttpRequest, HttpResponse};
use crate::metrics::{render_json, render_prometheus, Gauges, HostReport, JsonMetricsInput, MetricsView};

const BANNER: &str =
    "Signal Fish Server. Use /v2/ws for WebSocket protocol, /v1/metrics for metrics, /metrics/prom for Prometheus.";
const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON: &str = "application/json";

enum Route {
    Health,
    JsonMetrics,
    PromMetrics,
    WebSocket,
    Fallback,
}

fn route(path: &str) -> Route {
    match path {
        "/v2/health" => Route::Health,
        "/metrics" | "/v1/metrics" | "/v2/metrics" => Route::JsonMetrics,
        "/metrics/prom" | "/v1/metrics/prom" | "/v2/metrics/prom" => Route::PromMetrics,
        "/v2/ws" | "/v3/ws" => Route::WebSocket,
        _ => Route::Fallback,
    }
}

impl Engine {
    pub(super) fn on_http(&mut self, request: &HttpRequest, out: &mut Vec<Action>) {
        let response = self.answer_http(request);
        out.push(Action::Http(response));
    }

    fn answer_http(&mut self, request: &HttpRequest) -> HttpResponse {
        let cors = self.cors.headers_for(request.header("origin"));
        let respond =
            |status: u16, content_type: Option<&str>, mut extra: Vec<(String, String)>, body: Bytes| {
                let mut headers = Vec::new();
                if let Some(ct) = content_type {
                    headers.push(("content-type".to_owned(), ct.to_owned()));
                }
                headers.append(&mut extra);
                headers.extend(cors.iter().cloned());
                HttpResponse { id: request.id, status, headers, body }
            };
        let method = request.method.as_str();
        if method == "OPTIONS" {
            let allow = vec![
                ("access-control-allow-methods".to_owned(), "*".to_owned()),
                ("access-control-allow-headers".to_owned(), "*".to_owned()),
            ];
            return respond(200, None, allow, Bytes::new());
        }
        let route = route(request.path());
        if matches!(route, Route::Fallback) {
            return respond(200, Some(TEXT), Vec::new(), Bytes::from_static(BANNER.as_bytes()));
        }
        if method != "GET" && method != "HEAD" {
            let allow = vec![("allow".to_owned(), "GET,HEAD".to_owned())];
            return respond(405, None, allow, Bytes::new());
        }
        match route {
            Route::Health => respond(200, Some(TEXT), Vec::new(), Bytes::from_static(b"OK")),
            Route::WebSocket => respond(
                400,
                Some(TEXT),
                Vec::new(),
                Bytes::from_static(b"Bad Request: WebSocket upgrade required"),
            ),
            Route::JsonMetrics | Route::PromMetrics if !self.metrics_authorized(request) => {
                respond(401, None, Vec::new(), Bytes::new())
            }
            Route::JsonMetrics | Route::PromMetrics if !self.admit_metrics_render() => {
                self.counters.metrics_requests_throttled_total += 1;
                let retry = vec![("retry-after".to_owned(), "1".to_owned())];
                let text = format!(
                    "Too Many Requests: metrics are rendered at most {} times per second",
                    self.config.metrics.max_renders_per_second
                );
                respond(429, Some(TEXT), retry, Bytes::from(text))
            }
            Route::JsonMetrics => match parse_metrics_query(request.query()) {
                Ok((time_range, include_snapshot)) => {
                    let body = self.render_json_metrics(&request.host, &time_range, include_snapshot);
                    respond(200, Some(JSON), Vec::new(), Bytes::from(body))
                }
                Err(message) => respond(400, Some(TEXT), Vec::new(), Bytes::from(message)),
            },
            Route::PromMetrics => {
                let body = render_prometheus(&self.metrics_view(&request.host));
                respond(200, Some(PROMETHEUS), Vec::new(), Bytes::from(body))
            }
            Route::Fallback => unreachable!("answered above"),
        }
    }

    /// Counts one metrics render against `metrics.max_renders_per_second`.
    fn admit_metrics_render(&mut self) -> bool {
        let max = self.config.metrics.max_renders_per_second;
        self.reporting.metrics_renders.admit(self.clock.now, Duration::from_secs(1), max).is_ok()
    }

    fn metrics_authorized(&self, request: &HttpRequest) -> bool {
        let security = &self.config.security;
        if !security.require_metrics_auth {
            return true;
        }
        let Some(token) = security.metrics_auth_token.as_deref() else { return false };
        request.header("authorization").and_then(|v| v.strip_prefix("Bearer ")) == Some(token)
    }

    /// Counters, gauges and the host's figures, for rendering.
    pub fn metrics_view<'a>(&'a self, host: &'a HostReport) -> MetricsView<'a> {
        MetricsView {
            counters: &self.counters,
            gauges: self.gauges(),
            step_latency: &host.step_latency,
            transport: host.transport,
            recorder: host.recorder,
            cluster: host.cluster.as_ref().map(|stats| crate::metrics::ClusterView {
                host: stats,
                engine: self.cluster_stats(),
                rooms_owned: self.rooms.len() as u64,
                forwarded_out: self.forwarded_count() as u64,
                forwarded_in: self.adopted_count() as u64,
            }),
        }
    }

    /// The engine's gauges as of now (constant time: nothing walks the rooms).
    pub fn gauges(&self) -> Gauges {
        let age = self
            .reporting
            .dashboard
            .last_refresh
            .map_or(0, |at| self.clock.now.saturating_duration_since(at).as_secs());
        Gauges {
            connections_active: self.conns.len() as u64,
            rooms_active: self.rooms.len() as u64,
            players_active: self.seat_index.len() as u64,
            reconnection_sessions_active: self.reporting.population.away_players as u64,
            spectators_active: self.reporting.population.spectators as u64,
            timers_pending: self.timers.len() as u64,
            mesh_peers_active: self.mesh.peers as u64,
            mesh_rooms_active: self.mesh.groups.len() as u64,
            dashboard_age_seconds: age,
        }
    }

    fn render_json_metrics(&self, host: &HostReport, time_range: &str, include_snapshot: bool) -> String {
        let latest = self.reporting.dashboard.latest.as_ref().expect("sampled at birth");
        render_json(&JsonMetricsInput {
            view: self.metrics_view(host),
            now: self.unix_now(),
            time_range,
            include_snapshot,
            live: latest,
            history: self.reporting.dashboard.history.iter().collect(),
            refresh_interval_secs: self.config.metrics.dashboard_cache_refresh_interval_secs,
            ttl_secs: self.config.metrics.dashboard_cache_ttl_secs,
        })
    }
}

/// `time_range` (default `1h`, echoed) and `includeSnapshot` (`true`/`false`).
fn parse_metrics_query(query: Option<&str>) -> Result<(String, bool), String> {
    let mut time_range = "1h".to_owned();
    let mut include_snapshot = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| format!("Invalid query string: bad percent-encoding in `{key}`"))?;
        match key {
            "time_range" => time_range = value,
            "includeSnapshot" => {
                include_snapshot = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(format!(
                            "Invalid query string: includeSnapshot must be true or false, got `{other}`"
                        ))
                    }
                }
            }
            _ => {}
        }
    }
    Ok((time_range, include_snapshot))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_query() {
        assert_eq!(parse_metrics_query(None), Ok(("1h".into(), false)));
        assert_eq!(
            parse_metrics_query(Some("time_range=24h&includeSnapshot=true")),
            Ok(("24h".into(), true))
        );
        assert!(parse_metrics_query(Some("includeSnapshot=abc")).unwrap_err().contains("abc"));
        assert_eq!(parse_metrics_query(Some("other=1&time_range=a%20b")), Ok(("a b".into(), false)));
        assert!(parse_metrics_query(Some("time_range=%zz")).is_err());
    }
}
