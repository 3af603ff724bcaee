//! The JSON metrics document (`/metrics`, `/v1/metrics`, `/v2/metrics`; OPERATIONS §4).
//! Keys come out sorted (the maps are ordered), timestamps use the `+00:00` form except
//! `metricsSnapshot.timestamp`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::MetricsView;
use crate::time::UnixMicros;

/// Players-per-room percentiles.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.5th.
    pub p99_5: f64,
    /// 99.9th.
    pub p99_9: f64,
    /// Maximum.
    pub p100: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `counts` (value at index `round(p × (n−1))` of the
    /// sorted counts); `None` when empty.
    pub fn of(mut counts: Vec<u64>) -> Option<Percentiles> {
        if counts.is_empty() {
            return None;
        }
        counts.sort_unstable();
        let at = |p: f64| counts[(p * (counts.len() - 1) as f64).round() as usize] as f64;
        Some(Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p99_5: at(0.995),
            p99_9: at(0.999),
            p100: *counts.last().expect("non-empty") as f64,
        })
    }

    fn to_json(self) -> Value {
        json!({
            "p50": self.p50, "p90": self.p90, "p99": self.p99,
            "p99_5": self.p99_5, "p99_9": self.p99_9, "p100": self.p100,
        })
    }
}

/// One dashboard sample; fields not selected by `dashboard_cache_history_fields` are `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardSample {
    /// When it was taken.
    pub fetched_at: UnixMicros,
    /// Rooms.
    pub active_rooms: Option<u64>,
    /// Rooms per game.
    pub rooms_by_game: Option<BTreeMap<String, u64>>,
    /// Players-per-room percentiles over all rooms (`Some(None)` when there are no rooms,
    /// rendered `{}`).
    #[serde(with = "nested_option")]
    pub player_percentiles: Option<Option<Percentiles>>,
    /// Players-per-room percentiles per game.
    pub game_percentiles: Option<BTreeMap<String, Percentiles>>,
}

/// Serde writes `Some(None)` and `None` alike (null) and reads both back as `None`; a
/// restored engine checkpoint must keep them apart (`{}` versus omitted), so the outer
/// option is written as a sequence of zero or one values.
mod nested_option {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T, S>(value: &Option<Option<T>>, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: Serialize,
        S: Serializer,
    {
        serializer.collect_seq(value.iter())
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let mut values = Vec::<Option<T>>::deserialize(deserializer)?;
        if values.len() > 1 {
            return Err(D::Error::invalid_length(values.len(), &"zero or one value"));
        }
        Ok(values.pop())
    }
}

/// Everything the JSON document shows.
pub struct JsonMetricsInput<'a> {
    /// Counters and gauges.
    pub view: MetricsView<'a>,
    /// Render time.
    pub now: UnixMicros,
    /// `time_range` query value, echoed.
    pub time_range: &'a str,
    /// Whether to add `metricsSnapshot`.
    pub include_snapshot: bool,
    /// The current state.
    pub live: &'a DashboardSample,
    /// Samples, oldest first.
    pub history: Vec<&'a DashboardSample>,
    /// Sampling period.
    pub refresh_interval_secs: u64,
    /// Staleness threshold.
    pub ttl_secs: u64,
}

fn game_percentiles(map: &BTreeMap<String, Percentiles>) -> Value {
    Value::Object(map.iter().map(|(g, p)| (g.clone(), p.to_json())).collect())
}

fn latency_json(view: &MetricsView<'_>) -> Value {
    let h = view.step_latency;
    let ms = |micros: Option<u64>| micros.map(|m| m as f64 / 1000.0);
    let average = (h.count() > 0).then(|| h.sum_micros() as f64 / h.count() as f64 / 1000.0);
    json!({
        "average_ms": average,
        "max_ms": ms((h.count() > 0).then(|| h.max_micros())),
        "p50_ms": ms(h.quantile_bound_micros(0.5)),
        "p95_ms": ms(h.quantile_bound_micros(0.95)),
        "p99_ms": ms(h.quantile_bound_micros(0.99)),
        "sample_count": h.count(),
    })
}

/// The `cluster` section (null in single-node mode).
fn cluster_json(view: &super::ClusterView<'_>) -> Value {
    let (h, e) = (view.host, &view.engine);
    json!({
        "nodeId": h.node_id,
        "nodesAlive": h.nodes_alive,
        "roomsOwned": view.rooms_owned,
        "connectionsForwardedOut": view.forwarded_out,
        "connectionsForwardedIn": view.forwarded_in,
        "handovers": e.handovers,
        "adopted": e.adopted,
        "handoversRefused": e.handovers_refused,
        "directoryQueries": e.queries,
        "directoryUnavailable": e.directory_unavailable,
        "linksLost": e.links_lost,
        "redis": {
            "up": h.redis_up,
            "ops": h.redis_ops_total,
            "errors": h.redis_errors_total,
            "rttLastUs": h.redis_rtt_last_us,
            "rttMaxUs": h.redis_rtt_max_us,
            "rttMeanUs": h.redis_rtt_mean_us,
            "messagesSent": h.messages_sent_total,
            "messagesReceived": h.messages_received_total,
            "linkGaps": h.link_gaps_total,
        },
    })
}

/// Renders the JSON metrics document.
pub fn render_json(input: &JsonMetricsInput<'_>) -> String {
    let c = input.view.counters;
    let g = &input.view.gauges;
    let t = &input.view.transport;
    let r = &input.view.recorder;
    let live = input.live;
    let errors_total = c.validation_errors_total + c.websocket_errors_total;

    let history: Vec<Value> = input
        .history
        .iter()
        .map(|s| {
            json!({
                "activeRooms": s.active_rooms,
                "fetchedAt": s.fetched_at.to_rfc3339_offset(),
                "gamePercentiles": s.game_percentiles.as_ref().map(game_percentiles),
                "playerPercentiles": s.player_percentiles.map(|p| p.map_or(json!({}), Percentiles::to_json)),
                "roomsByGame": s.rooms_by_game,
            })
        })
        .collect();
    let last = input.history.last();
    let age = last.map(|s| input.now.as_secs().saturating_sub(s.fetched_at.as_secs()));
    let stale = age.is_none_or(|a| a > input.ttl_secs.max(input.refresh_interval_secs));

    let mut doc = json!({
        "activeRooms": live.active_rooms,
        "dashboardCache": {
            "ageSeconds": age,
            "fetchedAt": last.map(|s| s.fetched_at.to_rfc3339_offset()),
            "lastError": null,
            "refreshIntervalSeconds": input.refresh_interval_secs,
            "stale": stale,
            "history": history,
        },
        "gamePercentiles": live.game_percentiles.as_ref().map_or(json!({}), game_percentiles),
        "playerPercentiles": live.player_percentiles.flatten().map_or(json!({}), Percentiles::to_json),
        "roomsByGame": live.rooms_by_game.clone().unwrap_or_default(),
        "serverMetrics": {
            "connections": {
                "active": g.connections_active,
                "disconnections": c.disconnections_total,
                "rejected": c.connections_rejected_total,
                "total": c.connections_total,
            },
            "errors": {
                "total": errors_total,
                "validation": c.validation_errors_total,
                "websocket": c.websocket_errors_total,
            },
            "rooms": {
                "active": g.rooms_active,
                "created": c.rooms_created_total,
                "deleted": c.rooms_deleted_total,
                "joined": c.rooms_joined_total,
            },
            "players": {
                "active": g.players_active,
                "joined": c.players_joined_total,
                "left": c.players_left_total,
                "spectators": g.spectators_active,
            },
            "mesh": {
                "peersActive": g.mesh_peers_active,
                "peersTotal": c.mesh_peers_total,
                "refusals": c.mesh_refusals_total,
                "roomsActive": g.mesh_rooms_active,
                "signalsDropped": c.mesh_signals_dropped_total,
                "signalsRelayed": c.mesh_signals_relayed_total,
            },
            "gameData": {
                "deliveries": c.game_data_deliveries_total,
                "messages": c.game_data_messages_total,
                "untranslatable": c.game_data_untranslatable_total,
            },
            "performance": { "step_latency": latency_json(&input.view) },
            "rateLimiting": {
                "rejections": c.rate_limit_rejections_total,
                "resets": c.rate_limit_resets_total,
            },
            "reconnection": {
                "bufferOverflows": c.reconnection_buffer_overflows_total,
                "completions": c.reconnection_completions_total,
                "eventsBuffered": c.reconnection_events_buffered_total,
                "sessionsActive": g.reconnection_sessions_active,
                "tokensIssued": c.reconnection_tokens_issued_total,
                "validationFailures": c.reconnection_validation_failures_total,
            },
            "transport": {
                "bytesRead": t.bytes_read_total,
                "bytesWritten": t.bytes_written_total,
                "outboundQueueBytes": t.outbound_queue_bytes,
                "slowConsumersClosed": c.slow_consumers_closed_total,
                "metricsThrottled": c.metrics_requests_throttled_total,
                "tlsHandshakeFailures": t.tls_handshake_failures_total,
                "tlsHandshakes": t.tls_handshakes_total,
                "unfinishedEvictions": t.unfinished_evictions_total,
                "unfinishedMessageBytes": t.unfinished_message_bytes,
            },
            "recorder": {
                "recording": r.recording,
                "bytes": r.bytes_total,
                "pendingBytes": r.pending_bytes,
                "files": r.files_total,
                "stops": r.stops_total,
            },
        },
        "timeRange": input.time_range,
        "timestamp": input.now.to_rfc3339_offset(),
    });
    // Only in cluster mode: a single node's document is as it always was.
    if let Some(cluster) = &input.view.cluster {
        doc["cluster"] = cluster_json(cluster);
    }
    if input.include_snapshot {
        let snapshot = json!({
            "timestamp": input.now.to_rfc3339_z(),
            "connections": {
                "total_connections": c.connections_total,
                "active_connections": g.connections_active,
                "disconnections": c.disconnections_total,
                "connection_errors": c.websocket_errors_total,
                "connections_rejected": c.connections_rejected_total,
            },
            "rooms": {
                "rooms_created": c.rooms_created_total,
                "rooms_joined": c.rooms_joined_total,
                "rooms_deleted": c.rooms_deleted_total,
                "room_cap_lock_acquisitions": c.room_cap_checks_total,
                "room_cap_denials": c.room_cap_denials_total,
            },
            "rate_limiting": {
                "rate_limit_rejections": c.rate_limit_rejections_total,
                "rate_limit_resets": c.rate_limit_resets_total,
            },
            "players": {
                "players_joined": c.players_joined_total,
                "players_left": c.players_left_total,
                "authority_transfers": c.authority_transfers_total,
                "game_data_messages": c.game_data_messages_total,
            },
            "errors": {
                "validation_errors": c.validation_errors_total,
                "websocket_errors": c.websocket_errors_total,
                "total_errors": errors_total,
            },
            "cleanup": {
                "empty_rooms_cleaned": c.cleanup_empty_rooms_total,
                "inactive_rooms_cleaned": c.cleanup_inactive_rooms_total,
                "expired_players_cleaned": c.cleanup_expired_players_total,
            },
            "reconnection": {
                "tokens_issued": c.reconnection_tokens_issued_total,
                "sessions_active": g.reconnection_sessions_active,
                "validations_failed": c.reconnection_validation_failures_total,
                "completions": c.reconnection_completions_total,
                "events_buffered": c.reconnection_events_buffered_total,
            },
            "dashboard_cache": {
                "refresh_count": c.dashboard_refreshes_total,
                "last_refresh_timestamp": input.history.last().map(|s| s.fetched_at.as_secs()),
            },
        });
        if let Value::Object(map) = &mut doc {
            map.insert("metricsSnapshot".to_owned(), snapshot);
        }
    }
    serde_json::to_string(&doc).expect("metrics always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of(vec![4, 1, 2, 3]).unwrap();
        assert_eq!(p.p50, 3.0); // index round(0.5 * 3) = 2 of [1,2,3,4]
        assert_eq!(p.p90, 4.0);
        assert_eq!(p.p100, 4.0);
        assert!(Percentiles::of(Vec::new()).is_none());
    }
}
