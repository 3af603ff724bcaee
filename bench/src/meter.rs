//! CPU accounting over one measured window: the server's CPU time, the generator's
//! (this process), and what every other process on the machine used meanwhile — so a
//! figure taken while someone else was compiling can be told from a clean one.

use std::time::Instant;

use serde_json::{json, Value};

use crate::context::RunContext;
use crate::procfs::{cpu_secs, machine_busy_ns, ServerProcess};
use crate::syscalls::SyscallCounter;

/// Readings at the start of a window.
#[derive(Debug)]
pub struct Meter {
    at: Instant,
    server: Option<u64>,
    generator: Option<u64>,
    machine: Option<u64>,
    switches: Option<u64>,
    syscalls: Option<SyscallCounter>,
}

/// What the server asked of the kernel in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// System calls (where `perf` could count them).
    pub syscalls: Option<u64>,
    /// Context switches of all its threads.
    pub switches: u64,
}

/// The server process, when one other than this one is measured (in-process, the
/// generator's own calls and switches would be mixed in).
fn separate_server(ctx: &RunContext) -> Option<ServerProcess> {
    ctx.process.filter(|p| p.pid() != std::process::id())
}

/// CPU use over a finished window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Wall time of the window in seconds.
    pub secs: f64,
    /// Server CPU seconds (with a server process).
    pub server: Option<f64>,
    /// Generator CPU seconds.
    pub generator: Option<f64>,
    /// CPU seconds of everything else on the machine (10 ms resolution).
    pub others: Option<f64>,
    /// The server's system calls and context switches in the window.
    pub kernel: Option<KernelCounts>,
}

fn generator_ns() -> Option<u64> {
    ServerProcess::open("pid", std::process::id()).ok().and_then(|p| p.cpu_ns().ok())
}

impl Meter {
    /// Starts a window now.
    pub fn start(ctx: &RunContext) -> Meter {
        Meter {
            at: Instant::now(),
            server: ctx.cpu_ns(),
            generator: generator_ns(),
            machine: machine_busy_ns(),
            switches: separate_server(ctx).and_then(|p| p.context_switches().ok()),
            syscalls: separate_server(ctx)
                .filter(|_| ctx.count_syscalls)
                .and_then(|p| SyscallCounter::start(p.pid())),
        }
    }

    /// Ends the window now.
    pub fn stop(self, ctx: &RunContext) -> Usage {
        let secs = self.at.elapsed().as_secs_f64();
        let delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(cpu_secs(a, b)),
            _ => None,
        };
        let server = delta(self.server, ctx.cpu_ns());
        let generator = delta(self.generator, generator_ns());
        let machine = delta(self.machine, machine_busy_ns());
        // Without a server process the server may be this process (in-process tests)
        // or unknown; then nothing can be said about the others.
        let others = match (machine, server, generator) {
            (Some(m), Some(s), Some(g)) if ctx.process.map(|p| p.pid()) != Some(std::process::id()) => {
                Some((m - s - g).max(0.0))
            }
            _ => None,
        };
        let switches_now = separate_server(ctx).and_then(|p| p.context_switches().ok());
        let syscalls = self.syscalls.and_then(SyscallCounter::stop);
        let kernel = match (self.switches, switches_now) {
            (Some(a), Some(b)) => Some(KernelCounts { syscalls, switches: b.saturating_sub(a) }),
            _ => None,
        };
        Usage { secs, server, generator, others, kernel }
    }
}

impl Usage {
    /// `x` seconds of CPU as a percentage of one core over the window.
    pub fn percent(&self, x: Option<f64>) -> Option<f64> {
        x.filter(|_| self.secs > 0.0).map(|x| (x * 1000.0 / self.secs).round() / 10.0)
    }

    /// The JSON fields every summary carries for its measured window.
    pub fn to_json(&self) -> Value {
        let round = |x: Option<f64>| x.map(|x| (x * 1e4).round() / 1e4);
        json!({
            "server_cpu_secs": round(self.server),
            "server_cpu_percent": self.percent(self.server),
            "generator_cpu_percent": self.percent(self.generator),
            "other_processes_cpu_percent": self.percent(self.others),
        })
    }

    /// Cautions about the window: other processes competing, or the generator near
    /// saturation (then it, not the server, may set the pace and the latency).
    pub fn cautions(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(p) = self.percent(self.others).filter(|p| *p > 10.0) {
            notes.push(format!(
                "caution: other processes used {p:.1} % of a core meanwhile; repeat on a quiet machine"
            ));
        }
        if let Some(p) = self.percent(self.generator).filter(|p| *p > 90.0) {
            notes.push(format!("caution: the generator used {p:.1} % of a core and may be the limit"));
        }
        notes
    }

    /// What the server spent per unit of work (an inbound message, a delivery, a join):
    /// CPU microseconds and, where the kernel counts are known, system calls and context
    /// switches. JSON fields are named `server_cpu_us_per_{unit}` and so on.
    pub fn cost_per(&self, unit: &str, count: u64) -> (Value, Option<String>) {
        let per = |x: f64| (count > 0).then(|| x / count as f64);
        let round = |x: Option<f64>, scale: f64| x.map(|x| (x * scale).round() / scale);
        let cpu_us = self.server.and_then(|s| per(s * 1e6));
        let syscalls = self.kernel.and_then(|k| k.syscalls).and_then(|n| per(n as f64));
        let switches = self.kernel.and_then(|k| per(k.switches as f64));
        let json = json!({
            format!("server_cpu_us_per_{unit}"): round(cpu_us, 100.0),
            format!("server_syscalls_per_{unit}"): round(syscalls, 1000.0),
            format!("server_context_switches_per_{unit}"): round(switches, 1000.0),
        });
        let human = cpu_us.map(|us| {
            let mut line = format!("server cost per {unit}: {us:.2} µs CPU");
            if let Some(calls) = syscalls {
                line.push_str(&format!(", {calls:.2} system calls"));
            }
            if let Some(switches) = switches {
                line.push_str(&format!(", {switches:.2} context switches"));
            }
            line
        });
        (json, human)
    }

    /// `server CPU …; generator …; other processes …` for the human lines.
    pub fn human(&self) -> String {
        let part = |name: &str, x: Option<f64>| match x {
            Some(x) => format!("{name} {x:.3} s ({:.1} % of a core)", x * 100.0 / self.secs.max(1e-9)),
            None => format!("{name} n/a"),
        };
        let mut line = format!(
            "CPU in {:.2} s: {}; {}",
            self.secs,
            part("server", self.server),
            part("generator", self.generator)
        );
        if self.others.is_some() {
            line.push_str("; ");
            line.push_str(&part("other processes", self.others));
        }
        line
    }
}
