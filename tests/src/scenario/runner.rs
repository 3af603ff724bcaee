//! Running scenarios: each command on a backend, outputs rendered with captures, then
//! compared with the expected output (or written back with `REWRITE=1`).
//!
//! Every scenario runs twice in the simulator; the two traces (every event and action,
//! byte for byte) and transcripts must be identical.

use std::path::{Path, PathBuf};

use signal_fish_core::Config;

use super::capture::Captures;
use super::command::{BinarySpec, Command};
use super::diff::diff;
use super::layout::lay_out;
use super::parse::{Header, Scenario};
use super::render::render;
use crate::backend::{Backend, SimBackend};
use crate::frames::from_hex;
use crate::sim::{Sim, Trace};

/// Folders with this name hold scenarios that document open engine bugs; directory runs
/// skip them and report them as pending.
pub const PENDING_DIR: &str = "pending";

/// The outputs of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// Rendered output per stanza run (fewer than the stanzas if a command failed).
    pub outputs: Vec<Vec<String>>,
    /// Problems found, each starting with `path:line:`.
    pub problems: Vec<String>,
    /// Whether a command could not be run (the run stopped there).
    pub stopped: bool,
}

/// The engine configuration of a scenario: its `config` patches merged over the
/// defaults (RFC 7386), then deserialised (unknown keys are errors).
pub fn build_config(path: &Path, header: &Header) -> Result<Config, String> {
    let mut merged = serde_json::to_value(Config::default()).expect("config serialises");
    for (_, patch) in &header.config {
        merge_patch(&mut merged, patch);
    }
    let line = header.config.last().map_or(1, |(l, _)| *l);
    serde_json::from_value(merged).map_err(|e| format!("{}:{line}: bad config: {e}", path.display()))
}

fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    let object = target.as_object_mut().expect("made an object");
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(serde_json::Value::Null), value);
        }
    }
}

/// A simulator for a scenario's header.
pub fn sim_backend(scenario: &Scenario, keep_trace: bool) -> Result<SimBackend, String> {
    let config = build_config(&scenario.path, &scenario.header)?;
    let mut sim = Sim::new(config, scenario.header.seed, scenario.header.unix_ms, keep_trace)
        .map_err(|e| format!("{}:1: {e}", scenario.path.display()))?;
    sim.set_spacing(scenario.header.spacing);
    Ok(SimBackend { sim })
}

/// Runs every command of a scenario on a backend and renders the outputs.
pub fn run_on(scenario: &Scenario, backend: &mut dyn Backend) -> Transcript {
    let path = scenario.path.display().to_string();
    let mut transcript = Transcript::default();
    let mut captures = Captures::new();
    let mut conn_order: Vec<String> = Vec::new();
    let mut seen_violations = 0;
    'stanzas: for stanza in &scenario.stanzas {
        for ((line, command), raw) in stanza.commands.iter().zip(&stanza.raw) {
            captures.note_input(raw);
            if let Command::Connect { name, .. } = command {
                conn_order.push(name.clone());
            }
            let result = execute(command, backend, &captures);
            let violations = backend.violations();
            for v in &violations[seen_violations.min(violations.len())..] {
                transcript.problems.push(format!("{path}:{line}: engine check failed: {v}"));
            }
            seen_violations = violations.len();
            if let Err(e) = result {
                transcript.problems.push(format!("{path}:{line}: {e}"));
                transcript.stopped = true;
                transcript.outputs.push(render(&backend.settle(), &conn_order, &mut captures));
                break 'stanzas;
            }
        }
        transcript.outputs.push(render(&backend.settle(), &conn_order, &mut captures));
    }
    transcript
}

/// Runs one command on a backend, inserting captured values into its inputs.
pub fn execute(command: &Command, backend: &mut dyn Backend, captures: &Captures) -> Result<(), String> {
    match command {
        Command::Connect { name, ip, target, endpoint } => {
            backend.connect(name, *ip, &captures.substitute(target)?, *endpoint)
        }
        Command::Send { name, text } => backend.text(name, &captures.substitute(text)?),
        Command::SendBinary { name, data } => {
            let bytes = match data {
                BinarySpec::Hex(hex) => from_hex(&captures.substitute(hex)?)?,
                BinarySpec::MsgPack(json) => {
                    let value: serde_json::Value = serde_json::from_str(&captures.substitute(json)?)
                        .map_err(|e| format!("msgpack payload is not JSON: {e}"))?;
                    rmp_serde::to_vec(&value).map_err(|e| format!("cannot encode as MessagePack: {e}"))?
                }
            };
            backend.binary(name, bytes)
        }
        Command::Pong(name) => backend.pong(name),
        Command::Close(name) => backend.close(name),
        Command::Drop(name) => backend.drop_conn(name),
        Command::Backlog(name) => backend.backlog(name),
        Command::Stall(name) => backend.stall(name),
        Command::Advance(by) => backend.advance(*by),
        Command::AdvanceNext => backend.advance_next(),
        Command::Stabilize => backend.stabilize(),
        Command::Http { method, target, headers } => {
            let headers = headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), captures.substitute(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            backend.http(method, &captures.substitute(target)?, headers)
        }
        Command::State => backend.state(),
        Command::Shutdown => backend.shutdown(),
    }
}

/// Compares a transcript with a scenario's expectations; one report per differing stanza.
pub fn compare(scenario: &Scenario, transcript: &Transcript) -> Vec<String> {
    let mut reports = Vec::new();
    for (stanza, actual) in scenario.stanzas.iter().zip(&transcript.outputs) {
        match &stanza.expected {
            Some(expected) => {
                if let Some(d) = diff(&scenario.path, expected.separator + 2, &expected.text, actual) {
                    reports.push(d);
                }
            }
            None => reports.push(format!(
                "{}:{}: the stanza has no expected output (`----` section); run with REWRITE=1 to record it:\n{}",
                scenario.path.display(),
                stanza.last_line(),
                actual.iter().flat_map(|l| lay_out(l)).map(|l| format!("        + {l}\n")).collect::<String>()
            )),
        }
    }
    reports
}

/// How a scenario file fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Output as expected, no check failed, deterministic.
    Passed,
    /// Something differed or failed; see the report.
    Failed,
}

/// The result of running one scenario file.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The file.
    pub path: PathBuf,
    /// Passed or failed.
    pub status: Status,
    /// What went wrong (empty when passed).
    pub report: String,
    /// Number of stanzas.
    pub stanzas: usize,
    /// Whether `REWRITE` changed the file.
    pub rewritten: bool,
    /// Why it runs only in the simulator, if it does.
    pub sim_only: Option<String>,
}

/// Runs a scenario file twice in the simulator and checks it (see the module docs).
/// With `rewrite`, the expected output is replaced by the actual one when the run
/// completed.
pub fn run_file(path: &Path, rewrite: bool) -> Outcome {
    let fail = |report: String| Outcome {
        path: path.to_owned(),
        status: Status::Failed,
        report,
        stanzas: 0,
        rewritten: false,
        sim_only: None,
    };
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let run = |keep: bool| -> Result<(Transcript, Trace), String> {
        let mut backend = sim_backend(&scenario, keep)?;
        let transcript = run_on(&scenario, &mut backend);
        Ok((transcript, backend.trace().clone()))
    };
    let (first, trace1) = match run(true) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (second, trace2) = match run(true) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut problems = first.problems.clone();
    if let Some(difference) = trace1.first_difference(&trace2) {
        problems.push(format!("{}: not deterministic: two runs differ at {difference}", path.display()));
    } else if first.outputs != second.outputs {
        problems
            .push(format!("{}: not deterministic: two runs rendered different transcripts", path.display()));
    }
    let mut rewritten = false;
    if rewrite && !first.stopped {
        let text = scenario.rewritten(&first.outputs);
        if text != scenario.lines.join("\n") + "\n" {
            if let Err(e) = std::fs::write(path, text) {
                problems.push(format!("{}: cannot rewrite: {e}", path.display()));
            }
            rewritten = true;
        }
    } else {
        problems.extend(compare(&scenario, &first));
    }
    Outcome {
        path: path.to_owned(),
        status: if problems.is_empty() { Status::Passed } else { Status::Failed },
        report: problems.join("\n"),
        stanzas: scenario.stanzas.len(),
        rewritten,
        sim_only: scenario.sim_only_reason(),
    }
}

/// Scenario files under the given files and folders (sorted), and the pending ones
/// found in `pending/` folders, which are not run.
pub fn collect(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let mut files = Vec::new();
    let mut pending = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, false, &mut files, &mut pending)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    Ok((files, pending))
}

fn walk(
    dir: &Path,
    in_pending: bool,
    files: &mut Vec<PathBuf>,
    pending: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            let is_pending = in_pending || entry.file_name().is_some_and(|n| n == PENDING_DIR);
            walk(&entry, is_pending, files, pending)?;
        } else if entry.extension().is_some_and(|e| e == "scn") {
            if in_pending {
                pending.push(entry);
            } else {
                files.push(entry);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_is_rfc7386() {
        let mut v = serde_json::json!({"a":{"b":1,"c":2},"d":3});
        merge_patch(&mut v, &serde_json::json!({"a":{"b":5,"c":null},"e":[1]}));
        assert_eq!(v, serde_json::json!({"a":{"b":5},"d":3,"e":[1]}));
    }

    #[test]
    fn unknown_config_key_names_the_line() {
        let s =
            Scenario::parse(Path::new("x.scn"), "seed 1\nconfig {\"server\":{\"ping_timout\":5}}\n").unwrap();
        let err = build_config(&s.path, &s.header).unwrap_err();
        assert!(err.starts_with("x.scn:2: bad config") && err.contains("ping_timout"), "{err}");
    }

    #[test]
    fn invalid_config_value_is_reported() {
        let s =
            Scenario::parse(Path::new("x.scn"), "seed 1\nconfig {\"websocket\":{\"auth_timeout_secs\":1}}\n")
                .unwrap();
        let err = sim_backend(&s, false).err().unwrap();
        assert!(err.contains("websocket.auth_timeout_secs"), "{err}");
    }
}
