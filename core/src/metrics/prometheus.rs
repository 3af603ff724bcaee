//! Prometheus text exposition 0.0.4 (`/metrics/prom`; OPERATIONS §5). No labels; integer
//! values without a decimal point. Names are the original's where it measured the same
//! thing.

use std::fmt::Write;

use super::MetricsView;

/// Renders every metric with its HELP and TYPE lines.
pub fn render_prometheus(view: &MetricsView<'_>) -> String {
    let c = view.counters;
    let g = &view.gauges;
    let t = &view.transport;
    let r = &view.recorder;
    let metrics: [(&str, &str, &str, u64); 59] = [
        (
            "signal_fish_connections_total",
            "counter",
            "WebSocket clients registered since start",
            c.connections_total,
        ),
        ("signal_fish_connections_active", "gauge", "Currently registered clients", g.connections_active),
        (
            "signal_fish_connections_disconnections_total",
            "counter",
            "Registered clients that disconnected",
            c.disconnections_total,
        ),
        (
            "signal_fish_connections_rejected_total",
            "counter",
            "Connections refused by the per-IP or global cap",
            c.connections_rejected_total,
        ),
        ("signal_fish_rooms_active", "gauge", "Rooms that exist now", g.rooms_active),
        ("signal_fish_rooms_created_total", "counter", "Rooms created", c.rooms_created_total),
        ("signal_fish_rooms_joined_total", "counter", "Joins into existing rooms", c.rooms_joined_total),
        ("signal_fish_rooms_deleted_total", "counter", "Rooms removed", c.rooms_deleted_total),
        (
            "signal_fish_room_cap_lock_acquisitions_total",
            "counter",
            "Room creations that reached the per-game cap check",
            c.room_cap_checks_total,
        ),
        (
            "signal_fish_room_cap_denials_total",
            "counter",
            "Room creations refused by a room cap",
            c.room_cap_denials_total,
        ),
        (
            "signal_fish_rate_limit_rejections_total",
            "counter",
            "Requests refused by a rate limit",
            c.rate_limit_rejections_total,
        ),
        (
            "signal_fish_rate_limit_resets_total",
            "counter",
            "Rate-limit windows restarted",
            c.rate_limit_resets_total,
        ),
        (
            "signal_fish_errors_total",
            "counter",
            "Validation and WebSocket errors",
            c.validation_errors_total + c.websocket_errors_total,
        ),
        (
            "signal_fish_errors_validation_total",
            "counter",
            "Invalid client input answered with an error",
            c.validation_errors_total,
        ),
        (
            "signal_fish_errors_websocket_total",
            "counter",
            "Connections ended by a transport error",
            c.websocket_errors_total,
        ),
        (
            "signal_fish_players_active",
            "gauge",
            "Players seated in rooms, connected or awaiting reconnection",
            g.players_active,
        ),
        (
            "signal_fish_players_joined_total",
            "counter",
            "Players that entered a room",
            c.players_joined_total,
        ),
        (
            "signal_fish_players_left_total",
            "counter",
            "Players that left a room for good",
            c.players_left_total,
        ),
        ("signal_fish_spectators_active", "gauge", "Spectators watching rooms", g.spectators_active),
        (
            "signal_fish_authority_transfers_total",
            "counter",
            "Authority grants and releases",
            c.authority_transfers_total,
        ),
        (
            "signal_fish_game_data_messages_total",
            "counter",
            "Game-data messages accepted for relay",
            c.game_data_messages_total,
        ),
        (
            "signal_fish_game_data_deliveries_total",
            "counter",
            "Game-data frames delivered to recipients",
            c.game_data_deliveries_total,
        ),
        (
            "signal_fish_game_data_untranslatable_total",
            "counter",
            "Binary payloads with no JSON form for a JSON recipient",
            c.game_data_untranslatable_total,
        ),
        (
            "signal_fish_reconnection_tokens_issued_total",
            "counter",
            "Seats reserved for a disconnected player",
            c.reconnection_tokens_issued_total,
        ),
        (
            "signal_fish_reconnection_sessions_active",
            "gauge",
            "Seats reserved now",
            g.reconnection_sessions_active,
        ),
        (
            "signal_fish_reconnection_validation_failures_total",
            "counter",
            "Reconnect requests refused",
            c.reconnection_validation_failures_total,
        ),
        (
            "signal_fish_reconnection_completions_total",
            "counter",
            "Successful reconnections",
            c.reconnection_completions_total,
        ),
        (
            "signal_fish_reconnection_events_buffered_total",
            "counter",
            "Room events buffered for replay",
            c.reconnection_events_buffered_total,
        ),
        (
            "signal_fish_reconnection_buffer_overflows_total",
            "counter",
            "Reservations ended by a full replay buffer",
            c.reconnection_buffer_overflows_total,
        ),
        (
            "signal_fish_cleanup_empty_rooms_total",
            "counter",
            "Empty rooms removed",
            c.cleanup_empty_rooms_total,
        ),
        (
            "signal_fish_cleanup_inactive_rooms_total",
            "counter",
            "Inactive rooms with players removed",
            c.cleanup_inactive_rooms_total,
        ),
        (
            "signal_fish_cleanup_expired_players_total",
            "counter",
            "Connections closed for missing heartbeats",
            c.cleanup_expired_players_total,
        ),
        (
            "signal_fish_slow_consumers_closed_total",
            "counter",
            "Connections closed because they did not read",
            c.slow_consumers_closed_total,
        ),
        (
            "signal_fish_metrics_requests_throttled_total",
            "counter",
            "Metrics requests refused with 429 over the render budget",
            c.metrics_requests_throttled_total,
        ),
        (
            "signal_fish_auth_timeouts_total",
            "counter",
            "Connections closed for not authenticating in time",
            c.auth_timeouts_total,
        ),
        (
            "signal_fish_auth_failures_total",
            "counter",
            "Authentication attempts refused",
            c.auth_failures_total,
        ),
        ("signal_fish_frames_received_total", "counter", "Inbound WebSocket frames", c.frames_received_total),
        ("signal_fish_frames_sent_total", "counter", "Outbound WebSocket frames queued", c.frames_sent_total),
        (
            "signal_fish_outbound_queue_bytes",
            "gauge",
            "Bytes queued for all connections",
            t.outbound_queue_bytes,
        ),
        ("signal_fish_bytes_written_total", "counter", "Bytes written to sockets", t.bytes_written_total),
        ("signal_fish_bytes_read_total", "counter", "Bytes read from sockets", t.bytes_read_total),
        (
            "signal_fish_unfinished_message_bytes",
            "gauge",
            "Bytes held in messages not fully received yet",
            t.unfinished_message_bytes,
        ),
        (
            "signal_fish_unfinished_evictions_total",
            "counter",
            "Connections closed over the budget for unfinished messages",
            t.unfinished_evictions_total,
        ),
        ("signal_fish_tls_handshakes_total", "counter", "TLS handshakes completed", t.tls_handshakes_total),
        (
            "signal_fish_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed, stalled or were evicted",
            t.tls_handshake_failures_total,
        ),
        ("signal_fish_recorder_recording", "gauge", "1 while the flight recorder records", r.recording),
        (
            "signal_fish_recorder_bytes_total",
            "counter",
            "Bytes of recording handed to the disk writer",
            r.bytes_total,
        ),
        (
            "signal_fish_recorder_pending_bytes",
            "gauge",
            "Bytes of recording not on disk yet",
            r.pending_bytes,
        ),
        ("signal_fish_recorder_files_total", "counter", "Recording files started", r.files_total),
        (
            "signal_fish_recorder_stops_total",
            "counter",
            "Times recording stopped early (disk behind or a write failed)",
            r.stops_total,
        ),
        ("signal_fish_mesh_peers_active", "gauge", "Matchbox full-mesh peers connected", g.mesh_peers_active),
        (
            "signal_fish_mesh_rooms_active",
            "gauge",
            "Matchbox full-mesh rooms and next groups",
            g.mesh_rooms_active,
        ),
        ("signal_fish_mesh_peers_total", "counter", "Matchbox full-mesh peers admitted", c.mesh_peers_total),
        (
            "signal_fish_mesh_refusals_total",
            "counter",
            "Mesh connections refused (room full, rooms at capacity, bad target)",
            c.mesh_refusals_total,
        ),
        (
            "signal_fish_mesh_signals_relayed_total",
            "counter",
            "Mesh signals relayed within a room",
            c.mesh_signals_relayed_total,
        ),
        (
            "signal_fish_mesh_signals_dropped_total",
            "counter",
            "Mesh signals for a peer not in the sender's room, ignored",
            c.mesh_signals_dropped_total,
        ),
        ("signal_fish_timers_pending", "gauge", "Deadlines in the engine's timer table", g.timers_pending),
        (
            "signal_fish_dashboard_cache_age_seconds",
            "gauge",
            "Seconds since the last dashboard sample",
            g.dashboard_age_seconds,
        ),
        (
            "signal_fish_dashboard_cache_refreshes_total",
            "counter",
            "Dashboard samples taken",
            c.dashboard_refreshes_total,
        ),
    ];
    let mut out = String::with_capacity(8192);
    for (name, kind, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    let h = view.step_latency;
    let name = "signal_fish_step_latency_seconds";
    let _ = writeln!(out, "# HELP {name} Time the engine took per step\n# TYPE {name} histogram");
    for (bound, count) in h.cumulative() {
        match bound {
            Some(micros) => {
                let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {count}", micros as f64 / 1e6);
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
            }
        }
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum_micros() as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count());
    if let Some(cluster) = &view.cluster {
        render_cluster(cluster, &mut out);
    }
    out
}

/// Cluster mode's series (only in cluster mode). The node id is the one label: an info
/// series, so every other series stays label-free.
fn render_cluster(view: &super::ClusterView<'_>, out: &mut String) {
    let (h, e) = (view.host, &view.engine);
    let name = "signal_fish_cluster_node_info";
    // Validation keeps node ids to letters, digits, `-`, `_` and `.`: nothing to escape.
    let _ = writeln!(
        out,
        "# HELP {name} This node's id in the cluster\n# TYPE {name} gauge\n{name}{{node_id=\"{}\"}} 1",
        h.node_id
    );
    let series: [(&str, &str, &str, u64); 14] = [
        (
            "signal_fish_cluster_nodes_alive",
            "gauge",
            "Live nodes in the cluster, this one included",
            h.nodes_alive,
        ),
        ("signal_fish_cluster_rooms_owned", "gauge", "Rooms this node owns", view.rooms_owned),
        (
            "signal_fish_cluster_connections_forwarded_out",
            "gauge",
            "Connections whose socket is here, served by another node",
            view.forwarded_out,
        ),
        (
            "signal_fish_cluster_connections_forwarded_in",
            "gauge",
            "Connections served here whose socket is on another node",
            view.forwarded_in,
        ),
        ("signal_fish_cluster_handovers_total", "counter", "Connections handed to another node", e.handovers),
        ("signal_fish_cluster_adopted_total", "counter", "Connections adopted from another node", e.adopted),
        ("signal_fish_cluster_directory_queries_total", "counter", "Room directory queries", e.queries),
        (
            "signal_fish_cluster_directory_unavailable_total",
            "counter",
            "Room directory queries answered unavailable",
            e.directory_unavailable,
        ),
        (
            "signal_fish_cluster_links_lost_total",
            "counter",
            "Connections closed because their link to another node was lost",
            e.links_lost,
        ),
        ("signal_fish_cluster_redis_up", "gauge", "1 while Redis answers", h.redis_up),
        ("signal_fish_cluster_redis_ops_total", "counter", "Redis operations", h.redis_ops_total),
        (
            "signal_fish_cluster_redis_errors_total",
            "counter",
            "Redis operations that failed",
            h.redis_errors_total,
        ),
        (
            "signal_fish_cluster_redis_rtt_last_seconds",
            "gauge",
            "Round trip of the latest Redis operation",
            h.redis_rtt_last_us,
        ),
        (
            "signal_fish_cluster_link_gaps_total",
            "counter",
            "Links between nodes found broken",
            h.link_gaps_total,
        ),
    ];
    for (name, kind, help, value) in series {
        if name.ends_with("_seconds") {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", value as f64 / 1e6);
        } else {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counters, Gauges, Histogram, RecorderStats, TransportStats};

    #[test]
    fn every_metric_has_help_type_and_value() {
        let counters = Counters { connections_total: 3, ..Counters::default() };
        let histogram = Histogram::default();
        let view = MetricsView {
            counters: &counters,
            gauges: Gauges { connections_active: 2, ..Gauges::default() },
            step_latency: &histogram,
            transport: TransportStats::default(),
            recorder: RecorderStats::default(),
            cluster: None,
        };
        let text = render_prometheus(&view);
        assert!(text.starts_with(
            "# HELP signal_fish_connections_total WebSocket clients registered since start\n# TYPE signal_fish_connections_total counter\nsignal_fish_connections_total 3\n"
        ));
        assert!(text.contains("\nsignal_fish_connections_active 2\n"));
        assert!(text.contains("signal_fish_step_latency_seconds_bucket{le=\"0.000001\"} 0\n"));
        assert!(text.contains("signal_fish_step_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(helps, 60);
        assert_eq!(helps, types);
    }
}
