//! Writing a failing workload as a scenario: inputs with captured names, expected output
//! recorded by a replay, so the file reproduces the failure with `signal-fish-sim run`.

use std::path::{Path, PathBuf};

use super::exec::header_of;
use super::workload::Workload;
use crate::backend::{Backend, SimBackend};
use crate::scenario::capture::Captures;
use crate::scenario::command::{parse_command, Command};
use crate::scenario::render::render;
use crate::scenario::runner::{build_config, execute, run_file, Status};
use crate::sim::Sim;

/// Writes `commands` (raw lines that ran) as `dir/swarm-seed-<seed>.scn` with recorded
/// output, and checks that replaying it fails. Returns the path.
pub fn write_regression(
    dir: &Path,
    workload: &Workload,
    commands: &[String],
    failure: &str,
    original_ops: usize,
) -> Result<PathBuf, String> {
    let comment = format!(
        "# Found by `signal-fish-sim swarm` (seed {}), shrunk from {original_ops} operations to {}.\n\
         # Failure: {}\n",
        workload.seed,
        commands.len(),
        failure.replace('\n', " ")
    );
    let path = write_scenario(dir, workload, commands, &comment)?;
    let replay = run_file(&path, false);
    if replay.status != Status::Failed {
        return Err(format!("{} was written but does not fail when replayed", path.display()));
    }
    Ok(path)
}

/// Writes a passing seed's commands as `dir/swarm-seed-<seed>.scn` with recorded output.
pub fn write_recording(dir: &Path, workload: &Workload, commands: &[String]) -> Result<PathBuf, String> {
    let comment = format!("# Recorded by `signal-fish-sim swarm --record` (seed {}).\n", workload.seed);
    let path = write_scenario(dir, workload, commands, &comment)?;
    let replay = run_file(&path, false);
    if replay.status != Status::Passed {
        return Err(format!("{} does not replay:\n{}", path.display(), replay.report));
    }
    Ok(path)
}

fn write_scenario(
    dir: &Path,
    workload: &Workload,
    commands: &[String],
    comment: &str,
) -> Result<PathBuf, String> {
    let header = header_of(workload);
    let config = build_config(Path::new("swarm"), &header)?;
    let mut sim = Sim::new(config, workload.seed, header.unix_ms, false)?;
    sim.set_spacing(header.spacing);
    let mut backend = SimBackend { sim };
    let mut captures = Captures::new();
    let mut order = Vec::new();
    let mut named = Vec::new();
    // Replays the way the runner will (one command per stanza), naming raw values as it
    // goes so that the file refers to `$code1` rather than to this seed's codes.
    for line in commands {
        let text = captures.name_values_in(line);
        captures.note_input(&text);
        let command = parse_command(line)?;
        if let Command::Connect { name, .. } = &command {
            order.push(name.clone());
        }
        execute(&command, &mut backend, &Captures::new())?;
        render(&backend.settle(), &order, &mut captures);
        named.push(text);
    }
    let mut text = format!(
        "{comment}# Replay: cargo run -p signal-fish-sim -- run {}\n",
        dir.join(format!("swarm-seed-{}.scn", workload.seed)).display()
    );
    text.push_str(&format!("seed {}\nspacing 0ms\nconfig {}\n", workload.seed, workload.config));
    for line in &named {
        text.push('\n');
        text.push_str(line);
        text.push('\n');
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("swarm-seed-{}.scn", workload.seed));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    run_file(&path, true);
    Ok(path)
}
