//! Random workloads: a configuration tuned to make limits and timers bite, and a list of
//! symbolic operations ("connection #3 joins the room of connection #1") that are
//! resolved against what clients have seen only when they run, so that removing some of
//! them while shrinking leaves the rest meaningful.

use serde_json::json;

use crate::rng::SplitMix64;

/// One thing a client, the network or the clock does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Open a connection from one of a few IPs, opting in to tokens or not.
    Connect {
        /// Index into the IP pool.
        ip: u8,
        /// Connect with `?reconnection_token=true`.
        opt_in: bool,
    },
    /// `Authenticate` (JSON or MessagePack game data; a known or unknown app).
    Authenticate {
        /// Which open connection (modulo their number).
        who: usize,
        /// Ask for MessagePack game data.
        msgpack: bool,
        /// Use an app id that is not configured.
        bad_app: bool,
    },
    /// `JoinRoom` without a code (create).
    Create {
        /// Which open connection.
        who: usize,
        /// Game name index.
        game: u8,
        /// `max_players`.
        max_players: u8,
        /// `supports_authority`.
        authority: bool,
    },
    /// `JoinRoom` with the code of the room another connection is (or was) in.
    JoinOther {
        /// Which open connection.
        who: usize,
        /// Which other connection's room.
        other: usize,
    },
    /// `JoinRoom` with one of a few fixed codes (joins or creates).
    JoinFixed {
        /// Which open connection.
        who: usize,
        /// Code index.
        code: u8,
        /// Game name index.
        game: u8,
    },
    /// `LeaveRoom`.
    Leave {
        /// Which open connection.
        who: usize,
    },
    /// `PlayerReady`.
    Ready {
        /// Which open connection.
        who: usize,
    },
    /// `AuthorityRequest`.
    Authority {
        /// Which open connection.
        who: usize,
        /// Claim (true) or release.
        claim: bool,
    },
    /// `GameData` with a sequence number.
    GameData {
        /// Which open connection.
        who: usize,
    },
    /// A binary frame: MessagePack with a sequence number, or bytes with no JSON form.
    Binary {
        /// Which open connection.
        who: usize,
        /// Bytes that cannot be translated to JSON.
        garbage: bool,
    },
    /// `ProvideConnectionInfo`.
    ConnectionInfo {
        /// Which open connection.
        who: usize,
    },
    /// `Ping`.
    Ping {
        /// Which open connection.
        who: usize,
    },
    /// A WebSocket Pong frame.
    Pong {
        /// Which open connection.
        who: usize,
    },
    /// `JoinAsSpectator` the room of another connection.
    Spectate {
        /// Which open connection.
        who: usize,
        /// Which other connection's room.
        other: usize,
    },
    /// `LeaveSpectator`.
    StopSpectating {
        /// Which open connection.
        who: usize,
    },
    /// `Reconnect` as a connection that is gone.
    Reconnect {
        /// Which open connection sends it.
        who: usize,
        /// Which gone connection to resume.
        target: usize,
        /// Use a wrong token.
        tamper: bool,
    },
    /// The client closes cleanly.
    Close {
        /// Which open connection.
        who: usize,
    },
    /// The connection drops.
    Drop {
        /// Which open connection.
        who: usize,
    },
    /// The client stops reading; frames for it are held until a backlog.
    Stall {
        /// Which open connection.
        who: usize,
    },
    /// The connection's writer backs up.
    Backlog {
        /// Which open connection.
        who: usize,
    },
    /// A frame that is not a valid client message.
    Malformed {
        /// Which open connection.
        who: usize,
        /// Which kind of garbage.
        kind: u8,
    },
    /// An HTTP request.
    Http {
        /// Which request.
        kind: u8,
    },
    /// Time passes.
    Advance {
        /// Milliseconds.
        ms: u64,
    },
    /// Jump to the next deadline.
    AdvanceNext,
}

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

/// Game names used by workloads.
pub const GAMES: [&str; 2] = ["alpha", "beta"];
/// Fixed room codes used by workloads (the last one is not valid).
pub const FIXED_CODES: [&str; 4] = ["ROOM01", "room02", "QQQQQQ", "bad!"];
/// Client IPs used by workloads.
pub const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];

impl Workload {
    /// The workload of a seed.
    pub fn generate(seed: u64, steps: usize) -> Workload {
        let mut rng = SplitMix64::new(seed ^ 0x5157_4152_4d00_0000);
        let config = random_config(&mut rng);
        let mut ops = Vec::with_capacity(steps);
        // Start with a few connections so early operations have someone to act.
        for _ in 0..3.min(steps) {
            ops.push(Op::Connect { ip: rng.below(IPS.len() as u64) as u8, opt_in: rng.chance(60) });
        }
        while ops.len() < steps {
            ops.push(random_op(&mut rng));
        }
        Workload { seed, config, ops }
    }
}

fn random_config(rng: &mut SplitMix64) -> serde_json::Value {
    let auth = rng.chance(15);
    let mut config = json!({
        "server": {
            "ping_timeout": *rng.pick(&[2u64, 5, 30]),
            "reconnection_window": *rng.pick(&[1u64, 3, 20]),
            "event_buffer_size": *rng.pick(&[1u64, 3, 100]),
            "empty_room_timeout": *rng.pick(&[0u64, 2, 30]),
            "inactive_room_timeout": *rng.pick(&[4u64, 60]),
            "enable_reconnection": rng.chance(90),
            "default_max_players": *rng.pick(&[2u64, 3, 4]),
            "max_spectators_per_room": *rng.pick(&[0u64, 1, 2, 32]),
            "max_rooms": *rng.pick(&[2u64, 4, 10000]),
            "max_rooms_per_game": *rng.pick(&[1u64, 3, 1000]),
            "max_connections": *rng.pick(&[4u64, 10000]),
        },
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

fn random_op(rng: &mut SplitMix64) -> Op {
    let who = rng.below(64) as usize;
    let other = rng.below(64) as usize;
    match rng.below(100) {
        0..=6 => Op::Connect { ip: rng.below(IPS.len() as u64) as u8, opt_in: rng.chance(60) },
        7..=9 => Op::Authenticate { who, msgpack: rng.chance(50), bad_app: rng.chance(15) },
        10..=17 => Op::Create {
            who,
            game: rng.below(GAMES.len() as u64) as u8,
            max_players: *rng.pick(&[0u8, 1, 2, 2, 3, 4, 200]),
            authority: rng.chance(80),
        },
        18..=27 => Op::JoinOther { who, other },
        28..=30 => Op::JoinFixed {
            who,
            code: rng.below(FIXED_CODES.len() as u64) as u8,
            game: rng.below(GAMES.len() as u64) as u8,
        },
        31..=35 => Op::Leave { who },
        36..=42 => Op::Ready { who },
        43..=46 => Op::Authority { who, claim: rng.chance(60) },
        47..=55 => Op::GameData { who },
        56..=58 => Op::Binary { who, garbage: rng.chance(30) },
        59..=60 => Op::ConnectionInfo { who },
        61..=62 => Op::Ping { who },
        63 => Op::Pong { who },
        64..=67 => Op::Spectate { who, other },
        68..=69 => Op::StopSpectating { who },
        70..=75 => Op::Reconnect { who, target: other, tamper: rng.chance(20) },
        76..=78 => Op::Close { who },
        79..=81 => Op::Drop { who },
        82 => Op::Backlog { who },
        83 => Op::Stall { who },
        84..=85 => Op::Malformed { who, kind: rng.below(6) as u8 },
        86..=87 => Op::Http { kind: rng.below(8) as u8 },
        88..=95 => Op::Advance { ms: *rng.pick(&[0u64, 10, 100, 700, 1500, 4000]) + rng.below(50) },
        _ => Op::AdvanceNext,
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
