//! Swarm testing of cluster mode (DECISIONS D58): a seed's random workload of the shared
//! operations runs on a simulated cluster (`testkit::SimCluster`, client `i` on node
//! `i % nodes`) and on one engine. Every step of the cluster is checked (each engine's
//! invariants, no code a room on two nodes, the shared client model's checks such as
//! game data arriving in order), and in the end every client's transcript must be the
//! single engine's.
//!
//! The configuration keeps per-node limits (connection caps, rate limits, room caps) out
//! of reach, since they are per node by design; timers and reconnection are drawn.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use signal_fish_core::testkit::{
    comparable, connect_op, connect_target, first_difference, weighted_op, Clients, Input, Op, SimCluster,
    Transcript,
};
use signal_fish_core::{CloseCause, Config, ConnId, Event};

use crate::rng::SplitMix64;

/// What one cluster seed did.
#[derive(Clone, Debug)]
pub struct ClusterRun {
    /// Operations that reached the engines.
    pub inputs: usize,
    /// Engine steps of the cluster run.
    pub steps: u64,
}

/// Runs seed `seed`: `steps` operations on `nodes` nodes and on one engine. `Err` names
/// the first problem.
pub fn run_cluster_seed(seed: u64, steps: usize, nodes: usize) -> Result<ClusterRun, String> {
    let mut rng = SplitMix64::new(seed ^ 0x434c_5553_5445_5200);
    let config = cluster_config(&mut rng);
    let mut ops = Vec::with_capacity(steps);
    for _ in 0..3.min(steps) {
        ops.push(connect_op(&mut rng));
    }
    while ops.len() < steps {
        let op = weighted_op(&mut rng);
        // The simulated cluster has no stalled sockets, host backlogs or metrics
        // requests (metrics are per node by design).
        if !matches!(op, Op::Stall { .. } | Op::Backlog { .. } | Op::Http { .. } | Op::AdvanceNext) {
            ops.push(op);
        }
    }
    let (single, _) = execute(&config, seed, &ops, None).map_err(|e| format!("one engine: {e}"))?;
    let (clustered, run) = execute(&config, seed, &ops, Some(nodes)).map_err(|e| format!("cluster: {e}"))?;
    let (mut clustered, mut single) = (comparable(&clustered), comparable(&single));
    for transcript in clustered.iter_mut().chain(single.iter_mut()) {
        transcript.0.iter_mut().for_each(forget_why_a_seat_is_gone);
    }
    match first_difference(&clustered, &single) {
        Some(difference) => {
            Err(format!("the cluster's transcripts differ from one engine's (left: cluster): {difference}"))
        }
        None => Ok(run),
    }
}

/// The one difference the README lists for reconnection on a cluster: a `Reconnect` is
/// routed by its room id, so one whose room was removed (the node that held it
/// remembers why the seat ended, but the directory no longer names it) or whose room id
/// is not the seat's room finds no record where it lands, and gets `RECONNECTION_FAILED`
/// where one server, which looks the seat up by player id, says why (expired, token
/// invalid, room gone). Both refuse the seat; this makes the refusals compare equal.
fn forget_why_a_seat_is_gone(message: &mut serde_json::Value) {
    let gone = message["type"] == "ReconnectionFailed"
        && matches!(
            message["data"]["error_code"].as_str(),
            Some(
                "RECONNECTION_EXPIRED"
                    | "ROOM_NOT_FOUND"
                    | "RECONNECTION_FAILED"
                    | "RECONNECTION_TOKEN_INVALID"
            )
        )
        && message["data"]["reason"] != "Reconnection is not enabled";
    if gone {
        *message = json!({"type": "ReconnectionFailed", "data": "the seat is gone"});
    }
}

/// Defaults with the drawn timers, and every per-node limit far away.
fn cluster_config(rng: &mut SplitMix64) -> Config {
    let patch = json!({
        "server": super::workload::drawn_server_settings(rng),
        "rate_limit": { "max_room_creations": 100_000, "max_join_attempts": 100_000 },
        "security": { "max_connections_per_ip": 100_000 },
    });
    let mut value = serde_json::to_value(Config::default()).expect("the default config serialises");
    merge(&mut value, &patch);
    serde_json::from_value(value).expect("the cluster swarm's config is valid")
}

fn merge(into: &mut serde_json::Value, patch: &serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(into), serde_json::Value::Object(patch)) => {
            for (k, v) in patch {
                merge(into.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (into, patch) => *into = patch.clone(),
    }
}

/// Runs `ops` on `nodes` nodes (one engine for `None`) with the shared client model
/// checking after every step; every client's transcript, in client order.
fn execute(
    config: &Config,
    seed: u64,
    ops: &[Op],
    nodes: Option<usize>,
) -> Result<(Vec<Transcript>, ClusterRun), String> {
    let mut sim = match nodes {
        None => SimCluster::single(config.clone(), seed),
        Some(n) => SimCluster::new(n, config.clone(), seed, Duration::ZERO),
    };
    let place = |client: usize| nodes.map_or(0, |n| client % n);
    let conn = |client: usize| ConnId(client as u64 + 1);
    let mut clients = Clients::new(config);
    let mut seen: Vec<(usize, bool)> = Vec::new();
    let mut inputs = 0;
    for op in ops {
        let Some(input) = clients.resolve(op) else { continue };
        inputs += 1;
        match input {
            Input::Connect { client, ip, opt_in, v3 } => {
                let ip: IpAddr = ip.parse().expect("workload addresses are valid");
                sim.open_at(place(client), conn(client), ip, connect_target(opt_in, v3))?;
            }
            Input::Text { client, text } => {
                sim.step(place(client), Event::Text { conn: conn(client), text })?
            }
            Input::MsgPackSeq { client, seq } => {
                let data = rmp_serde::to_vec_named(&json!({ "seq": seq })).expect("encodes");
                sim.step(place(client), Event::Binary { conn: conn(client), data: Bytes::from(data) })?
            }
            Input::Binary { client, data } => {
                sim.step(place(client), Event::Binary { conn: conn(client), data: Bytes::from(data) })?
            }
            Input::Pong { client } => sim.step(place(client), Event::PongFrame { conn: conn(client) })?,
            Input::Close { client } => sim
                .step(place(client), Event::Closed { conn: conn(client), cause: CloseCause::ClientClosed })?,
            Input::Drop { client } => sim.step(
                place(client),
                Event::Closed { conn: conn(client), cause: CloseCause::TransportError },
            )?,
            Input::Advance(by) => sim.advance(by)?,
            Input::Stall { .. } | Input::Backlog { .. } | Input::Http { .. } | Input::AdvanceNext => {
                unreachable!("left out of cluster workloads")
            }
        }
        // Inputs a millisecond apart: two clients' timers falling due at one instant would
        // fire in an arbitrary order (one engine orders them by connection id, a cluster
        // by node), which is no difference a client can rely on.
        sim.advance(Duration::from_millis(1))?;
        // Tell the client model what arrived since the last step.
        for client in 0..clients.len() {
            let transcript = sim.transcript(place(client), conn(client));
            if seen.len() <= client {
                seen.resize(client + 1, (0, false));
            }
            let (read, closed) = &mut seen[client];
            for frame in &transcript.frames[*read..] {
                clients.observe_message(client, frame);
            }
            *read = transcript.frames.len();
            if transcript.closed.is_some() && !*closed {
                *closed = true;
                clients.observe_close(client);
            }
        }
        if let Some(problem) = clients.take_problems().into_iter().next() {
            return Err(format!("after input {inputs}: {problem}"));
        }
    }
    let transcripts: Vec<Transcript> =
        (0..clients.len()).map(|c| sim.transcript(place(c), conn(c))).collect();
    Ok((transcripts, ClusterRun { inputs, steps: sim.steps() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounded for CI: 40 seeds of 300 operations on three nodes.
    #[test]
    fn random_cluster_workloads_match_one_engine() {
        let mut inputs = 0;
        for seed in 0..40 {
            match run_cluster_seed(seed, 300, 3) {
                Ok(run) => inputs += run.inputs,
                Err(problem) => panic!("seed {seed}: {problem}"),
            }
        }
        assert!(inputs > 40 * 100, "the workloads reached the engines ({inputs} inputs)");
    }
}
