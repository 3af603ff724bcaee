//! Swarm testing: seeded random workloads over several connections and rooms, checked
//! after every step; failing seeds are shrunk and written as `.scn` files.
//!
//! Each seed runs twice and the two traces must be identical.

mod cluster;
mod exec;
mod shrink;
mod workload;
mod write;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

pub use cluster::{run_cluster_seed, ClusterRun};
pub use exec::{run_ops, Execution};
pub use shrink::{failure_kind, shrink};
pub use workload::{Op, Workload};
pub use write::{write_recording, write_regression};

/// What to run.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// First seed.
    pub start: u64,
    /// Number of seeds.
    pub seeds: u64,
    /// Operations per seed.
    pub steps: usize,
    /// Worker threads.
    pub threads: usize,
    /// Where failing seeds are written.
    pub out_dir: PathBuf,
    /// Stop after this many failing seeds.
    pub max_failures: usize,
    /// Also write passing seeds as scenarios (to see what workloads do).
    pub record: bool,
}

/// A failing seed.
#[derive(Clone, Debug)]
pub struct SwarmFailure {
    /// The seed.
    pub seed: u64,
    /// The first problem seen.
    pub message: String,
    /// The scenario written for it (or why it could not be written).
    pub scenario: Result<PathBuf, String>,
}

/// What a swarm run found.
#[derive(Clone, Debug, Default)]
pub struct SwarmReport {
    /// Seeds run to completion.
    pub seeds_run: u64,
    /// Engine steps taken (first runs only).
    pub engine_steps: u64,
    /// Failing seeds.
    pub failures: Vec<SwarmFailure>,
}

/// Runs one seed: twice (determinism), then shrinks and writes it if it failed.
pub fn run_seed(
    seed: u64,
    steps: usize,
    out_dir: &std::path::Path,
    record: bool,
) -> (u64, Option<SwarmFailure>) {
    let workload = Workload::generate(seed, steps);
    let first = run_ops(&workload, &workload.ops);
    if record && first.failure.is_none() {
        if let Err(e) = write_recording(out_dir, &workload, &first.commands) {
            return (
                first.steps,
                Some(SwarmFailure { seed, message: e, scenario: Err("not written".into()) }),
            );
        }
    }
    let mut failing = first.clone();
    if first.failure.is_none() {
        let second = run_ops(&workload, &workload.ops);
        if second.trace_hash != first.trace_hash || second.commands != first.commands {
            let message = format!("not deterministic: two runs of seed {seed} differ");
            return (first.steps, Some(SwarmFailure { seed, message, scenario: Err("not shrunk".into()) }));
        }
        return (first.steps, None);
    }
    let (_, shrunk) = shrink(&workload, &failing);
    if shrunk.failure.is_some() {
        failing = shrunk;
    }
    let message = failing.failure.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    let scenario = write_regression(out_dir, &workload, &failing.commands, &message, workload.ops.len());
    (first.steps, Some(SwarmFailure { seed, message, scenario }))
}

/// Runs seeds `start..start+seeds` on worker threads. `log` gets one line per failure.
pub fn run(options: &SwarmOptions, log: &mut dyn FnMut(String)) -> SwarmReport {
    let next = AtomicU64::new(options.start);
    let end = options.start.saturating_add(options.seeds);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let steps = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    // The engine's panics are caught and reported as failures; keep them off stderr.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let (engine_steps, failure) =
                        run_seed(seed, options.steps, &options.out_dir, options.record);
                    steps.fetch_add(engine_steps, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    if let Some(failure) = failure {
                        let mut all = failures.lock().expect("no panics while held");
                        all.push(failure);
                        if all.len() >= options.max_failures {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    std::panic::set_hook(previous_hook);
    let mut failures = failures.into_inner().expect("threads joined");
    failures.sort_by_key(|f| f.seed);
    for f in &failures {
        let written = match &f.scenario {
            Ok(path) => format!("written to {}", path.display()),
            Err(e) => format!("not written: {e}"),
        };
        log(format!("FAIL seed {}: {} ({written})", f.seed, f.message));
    }
    SwarmReport { seeds_run: done.into_inner(), engine_steps: steps.into_inner(), failures }
}
