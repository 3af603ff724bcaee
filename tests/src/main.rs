//! `signal-fish-sim`: replay scenarios, run swarms of random workloads, report coverage,
//! replay the server's flight recordings and extract scenarios from them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use argh::FromArgs;
use signal_fish_sim::coverage;
use signal_fish_sim::duration::parse_duration;
use signal_fish_sim::recording::{self, ExtractOptions, ReplayOptions};
use signal_fish_sim::scenario::{collect, run_file, Status};
use signal_fish_sim::swarm::{self, SwarmOptions};

/// Deterministic simulator of the Signal Fish engine: replay scenario transcripts, run
/// seeded random workloads, and report which behaviours the scenarios cover.
#[derive(FromArgs)]
struct Cli {
    #[argh(subcommand)]
    command: Subcommand,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Subcommand {
    Run(RunArgs),
    Swarm(SwarmArgs),
    Coverage(CoverageArgs),
    Replay(ReplayArgs),
    Extract(ExtractArgs),
}

/// Replay scenario files or folders (folders recursively; `pending/` folders are
/// skipped). Prints one line per scenario and `N passed, N failed`.
#[derive(FromArgs)]
#[argh(subcommand, name = "run")]
struct RunArgs {
    /// replace each scenario's expected output with the actual one (also REWRITE=1)
    #[argh(switch)]
    rewrite: bool,
    /// scenario files or folders
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// Run random multi-client workloads from seeds 0..N (or from --start), check every
/// invariant after every step, and write each failing seed as a minimal .scn file.
#[derive(FromArgs)]
#[argh(subcommand, name = "swarm")]
struct SwarmArgs {
    /// how many seeds to run
    #[argh(option)]
    seeds: u64,
    /// first seed (default 0)
    #[argh(option, default = "0")]
    start: u64,
    /// operations per seed (default 500)
    #[argh(option, default = "500")]
    steps: usize,
    /// worker threads (default: available cores)
    #[argh(option)]
    threads: Option<usize>,
    /// where failing seeds are written (default scenarios/regressions)
    #[argh(option, default = "PathBuf::from(\"scenarios/regressions\")")]
    out: PathBuf,
    /// stop after this many failing seeds (default 5)
    #[argh(option, default = "5")]
    max_failures: usize,
    /// also write passing seeds as scenarios, to see what the workloads do
    #[argh(switch)]
    record: bool,
    /// run each seed on a simulated cluster of this many nodes (clients spread round robin) and on one engine, and require the same transcripts (DECISIONS D58); failing seeds are printed, not written
    #[argh(option)]
    nodes: Option<usize>,
}

/// Write (or with --check, verify) scenarios/COVERAGE.md: which scenarios exercise each
/// client message, server message, error code, close code, timer and decision.
#[derive(FromArgs)]
#[argh(subcommand, name = "coverage")]
struct CoverageArgs {
    /// fail if the file is out of date or anything is uncovered, instead of writing it
    #[argh(switch)]
    check: bool,
    /// the scenario folder (default scenarios)
    #[argh(option, default = "PathBuf::from(\"scenarios\")")]
    dir: PathBuf,
}

/// Replay the files of one flight recording (folders: all their *.sfr files; files are
/// sorted by name) on a fresh engine restored from the first file's checkpoint, and
/// summarise it. Times are durations since the server started (90s, 1500ms, 2m).
#[derive(FromArgs)]
#[argh(subcommand, name = "replay")]
struct ReplayArgs {
    /// check the recorded action digests; exit 1 at the first divergence
    #[argh(switch)]
    verify: bool,
    /// stop before the first step after this time and print the engine's state
    #[argh(option)]
    until: Option<String>,
    /// print only the steps and actions that concern the room with this code
    #[argh(option)]
    room: Option<String>,
    /// recording files or folders
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// Write one room's window of a recording as a .scn scenario (its connections' inputs
/// from their opening to --to), record its expected output, and check that it passes.
#[derive(FromArgs)]
#[argh(subcommand, name = "extract")]
struct ExtractArgs {
    /// start of the window (time since the server started: 90s, 1500ms, 2m)
    #[argh(option)]
    from: String,
    /// end of the window
    #[argh(option)]
    to: String,
    /// the room's code
    #[argh(option)]
    room: String,
    /// the scenario file to write (default room-CODE.scn)
    #[argh(option)]
    out: Option<PathBuf>,
    /// recording files or folders
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    match cli.command {
        Subcommand::Run(args) => run(args),
        Subcommand::Swarm(args) => run_swarm(args),
        Subcommand::Coverage(args) => run_coverage(args),
        Subcommand::Replay(args) => run_replay(args),
        Subcommand::Extract(args) => run_extract(args),
    }
}

fn duration_arg(flag: &str, text: &str) -> Result<std::time::Duration, ExitCode> {
    parse_duration(text).map_err(|e| {
        eprintln!("error: {flag}: {e}");
        ExitCode::from(2)
    })
}

fn run_replay(args: ReplayArgs) -> ExitCode {
    if args.paths.is_empty() {
        eprintln!("error: give recording files or a folder, e.g. `signal-fish-sim replay /var/lib/signal-fish/recordings`");
        return ExitCode::from(2);
    }
    let until = match args.until.as_deref().map(|t| duration_arg("--until", t)).transpose() {
        Ok(until) => until,
        Err(code) => return code,
    };
    let options = ReplayOptions { paths: args.paths, verify: args.verify, until, room: args.room };
    match recording::replay(&options, &mut |line| println!("{line}")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                recording::ReplayFailure::Input(message) => eprintln!("error: {message}"),
                recording::ReplayFailure::Diverged(report) => println!("{report}"),
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run_extract(args: ExtractArgs) -> ExitCode {
    if args.paths.is_empty() {
        eprintln!("error: give recording files or a folder");
        return ExitCode::from(2);
    }
    let (from, to) = match (duration_arg("--from", &args.from), duration_arg("--to", &args.to)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("room-{}.scn", args.room.to_lowercase())));
    let options = ExtractOptions { paths: args.paths, from, to, room: args.room, out };
    match recording::extract(&options) {
        Ok(extracted) => {
            for warning in &extracted.warnings {
                println!("warning: {warning}");
            }
            println!(
                "wrote {}: connections {}, {} inputs; it passes `signal-fish-sim run`",
                extracted.path.display(),
                extracted.connections.join(" "),
                extracted.inputs
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", error.message);
            ExitCode::from(error.exit_code)
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    if args.paths.is_empty() {
        eprintln!("error: give scenario files or folders, e.g. `signal-fish-sim run scenarios`");
        return ExitCode::from(2);
    }
    let rewrite = args.rewrite || std::env::var("REWRITE").is_ok_and(|v| v == "1");
    let (files, pending) = match collect(&args.paths) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let outcome = run_file(file, rewrite);
        let note = if outcome.rewritten { " (rewritten)" } else { "" };
        match outcome.status {
            Status::Passed => {
                passed += 1;
                println!("ok      {} ({} stanzas){note}", file.display(), outcome.stanzas);
            }
            Status::Failed => {
                failed += 1;
                println!("FAIL    {}{note}", file.display());
                for line in outcome.report.lines() {
                    println!("        {line}");
                }
            }
        }
    }
    for file in &pending {
        println!("pending {}", file.display());
    }
    if !pending.is_empty() {
        println!("{} pending scenarios (known engine bugs) were skipped", pending.len());
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_swarm(args: SwarmArgs) -> ExitCode {
    if let Some(nodes) = args.nodes {
        return run_cluster_swarm(&args, nodes);
    }
    let threads =
        args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let options = SwarmOptions {
        start: args.start,
        seeds: args.seeds,
        steps: args.steps,
        threads,
        out_dir: args.out,
        max_failures: args.max_failures,
        record: args.record,
    };
    let began = Instant::now();
    let report = swarm::run(&options, &mut |line| println!("{line}"));
    println!(
        "swarm: {} seeds x {} steps in {:.1}s on {threads} threads ({} engine steps)",
        report.seeds_run,
        args.steps,
        began.elapsed().as_secs_f64(),
        report.engine_steps
    );
    println!("{} passed, {} failed", report.seeds_run - report.failures.len() as u64, report.failures.len());
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `swarm --nodes N`: each seed on a simulated cluster against one engine (one thread;
/// seeds are quick).
fn run_cluster_swarm(args: &SwarmArgs, nodes: usize) -> ExitCode {
    if !(2..=16).contains(&nodes) {
        eprintln!("error: --nodes takes 2 to 16 (got {nodes})");
        return ExitCode::from(2);
    }
    let began = Instant::now();
    let (mut failed, mut steps) = (0usize, 0u64);
    for seed in args.start..args.start.saturating_add(args.seeds) {
        match swarm::run_cluster_seed(seed, args.steps, nodes) {
            Ok(run) => steps += run.steps,
            Err(problem) => {
                failed += 1;
                println!("seed {seed} failed: {problem}");
                if failed >= args.max_failures {
                    break;
                }
            }
        }
    }
    println!(
        "swarm on {nodes} nodes: seeds {}.. x {} steps in {:.1}s ({steps} engine steps); {failed} failed",
        args.start,
        args.steps,
        began.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_coverage(args: CoverageArgs) -> ExitCode {
    let target = args.dir.join(coverage::COVERAGE_FILE);
    let table = match coverage::Coverage::scan(&args.dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = table.render();
    let missing = table.missing();
    if args.check {
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        let mut ok = true;
        if current != text {
            eprintln!("{} is out of date: run `cargo run -p signal-fish-sim -- coverage`", target.display());
            ok = false;
        }
        for m in &missing {
            eprintln!("not covered: {m}");
            ok = false;
        }
        return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    if let Err(e) = std::fs::write(&target, text) {
        eprintln!("error: cannot write {}: {e}", target.display());
        return ExitCode::from(2);
    }
    println!("wrote {}", target.display());
    for m in &missing {
        println!("not covered: {m}");
    }
    if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
