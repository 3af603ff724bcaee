//! What every scenario of one run shares: the target server, the optional process to
//! measure, the source addresses, and a run tag that keeps this run's rooms apart from
//! any other run's on the same server.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::BenchError;
use crate::net::{check_target, Sources};
use crate::procfs::ServerProcess;

/// Rooms per game name: under the server's default `max_rooms_per_game` (1000).
const ROOMS_PER_GAME: usize = 500;
/// Room codes are six decimal digits.
pub const MAX_ROOMS: usize = 1_000_000;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The server's address (IPv4 loopback).
    pub server: SocketAddr,
    /// The server process, when its resources are measured.
    pub process: Option<ServerProcess>,
    /// Client source addresses.
    pub sources: Sources,
    /// 8 hex digits naming this run's games.
    pub tag: String,
    /// Count the server's system calls in measured windows (`perf stat`).
    pub count_syscalls: bool,
    /// Other nodes of a cluster: connection `i` goes to `[server, nodes…][i % n]`.
    pub nodes: Vec<SocketAddr>,
    /// Other processes whose CPU and memory count as the server's (nodes, Redis).
    pub also: Vec<ServerProcess>,
}

impl RunContext {
    /// Checks the target and the process. `source_net` `None` picks a block from the
    /// run tag, so consecutive runs against one server do not share per-IP rate-limit
    /// windows.
    pub fn new(
        server: SocketAddr,
        server_pid: Option<u32>,
        source_net: Option<u8>,
        clients_per_ip: usize,
    ) -> Result<RunContext, BenchError> {
        check_target("--server", server)?;
        let process = server_pid.map(|pid| ServerProcess::open("--server-pid", pid)).transpose()?;
        let seed = run_seed();
        let tag = format!("{:08x}", seed as u32);
        let net = source_net.unwrap_or(2 + ((seed >> 32) % 250) as u8);
        let sources = Sources::new(net, clients_per_ip)?;
        Ok(RunContext {
            server,
            process,
            sources,
            tag,
            count_syscalls: false,
            nodes: Vec::new(),
            also: Vec::new(),
        })
    }

    /// Adds the other nodes of a cluster and the other processes to measure.
    pub fn add_nodes(&mut self, nodes: &[SocketAddr], pids: &[u32]) -> Result<(), BenchError> {
        for &node in nodes {
            check_target("--also-server", node)?;
        }
        self.nodes = nodes.to_vec();
        self.also =
            pids.iter().map(|&pid| ServerProcess::open("--also-pid", pid)).collect::<Result<_, _>>()?;
        Ok(())
    }

    /// The server connection `index` goes to: round robin over the cluster's nodes.
    pub fn server_for(&self, index: usize) -> SocketAddr {
        match index % (1 + self.nodes.len()) {
            0 => self.server,
            k => self.nodes[k - 1],
        }
    }

    /// The game name of room `room` (rooms are spread over several games so no game
    /// reaches the per-game room cap).
    pub fn game_name(&self, room: usize) -> String {
        format!("bench-{}-{}", self.tag, room / ROOMS_PER_GAME)
    }

    /// The code of room `room`.
    pub fn room_code(room: usize) -> String {
        format!("{:06}", room % MAX_ROOMS)
    }

    /// Server CPU time so far in nanoseconds, when a process is measured (with
    /// `--also-pid`, all of them together).
    pub fn cpu_ns(&self) -> Option<u64> {
        let first = self.process.and_then(|p| p.cpu_ns().ok())?;
        self.also.iter().try_fold(first, |sum, p| Some(sum + p.cpu_ns().ok()?))
    }

    /// Server resident memory in bytes, when a process is measured (with `--also-pid`,
    /// all of them together).
    pub fn rss_bytes(&self) -> Option<u64> {
        let first = self.process.and_then(|p| p.rss_bytes().ok())?;
        self.also.iter().try_fold(first, |sum, p| Some(sum + p.rss_bytes().ok()?))
    }

    /// The fields every JSON summary starts with.
    pub fn json_header(&self, scenario: &str) -> Value {
        json!({
            "scenario": scenario,
            "server": self.server.to_string(),
            "also_servers": self.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "also_pids": self.also.iter().map(|p| p.pid()).collect::<Vec<_>>(),
            "server_pid": self.process.map(|p| p.pid()),
            "source_net": format!("127.{}.0.0/16", self.sources.net()),
            "clients_per_ip": self.sources.per_ip(),
            "tag": self.tag,
            "load_average_1m": load_average(),
        })
    }
}

/// Clock-derived, different for every run.
fn run_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    // Mix so that close start times give unrelated tags and blocks.
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// The machine's 1-minute load average (recorded with every figure).
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        let ctx = RunContext::new("127.0.0.1:1".parse().unwrap(), None, Some(9), 4).unwrap();
        assert_eq!(ctx.tag.len(), 8);
        assert_eq!(ctx.game_name(0), ctx.game_name(ROOMS_PER_GAME - 1));
        assert_ne!(ctx.game_name(0), ctx.game_name(ROOMS_PER_GAME));
        assert_eq!(RunContext::room_code(42), "000042");
        assert_eq!(ctx.json_header("idle")["source_net"], "127.9.0.0/16");
        let picked = RunContext::new("127.0.0.1:1".parse().unwrap(), None, None, 4).unwrap();
        assert!(picked.sources.net() >= 2);
        assert!(RunContext::new("10.1.1.1:1".parse().unwrap(), None, None, 4).is_err());
    }
}
