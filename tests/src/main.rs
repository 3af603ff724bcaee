//! `signal-fish-sim`: replay scenarios, run swarms of random workloads, report coverage.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use signal_fish_sim::scenario::{collect, run_file, Status};

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

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    match cli.command {
        Subcommand::Run(args) => run(args),
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
