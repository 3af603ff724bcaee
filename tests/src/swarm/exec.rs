//! Running a workload: operations are resolved by the shared client model
//! ([`Clients`]) into inputs, written as scenario command lines, run in the simulator,
//! and checked.
//!
//! Besides the simulator's checks after every step, the client model checks that game
//! data from one player reaches each other player in the order it was sent (sequence
//! numbers only grow, replayed `missed_events` included), and that what clients were
//! told about their rooms agrees with the engine.

use signal_fish_core::testkit::{connect_target, Clients, Input};

use super::workload::{Op, Workload};
use crate::backend::{Backend, SimBackend};
use crate::frames::to_hex;
use crate::observe::Observation;
use crate::scenario::capture::Captures;
use crate::scenario::command::parse_command;
use crate::scenario::parse::{Header, DEFAULT_UNIX_MS};
use crate::scenario::runner::{build_config, execute};
use crate::sim::Sim;

/// The result of running a workload.
#[derive(Clone, Debug)]
pub struct Execution {
    /// The command lines that ran, in order.
    pub commands: Vec<String>,
    /// The first problem: index of the operation during which it appeared, and message.
    pub failure: Option<(usize, String)>,
    /// Hash of the full trace (for the determinism check).
    pub trace_hash: u64,
    /// Engine steps taken.
    pub steps: u64,
}

/// Runs `ops` (a subset of the workload's, when shrinking) with the workload's config.
pub fn run_ops(workload: &Workload, ops: &[Op]) -> Execution {
    let header = header_of(workload);
    let config = build_config(std::path::Path::new("swarm"), &header).expect("swarm configs are well-formed");
    let mut sim = Sim::new(config, workload.seed, DEFAULT_UNIX_MS, false).expect("swarm configs are valid");
    // Time passes only through `advance` operations, so each operation is resolved
    // against the state it will run in.
    sim.set_spacing(header.spacing);
    let mut backend = SimBackend { sim };
    let mut clients = Clients::new(backend.sim.engine().config());
    let empty = Captures::new();
    let mut commands = Vec::new();
    let mut failure = None;
    for (k, op) in ops.iter().enumerate() {
        let Some(line) = clients.resolve(op).and_then(|input| command_line(&input)) else { continue };
        let command =
            parse_command(&line).unwrap_or_else(|e| panic!("swarm wrote a bad command `{line}`: {e}"));
        let result = execute(&command, &mut backend, &empty);
        let observations = backend.settle();
        observe(&mut clients, &observations);
        for problem in clients.take_problems() {
            backend.sim.violate(problem);
        }
        let sim = &backend.sim;
        if let Err(problem) = clients.check_membership(sim.engine(), &|i| sim.conn_id(&Clients::name(i))) {
            backend.sim.violate(problem);
        }
        commands.push(line.clone());
        if let Err(e) = result {
            failure = Some((k, format!("swarm could not run `{line}`: {e}")));
            break;
        }
        if let Some(v) = backend.sim.violations().first() {
            failure = Some((k, v.message.clone()));
            break;
        }
    }
    Execution { commands, failure, trace_hash: backend.sim.trace().hash, steps: backend.sim.steps() }
}

/// The scenario header of a workload.
pub fn header_of(workload: &Workload) -> Header {
    Header {
        seed: workload.seed,
        config: vec![(2, workload.config.clone())],
        unix_ms: DEFAULT_UNIX_MS,
        sim_only: None,
        covers: Vec::new(),
        spacing: std::time::Duration::ZERO,
    }
}

/// The scenario command line of an input (`None` for a text frame a scenario line cannot
/// hold).
fn command_line(input: &Input) -> Option<String> {
    let name = |client: &usize| Clients::name(*client);
    Some(match input {
        Input::Connect { client, ip, opt_in, v3 } => {
            let path = match connect_target(*opt_in, *v3) {
                "/v2/ws" => String::new(),
                target => format!(" path={target}"),
            };
            format!("connect {} ip={ip}{path}", name(client))
        }
        Input::Text { client, text } => {
            if text.contains(['\n', '\r']) || text.trim() != text || text.is_empty() {
                return None;
            }
            format!("send {} {text}", name(client))
        }
        Input::MsgPackSeq { client, seq } => {
            format!(r#"send-binary {} msgpack {{"seq":{seq}}}"#, name(client))
        }
        Input::Binary { client, data } => format!("send-binary {} {}", name(client), to_hex(data)),
        Input::Pong { client } => format!("pong {}", name(client)),
        Input::Close { client } => format!("close {}", name(client)),
        Input::Drop { client } => format!("drop {}", name(client)),
        Input::Stall { client } => format!("stall {}", name(client)),
        Input::Backlog { client } => format!("backlog {}", name(client)),
        // Scenario files carry no host figures; the swarm's generator draws none.
        Input::Http { method, target, .. } => format!("http {method} {target}"),
        Input::Advance(by) => format!("advance {}ms", by.as_millis()),
        Input::AdvanceNext => "advance next".to_owned(),
    })
}

/// Tells the client model what each client received.
fn observe(clients: &mut Clients, observations: &[Observation]) {
    let index = |conn: &str| conn.strip_prefix('c')?.parse::<usize>().ok()?.checked_sub(1);
    for o in observations {
        match o {
            Observation::Message { conn, message: frame } => {
                if let Some(i) = index(conn) {
                    clients.observe_message(i, frame);
                }
            }
            Observation::Closed { conn, .. } => {
                if let Some(i) = index(conn) {
                    clients.observe_close(i);
                }
            }
            _ => {}
        }
    }
}
