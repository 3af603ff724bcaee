//! Random workloads: a configuration tuned to make limits and timers bite, and a list of
//! the shared symbolic operations ([`signal_fish_core::testkit::Op`]), drawn by the
//! shared weighted generator from the seed.

use serde_json::json;
pub use signal_fish_core::testkit::Op;
use signal_fish_core::testkit::{connect_op, weighted_op, Choices};

use crate::rng::SplitMix64;

/// A seed's configuration and operations.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The seed (also the engine's seed).
    pub seed: u64,
    /// Configuration overrides (a JSON merge patch over the defaults).
    pub config: serde_json::Value,
    /// The operations.
    pub ops: Vec<Op>,
}

impl Workload {
    /// The workload of a seed.
    pub fn generate(seed: u64, steps: usize) -> Workload {
        let mut rng = SplitMix64::new(seed ^ 0x5157_4152_4d00_0000);
        let config = random_config(&mut rng);
        let mut ops = Vec::with_capacity(steps);
        // Start with a few connections so early operations have someone to act.
        for _ in 0..3.min(steps) {
            ops.push(connect_op(&mut rng));
        }
        while ops.len() < steps {
            ops.push(weighted_op(&mut rng));
        }
        Workload { seed, config, ops }
    }
}

/// The `server` settings every swarm draws: timers, reconnection and room sizes (drawn
/// in this order, so a seed's workload stays what it was).
pub(super) fn drawn_server_settings(rng: &mut SplitMix64) -> serde_json::Map<String, serde_json::Value> {
    let drawn = json!({
        "ping_timeout": *rng.pick(&[2u64, 5, 30]),
        "reconnection_window": *rng.pick(&[1u64, 3, 20]),
        "event_buffer_size": *rng.pick(&[1u64, 3, 100]),
        "empty_room_timeout": *rng.pick(&[0u64, 2, 30]),
        "inactive_room_timeout": *rng.pick(&[4u64, 60]),
        "enable_reconnection": rng.chance(90),
        "default_max_players": *rng.pick(&[2u64, 3, 4]),
        "max_spectators_per_room": *rng.pick(&[0u64, 1, 2, 32]),
    });
    match drawn {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

fn random_config(rng: &mut SplitMix64) -> serde_json::Value {
    let auth = rng.chance(15);
    let mut server = drawn_server_settings(rng);
    server.insert("max_rooms".to_owned(), json!(*rng.pick(&[2u64, 4, 10000])));
    server.insert("max_rooms_per_game".to_owned(), json!(*rng.pick(&[1u64, 3, 1000])));
    server.insert("max_connections".to_owned(), json!(*rng.pick(&[4u64, 10000])));
    let mut config = json!({
        "server": server,
        "rate_limit": {
            "max_room_creations": *rng.pick(&[2u64, 5]),
            "max_join_attempts": *rng.pick(&[4u64, 20]),
            "time_window": *rng.pick(&[5u64, 60]),
        },
        "security": {
            "max_connections_per_ip": *rng.pick(&[2u64, 4, 10]),
            "max_message_size": *rng.pick(&[256u64, 65536]),
        },
        "websocket": {
            "max_outbound_queue_bytes": *rng.pick(&[4096u64, 1048576]),
        },
        "metrics": { "dashboard_cache_refresh_interval_secs": *rng.pick(&[1u64, 5]) },
    });
    if auth {
        config["security"]["require_websocket_auth"] = json!(true);
        config["websocket"]["auth_timeout_secs"] = json!(5);
        config["security"]["authorized_apps"] = json!([{
            "app_id": "app", "app_secret": "s", "app_name": "App",
            "max_rooms": *rng.pick(&[1u64, 3]),
            "max_players_per_room": *rng.pick(&[2u64, 8]),
            "rate_limit_per_minute": *rng.pick(&[3u64, 100]),
        }]);
    }
    config
}

impl Choices for SplitMix64 {
    fn below(&mut self, n: u64) -> u64 {
        SplitMix64::below(self, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_workload() {
        let a = Workload::generate(3, 50);
        let b = Workload::generate(3, 50);
        assert_eq!(a.ops, b.ops);
        assert_eq!(a.config, b.config);
        assert_eq!(a.ops.len(), 50);
        assert_ne!(Workload::generate(4, 50).ops, a.ops);
    }
}
