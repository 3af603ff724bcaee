//! Command-line flags (argh): global options, then one scenario subcommand.

use std::net::SocketAddr;
use std::time::Duration;

use argh::FromArgs;

use crate::context::RunContext;
use crate::error::BenchError;
use crate::report::Summary;
use crate::scenario::fixed_rate::FixedRateOptions;
use crate::scenario::idle::IdleOptions;
use crate::scenario::join_storm::JoinStormOptions;
use crate::scenario::mesh::MeshOptions;
use crate::scenario::phases::TrafficPhases;
use crate::scenario::relay::RelayOptions;
use crate::scenario::soak::SoakOptions;
use crate::scenario::{self, MAX_PHASE};
use crate::traffic::Stagger;

/// Benchmark a Signal Fish v2 server over real WebSockets on loopback. Prints
/// human-readable lines and one JSON summary line per run.
#[derive(FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Run the server pinned to one core and the tool to another, e.g.\n  taskset -c 0 signal-fish-server &\n  taskset -c 1 signal-fish-bench --server-pid $! relay\nClients bind to addresses in 127.N.0.0/16 so the server's per-IP limits hold; each \
run picks N from its tag unless --source-net is given. Rooms are joined by code (JoinRoom with room_code), \
which the server counts against rate_limit.max_join_attempts per IP and window.\nExit codes: 0 done, 1 the run \
failed or was refused, 2 bad usage."
)]
pub struct Args {
    /// server address, IPv4 loopback only (default 127.0.0.1:3536)
    #[argh(option, default = "SocketAddr::from(([127, 0, 0, 1], 3536))")]
    pub server: SocketAddr,
    /// server process id: its CPU time and memory are read from /proc/PID
    #[argh(option)]
    pub server_pid: Option<u32>,
    /// another node of a cluster (repeat for more): clients are spread round robin over --server and these, so rooms span nodes
    #[argh(option)]
    pub also_server: Vec<SocketAddr>,
    /// another process whose CPU time and memory count with --server-pid's (repeat: the other nodes, Redis)
    #[argh(option)]
    pub also_pid: Vec<u32>,
    /// second octet N of the 127.N.0.0/16 block client sockets bind to (default: from the run tag)
    #[argh(option)]
    pub source_net: Option<u8>,
    /// clients per source address (default 8; keep it below the server's security.max_connections_per_ip)
    #[argh(option, default = "8")]
    pub clients_per_ip: usize,
    /// speak TLS (wss://, https://) to a server with built-in TLS, trusting the CA certificates in this PEM file for the name localhost
    #[argh(option)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// also count the server's system calls per message with `perf stat` (needs --server-pid, perf, and permission to trace; tracing adds server CPU, so take CPU figures from runs without it)
    #[argh(switch)]
    pub count_syscalls: bool,
    /// the scenario
    #[argh(subcommand)]
    pub scenario: ScenarioArgs,
}

/// The scenarios.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ScenarioArgs {
    /// `join-storm`
    JoinStorm(JoinStormArgs),
    /// `relay`
    Relay(RelayArgs),
    /// `fixed-rate`
    FixedRate(FixedRateArgs),
    /// `idle`
    Idle(IdleArgs),
    /// `soak`
    Soak(SoakArgs),
    /// `mesh`
    Mesh(MeshArgs),
}

/// N clients connect and join rooms of K with C attempts in flight: joins/s, joins per
/// server CPU-second, connect→RoomJoined percentiles, failures by error code.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "join-storm")]
pub struct JoinStormArgs {
    /// clients N (default 2000)
    #[argh(option, default = "2000")]
    pub clients: usize,
    /// players per room K (default 8)
    #[argh(option, default = "8")]
    pub room_size: u8,
    /// join attempts in flight C (default 200)
    #[argh(option, default = "200")]
    pub in_flight: usize,
    /// seconds one attempt may take before it counts as TIMEOUT (default 10)
    #[argh(option, default = "10.0")]
    pub timeout_secs: f64,
}

/// R rooms × K players send game data flat out under an in-flight window: messages and
/// deliveries per second and per server CPU-second, latency, lost/duplicated/reordered.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "relay")]
pub struct RelayArgs {
    /// rooms R (default 100)
    #[argh(option, default = "100")]
    pub rooms: usize,
    /// players per room K (default 4)
    #[argh(option, default = "4")]
    pub room_size: u8,
    /// messages per sender not yet received by every room-mate (default 32)
    #[argh(option, default = "32")]
    pub window: u64,
    /// seconds of traffic before measuring (default 1)
    #[argh(option, default = "1.0")]
    pub warmup_secs: f64,
    /// seconds measured (default 10)
    #[argh(option, default = "10.0")]
    pub secs: f64,
    /// longest wait in seconds for in-flight messages at the end (default 10)
    #[argh(option, default = "10.0")]
    pub drain_secs: f64,
    /// extra payload bytes per message (default 0: about 40 bytes of payload)
    #[argh(option, default = "0")]
    pub payload_bytes: usize,
    /// join attempts in flight while setting up (default 100)
    #[argh(option, default = "100")]
    pub join_in_flight: usize,
    /// seconds one join may take (default 10)
    #[argh(option, default = "10.0")]
    pub join_timeout_secs: f64,
}

/// N clients in rooms of K send game data at H Hz: achieved rate, latency percentiles,
/// lost/duplicated/reordered.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "fixed-rate")]
pub struct FixedRateArgs {
    /// clients N (default 1000)
    #[argh(option, default = "1000")]
    pub clients: usize,
    /// players per room K (default 4)
    #[argh(option, default = "4")]
    pub room_size: u8,
    /// messages per second per client H (default 20)
    #[argh(option, default = "20.0")]
    pub hz: f64,
    /// seconds of traffic before measuring (default 2)
    #[argh(option, default = "2.0")]
    pub warmup_secs: f64,
    /// seconds measured (default 10)
    #[argh(option, default = "10.0")]
    pub secs: f64,
    /// longest wait in seconds for in-flight messages at the end (default 10)
    #[argh(option, default = "10.0")]
    pub drain_secs: f64,
    /// extra payload bytes per message (default 0)
    #[argh(option, default = "0")]
    pub payload_bytes: usize,
    /// join attempts in flight while setting up (default 100)
    #[argh(option, default = "100")]
    pub join_in_flight: usize,
    /// seconds one join may take (default 10)
    #[argh(option, default = "10.0")]
    pub join_timeout_secs: f64,
    /// where each sender starts in the period: scattered (room-mates far apart, as
    /// independent players are; the default) or by-room (room-mates next to each other,
    /// the layout of figures measured before this option)
    #[argh(option, default = "String::from(\"scattered\")")]
    pub stagger: String,
}

/// N joined connections held S seconds: server RSS per connection and server CPU while
/// idle.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "idle")]
pub struct IdleArgs {
    /// connections N (default 5000)
    #[argh(option, default = "5000")]
    pub clients: usize,
    /// players per room (default 4)
    #[argh(option, default = "4")]
    pub room_size: u8,
    /// join attempts in flight while setting up (default 200)
    #[argh(option, default = "200")]
    pub join_in_flight: usize,
    /// seconds one join may take (default 10)
    #[argh(option, default = "10.0")]
    pub join_timeout_secs: f64,
    /// longest wait in seconds after the last join before measuring; with --server-pid it
    /// ends once the server is quiet (default 5)
    #[argh(option, default = "5.0")]
    pub settle_secs: f64,
    /// seconds S the connections are held and measured (default 10)
    #[argh(option, default = "10.0")]
    pub hold_secs: f64,
    /// send a JSON Ping every this many seconds per connection (default 0: none; the
    /// server's ping_timeout, 30 s by default, must then exceed settle + hold)
    #[argh(option, default = "0.0")]
    pub ping_secs: f64,
}

/// A population churns through the protocol for D seconds (joins, games, reconnects,
/// spectators, malformed frames) while the server is sampled: RSS and fd growth per
/// hour, p99 per window, loss, and whether the server returns to idle afterwards.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "soak")]
pub struct SoakArgs {
    /// connections in the population, spectators included (default 200)
    #[argh(option, default = "200")]
    pub clients: usize,
    /// how many of them are spectators (default 20)
    #[argh(option, default = "20")]
    pub spectators: usize,
    /// players per room (default 4)
    #[argh(option, default = "4")]
    pub room_size: u8,
    /// game-data messages per second per player during a game (default 20)
    #[argh(option, default = "20.0")]
    pub hz: f64,
    /// seconds of churn (default 600)
    #[argh(option, default = "600.0")]
    pub duration_secs: f64,
    /// seconds of churn before the steady state is taken to begin (default 120; the
    /// server keeps empty rooms 300 s, so memory settles after about that)
    #[argh(option, default = "120.0")]
    pub warmup_secs: f64,
    /// seconds between samples of the server (default 5)
    #[argh(option, default = "5.0")]
    pub sample_secs: f64,
    /// mean seconds a game lasts (default 30; each lasts 0.5 to 1.5 times this)
    #[argh(option, default = "30.0")]
    pub game_secs: f64,
    /// longest seconds a dropped player stays away before reconnecting (default 1; the
    /// server keeps 100 messages for it by default, 3 room-mates × 20 Hz make 60/s)
    #[argh(option, default = "1.0")]
    pub max_away_secs: f64,
    /// longest seconds to wait after the churn for the server to have no rooms and no
    /// connections (default 660: reconnection window 300 + empty-room timeout 300 + 60)
    #[argh(option, default = "660.0")]
    pub idle_wait_secs: f64,
    /// app_id every connection authenticates with (default: every fourth connection
    /// authenticates as signal-fish-bench, which a server without authentication answers)
    #[argh(option)]
    pub app_id: Option<String>,
}

/// N matchbox peers connect to rooms of R on a matchbox signaling server (point
/// --server at Signal Fish's mesh port, or at matchbox_server) and send signals at H Hz
/// round-robin to their room-mates: connect→IdAssigned and last joiner→room announced
/// percentiles, server RSS per peer, signals relayed per server CPU-second, latency,
/// lost/duplicated/reordered.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mesh")]
pub struct MeshArgs {
    /// peers N (default 1000)
    #[argh(option, default = "1000")]
    pub peers: usize,
    /// peers per room R (default 4)
    #[argh(option, default = "4")]
    pub room_size: u8,
    /// signals per second per peer H (default 10)
    #[argh(option, default = "10.0")]
    pub hz: f64,
    /// seconds of signals before measuring (default 1)
    #[argh(option, default = "1.0")]
    pub warmup_secs: f64,
    /// seconds measured (default 10)
    #[argh(option, default = "10.0")]
    pub secs: f64,
    /// longest wait in seconds for signals in flight at the end (default 10)
    #[argh(option, default = "10.0")]
    pub drain_secs: f64,
    /// connection attempts in flight while joining (default 100)
    #[argh(option, default = "100")]
    pub join_in_flight: usize,
    /// seconds one peer may take to get its IdAssigned, and to hear of its room-mates after it (default 10)
    #[argh(option, default = "10.0")]
    pub join_timeout_secs: f64,
    /// longest wait in seconds after the joins before reading the server's RSS; with --server-pid it ends once the server is quiet (default 2)
    #[argh(option, default = "2.0")]
    pub settle_secs: f64,
}

/// Seconds from the command line as a duration, naming the flag when it is not a
/// finite number in range.
pub fn secs(flag: &str, value: f64) -> Result<Duration, BenchError> {
    if !value.is_finite() || value < 0.0 || value > MAX_PHASE.as_secs_f64() {
        return Err(BenchError::new(format!(
            "--{flag} {value}: must be a number of seconds from 0 to {}",
            MAX_PHASE.as_secs()
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// `--stagger` of `fixed-rate`, naming the flag and the accepted values otherwise.
fn stagger(value: &str) -> Result<Stagger, BenchError> {
    Stagger::from_name(value)
        .ok_or_else(|| BenchError::new(format!("--stagger {value}: must be scattered or by-room")))
}

/// The traffic-phase flags `relay` and `fixed-rate` both take (argh has no flattening).
struct TrafficPhaseArgs {
    warmup_secs: f64,
    secs: f64,
    drain_secs: f64,
    payload_bytes: usize,
    join_in_flight: usize,
    join_timeout_secs: f64,
}

impl TrafficPhaseArgs {
    /// The phases, or an error naming the first flag that is not a number of seconds.
    fn phases(self) -> Result<TrafficPhases, BenchError> {
        Ok(TrafficPhases {
            warmup: secs("warmup-secs", self.warmup_secs)?,
            duration: secs("secs", self.secs)?,
            drain: secs("drain-secs", self.drain_secs)?,
            pad: self.payload_bytes,
            join_in_flight: self.join_in_flight,
            join_timeout: secs("join-timeout-secs", self.join_timeout_secs)?,
        })
    }
}

/// Runs what `args` asks for.
pub fn run(args: &Args) -> Result<Summary, BenchError> {
    if let Some(ca) = &args.tls_ca {
        crate::net::use_tls(ca)?;
    }
    let mut ctx = RunContext::new(args.server, args.server_pid, args.source_net, args.clients_per_ip)?;
    if !args.also_pid.is_empty() && args.server_pid.is_none() {
        return Err(BenchError::new("--also-pid needs --server-pid".to_owned()));
    }
    ctx.add_nodes(&args.also_server, &args.also_pid)?;
    if args.count_syscalls {
        if args.server_pid.is_none() {
            return Err(BenchError::new("--count-syscalls needs --server-pid".to_owned()));
        }
        ctx.count_syscalls = true;
    }
    match &args.scenario {
        ScenarioArgs::JoinStorm(a) => scenario::join_storm::run(
            &ctx,
            &JoinStormOptions {
                clients: a.clients,
                room_size: a.room_size,
                in_flight: a.in_flight,
                timeout: secs("timeout-secs", a.timeout_secs)?,
            },
        ),
        ScenarioArgs::Relay(a) => scenario::relay::run(
            &ctx,
            &RelayOptions {
                rooms: a.rooms,
                room_size: a.room_size,
                window: a.window,
                phases: TrafficPhaseArgs {
                    warmup_secs: a.warmup_secs,
                    secs: a.secs,
                    drain_secs: a.drain_secs,
                    payload_bytes: a.payload_bytes,
                    join_in_flight: a.join_in_flight,
                    join_timeout_secs: a.join_timeout_secs,
                }
                .phases()?,
            },
        ),
        ScenarioArgs::FixedRate(a) => scenario::fixed_rate::run(
            &ctx,
            &FixedRateOptions {
                clients: a.clients,
                room_size: a.room_size,
                hz: a.hz,
                stagger: stagger(&a.stagger)?,
                phases: TrafficPhaseArgs {
                    warmup_secs: a.warmup_secs,
                    secs: a.secs,
                    drain_secs: a.drain_secs,
                    payload_bytes: a.payload_bytes,
                    join_in_flight: a.join_in_flight,
                    join_timeout_secs: a.join_timeout_secs,
                }
                .phases()?,
            },
        ),
        ScenarioArgs::Idle(a) => scenario::idle::run(
            &ctx,
            &IdleOptions {
                clients: a.clients,
                room_size: a.room_size,
                join_in_flight: a.join_in_flight,
                join_timeout: secs("join-timeout-secs", a.join_timeout_secs)?,
                settle: secs("settle-secs", a.settle_secs)?,
                hold: secs("hold-secs", a.hold_secs)?,
                ping: (a.ping_secs > 0.0).then(|| secs("ping-secs", a.ping_secs)).transpose()?,
            },
        ),
        ScenarioArgs::Soak(a) => scenario::soak::run(
            &ctx,
            &SoakOptions {
                clients: a.clients,
                spectators: a.spectators,
                room_size: a.room_size,
                hz: a.hz,
                duration: secs("duration-secs", a.duration_secs)?,
                warmup: secs("warmup-secs", a.warmup_secs)?,
                sample: secs("sample-secs", a.sample_secs)?,
                game: secs("game-secs", a.game_secs)?,
                max_away: secs("max-away-secs", a.max_away_secs)?,
                idle_wait: secs("idle-wait-secs", a.idle_wait_secs)?,
                app_id: a.app_id.clone(),
            },
        ),
        ScenarioArgs::Mesh(a) => scenario::mesh::run(
            &ctx,
            &MeshOptions {
                peers: a.peers,
                room_size: a.room_size,
                hz: a.hz,
                warmup: secs("warmup-secs", a.warmup_secs)?,
                duration: secs("secs", a.secs)?,
                drain: secs("drain-secs", a.drain_secs)?,
                join_in_flight: a.join_in_flight,
                join_timeout: secs("join-timeout-secs", a.join_timeout_secs)?,
                settle: secs("settle-secs", a.settle_secs)?,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, argh::EarlyExit> {
        Args::from_args(&["signal-fish-bench"], args)
    }

    #[test]
    fn defaults_match_the_targets() {
        let args = parse(&["relay"]).unwrap();
        assert_eq!(args.server, "127.0.0.1:3536".parse().unwrap());
        let ScenarioArgs::Relay(r) = args.scenario else { panic!("relay expected") };
        assert_eq!((r.rooms, r.room_size), (100, 4));
        let ScenarioArgs::JoinStorm(j) = parse(&["join-storm"]).unwrap().scenario else { panic!() };
        assert_eq!((j.clients, j.room_size, j.in_flight), (2000, 8, 200));
        let ScenarioArgs::FixedRate(f) = parse(&["fixed-rate"]).unwrap().scenario else { panic!() };
        assert_eq!((f.clients, f.room_size, f.hz, f.stagger.as_str()), (1000, 4, 20.0, "scattered"));
        let ScenarioArgs::Idle(i) = parse(&["idle"]).unwrap().scenario else { panic!() };
        assert_eq!(i.clients, 5000);
        let ScenarioArgs::Soak(s) = parse(&["soak"]).unwrap().scenario else { panic!() };
        assert_eq!(
            (s.clients, s.room_size, s.hz, s.duration_secs, s.sample_secs),
            (200, 4, 20.0, 600.0, 5.0)
        );
        let ScenarioArgs::Mesh(m) = parse(&["mesh"]).unwrap().scenario else { panic!() };
        assert_eq!((m.peers, m.room_size, m.hz, m.warmup_secs, m.secs), (1000, 4, 10.0, 1.0, 10.0));
    }

    #[test]
    fn bad_input_is_named() {
        assert!(parse(&["relay", "--rooms", "x"]).is_err());
        assert!(parse(&[]).is_err());
        let args = parse(&["--server", "10.0.0.1:3536", "relay"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("loopback"));
        let args = parse(&["relay", "--secs", "-1"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--secs -1"));
        let args = parse(&["relay", "--room-size", "1"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--room-size 1"));
        let args = parse(&["fixed-rate", "--hz", "0"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--hz 0"));
        let args = parse(&["fixed-rate", "--stagger", "random"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--stagger random: must be scattered or by-room"));
        let args = parse(&["--also-server", "10.0.0.2:3536", "relay"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--also-server 10.0.0.2:3536: only IPv4 loopback"));
        let args = parse(&["--also-pid", "1", "relay"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--also-pid needs --server-pid"));
        let args = parse(&["--clients-per-ip", "0", "idle"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--clients-per-ip 0"));
        let args = parse(&["join-storm", "--in-flight", "0"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--in-flight 0"));
        let args = parse(&["soak", "--spectators", "197", "--room-size", "4"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("fewer players than one room"));
        let args = parse(&["soak", "--warmup-secs", "700"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--warmup-secs"));
        let args = parse(&["soak", "--max-away-secs", "0.1"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--max-away-secs 0.1"));
        let args = parse(&["mesh", "--room-size", "1"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--room-size 1"));
        let args = parse(&["mesh", "--hz", "0"]).unwrap();
        assert!(run(&args).unwrap_err().0.contains("--hz 0"));
    }
}
