//! Counters and histograms kept by the engine, and their renderings (OPERATIONS §4–5).
//!
//! Names follow the original wherever it measured the same thing (DECISIONS D22); every
//! metric here moves in normal operation.

mod histogram;
mod json;
mod prometheus;

pub use histogram::Histogram;
pub use json::{render_json, DashboardSample, JsonMetricsInput, Percentiles};
pub use prometheus::render_prometheus;

use serde::{Deserialize, Serialize};

/// Monotonic counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// WebSocket connections registered since start.
    pub connections_total: u64,
    /// Registered connections that ended (any cause).
    pub disconnections_total: u64,
    /// Connections refused by the per-IP or global cap.
    pub connections_rejected_total: u64,
    /// Connections that ended with a transport error.
    pub websocket_errors_total: u64,
    /// Rooms created.
    pub rooms_created_total: u64,
    /// Joins into existing rooms.
    pub rooms_joined_total: u64,
    /// Rooms removed (any reason).
    pub rooms_deleted_total: u64,
    /// Room creations that reached the per-game cap check.
    pub room_cap_checks_total: u64,
    /// `MAX_ROOMS_PER_GAME_EXCEEDED` rejections.
    pub room_cap_denials_total: u64,
    /// Rate-limit rejections (room operations and per-app authentication).
    pub rate_limit_rejections_total: u64,
    /// Rate-limit windows restarted.
    pub rate_limit_resets_total: u64,
    /// Invalid client input answered with an error.
    pub validation_errors_total: u64,
    /// Players that entered a room (creations, joins, reconnections).
    pub players_joined_total: u64,
    /// Players that left a room for good.
    pub players_left_total: u64,
    /// Authority grants and releases.
    pub authority_transfers_total: u64,
    /// Game-data messages accepted for relay (JSON and binary).
    pub game_data_messages_total: u64,
    /// Game-data frames delivered to recipients.
    pub game_data_deliveries_total: u64,
    /// Binary payloads that could not be translated for a JSON recipient (D21).
    pub game_data_untranslatable_total: u64,
    /// Seats reserved for a disconnected player.
    pub reconnection_tokens_issued_total: u64,
    /// `Reconnect` requests refused.
    pub reconnection_validation_failures_total: u64,
    /// Successful reconnections.
    pub reconnection_completions_total: u64,
    /// Room events buffered for absent players.
    pub reconnection_events_buffered_total: u64,
    /// Reservations ended because the event buffer overflowed.
    pub reconnection_buffer_overflows_total: u64,
    /// Empty rooms removed after `empty_room_timeout`.
    pub cleanup_empty_rooms_total: u64,
    /// Rooms with players removed after `inactive_room_timeout`.
    pub cleanup_inactive_rooms_total: u64,
    /// Connections closed for liveness timeout.
    pub cleanup_expired_players_total: u64,
    /// Connections closed because they did not read (D19).
    pub slow_consumers_closed_total: u64,
    /// Metrics requests answered 429 (`metrics.max_renders_per_second`).
    pub metrics_requests_throttled_total: u64,
    /// Connections closed for not authenticating in time.
    pub auth_timeouts_total: u64,
    /// Authentication attempts refused.
    pub auth_failures_total: u64,
    /// Inbound frames (text and binary).
    pub frames_received_total: u64,
    /// Outbound frames queued.
    pub frames_sent_total: u64,
    /// Dashboard samples taken.
    pub dashboard_refreshes_total: u64,
    /// Matchbox full-mesh peers admitted into a room or group.
    pub mesh_peers_total: u64,
    /// Mesh connections refused at the door (room full, rooms at capacity, bad target).
    pub mesh_refusals_total: u64,
    /// Mesh signals relayed to a peer of the sender's room.
    pub mesh_signals_relayed_total: u64,
    /// Mesh signals for a peer not in the sender's room, ignored.
    pub mesh_signals_dropped_total: u64,
}

/// What only the host measures, handed to the engine with each HTTP request
/// (`HttpRequest::host`) so metrics responses are a function of the
/// events stepped, like every other action (a replay reproduces them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The transport's figures as of the request.
    pub transport: TransportStats,
    /// How long the host's steps took (the core has no clock).
    pub step_latency: Histogram,
    /// The flight recorder's figures (zero when it is off).
    pub recorder: RecorderStats,
    /// Cluster mode's figures, when it is on (DECISIONS D58).
    #[serde(default)]
    pub cluster: Option<ClusterHostStats>,
}

/// What the host knows of the cluster: this node's name, the live nodes, and its link
/// to Redis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterHostStats {
    /// This node's id.
    pub node_id: String,
    /// Live nodes, this one included, as last reported by the directory.
    pub nodes_alive: u64,
    /// 1 while Redis answers, else 0.
    pub redis_up: u64,
    /// Redis operations since start.
    pub redis_ops_total: u64,
    /// Redis operations that failed (unreachable, timed out, refused).
    pub redis_errors_total: u64,
    /// Round-trip time of the latest Redis operation, in microseconds.
    pub redis_rtt_last_us: u64,
    /// Longest Redis round trip since start, in microseconds.
    pub redis_rtt_max_us: u64,
    /// Mean Redis round trip since start, in microseconds.
    pub redis_rtt_mean_us: u64,
    /// Messages sent to other nodes.
    pub messages_sent_total: u64,
    /// Messages received from other nodes.
    pub messages_received_total: u64,
    /// Links found broken (a gap, a restarted sender, a lost subscription).
    pub link_gaps_total: u64,
}

/// The flight recorder's figures, reported by the host (`recorder.*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderStats {
    /// 1 while recording, else 0.
    pub recording: u64,
    /// Bytes of recording handed to the disk writer since start.
    pub bytes_total: u64,
    /// Bytes handed to the writer and not on disk yet.
    pub pending_bytes: u64,
    /// Recording files started since start.
    pub files_total: u64,
    /// Times recording stopped early: the disk fell behind or a write failed.
    pub stops_total: u64,
}

/// Figures only the transport knows, reported to the engine for rendering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportStats {
    /// Bytes queued for all connections, not yet written.
    pub outbound_queue_bytes: u64,
    /// Bytes written to sockets since start.
    pub bytes_written_total: u64,
    /// Bytes read from sockets since start.
    pub bytes_read_total: u64,
    /// Bytes held in messages whose fragments have not all arrived, across connections.
    pub unfinished_message_bytes: u64,
    /// Connections closed because unfinished messages exceeded the server-wide budget.
    pub unfinished_evictions_total: u64,
    /// TLS handshakes completed (built-in TLS only).
    pub tls_handshakes_total: u64,
    /// TLS handshakes that failed, stalled past the head timeout or were evicted.
    pub tls_handshake_failures_total: u64,
}

/// Gauges computed from engine state at render time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gauges {
    /// Registered connections.
    pub connections_active: u64,
    /// Rooms.
    pub rooms_active: u64,
    /// Seated players (connected or reserved).
    pub players_active: u64,
    /// Seats reserved for disconnected players.
    pub reconnection_sessions_active: u64,
    /// Spectators.
    pub spectators_active: u64,
    /// Pending timers.
    pub timers_pending: u64,
    /// Matchbox full-mesh peers connected.
    pub mesh_peers_active: u64,
    /// Matchbox full-mesh rooms and `next` groups.
    pub mesh_rooms_active: u64,
    /// Seconds since the last dashboard sample.
    pub dashboard_age_seconds: u64,
}

/// Everything a rendering needs, gathered by the engine.
#[derive(Clone, Debug)]
pub struct MetricsView<'a> {
    /// Counters.
    pub counters: &'a Counters,
    /// Gauges.
    pub gauges: Gauges,
    /// Time taken by `step`, measured by the caller.
    pub step_latency: &'a Histogram,
    /// Transport figures.
    pub transport: TransportStats,
    /// Flight recorder figures.
    pub recorder: RecorderStats,
    /// Cluster figures, when cluster mode is on.
    pub cluster: Option<ClusterView<'a>>,
}

/// Cluster mode's figures for rendering: the host's and the engine's.
#[derive(Clone, Debug)]
pub struct ClusterView<'a> {
    /// The host's figures.
    pub host: &'a ClusterHostStats,
    /// The engine's cluster counters.
    pub engine: crate::engine::ClusterStats,
    /// Rooms this node owns.
    pub rooms_owned: u64,
    /// Connections whose socket is here, served by another node.
    pub forwarded_out: u64,
    /// Connections served here whose socket is on another node.
    pub forwarded_in: u64,
}
