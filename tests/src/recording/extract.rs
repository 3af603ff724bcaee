//! `signal-fish-sim extract`: one room's window of a recording as a `.scn` scenario.
//!
//! The recording is replayed up to the end of the window. Every connection that was in
//! the room (a player, a spectator, or the last connection of a player whose seat was
//! reserved) at any step of the window is selected; the scenario opens each of them as
//! it was opened (`connect cN ip=… path=…`) and sends their inputs, from their opening
//! up to the end of the window, in recorded order, with `advance` for the recorded time
//! between inputs (`spacing 0ms`, so the scenario's times are the recording's, shifted
//! to start at the first opening). Generated values in inputs (a `Reconnect`'s player
//! id, room id and token, …) are written as the `$captures` the scenario runner binds
//! for them, learnt by rendering the recorded outputs exactly as the runner renders a
//! run's. The expected output is then written by running the scenario
//! (`run_file(…, rewrite)`), which must pass when run again.
//!
//! Limits (also written in the scenario's header): only the selected connections'
//! inputs are reproduced: other clients, HTTP requests, WebSocket Ping frames and the
//! server's random seed are not, so generated ids, codes and tokens, per-IP limits and
//! what other clients caused may differ. Where the scenario's output differs from the
//! recording's for these connections, a warning says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use signal_fish_core::{Action, CloseCause, Config, ConnId, Endpoint, Engine, Event, Instant};

use super::clock::{instant_at, Clock};
use super::files::load;
use super::room::{action_conn, event_conn, RoomWatch};
use super::walk::{walk, Visitor};
use crate::duration::format_secs;
use crate::frames::to_hex;
use crate::observe::Observation;
use crate::scenario::capture::{string_values, Captures};
use crate::scenario::render::render;
use crate::scenario::runner::{run_on, sim_backend};
use crate::scenario::{run_file, Scenario, Status};

/// What `extract` is asked to do.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Recording files or folders.
    pub paths: Vec<PathBuf>,
    /// Start of the window (since the server started).
    pub from: Duration,
    /// End of the window (since the server started).
    pub to: Duration,
    /// The room's code.
    pub room: String,
    /// Where to write the scenario.
    pub out: PathBuf,
}

/// What `extract` wrote.
#[derive(Clone, Debug)]
pub struct Extracted {
    /// The scenario file.
    pub path: PathBuf,
    /// The connections it reproduces (`c3`, …), in opening order.
    pub connections: Vec<String>,
    /// Inputs written.
    pub inputs: usize,
    /// What it does not reproduce exactly.
    pub warnings: Vec<String>,
}

/// Why `extract` failed, with the exit status to give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractError {
    /// What went wrong.
    pub message: String,
    /// 2 for unusable input (files, window, room), 1 when the written scenario fails.
    pub exit_code: u8,
}

fn input_error(message: impl Into<String>) -> ExtractError {
    ExtractError { message: message.into(), exit_code: 2 }
}

/// One recorded step.
struct Stepped {
    at: Instant,
    event: Event,
    actions: Vec<Action>,
}

/// Replays up to the end of the window, keeping the steps and who was in the room.
struct Collect {
    from: Instant,
    to: Instant,
    watch: RoomWatch,
    steps: Vec<Stepped>,
    selected: BTreeSet<ConnId>,
    reserved_unknown: BTreeSet<String>,
    /// Index in `steps` of each connection's `Opened`.
    opened: BTreeMap<ConnId, usize>,
}

impl Collect {
    fn note_members(&mut self, engine: &Engine, in_window: bool) {
        let members = self.watch.members(engine);
        if in_window {
            self.selected.extend(members.connected);
            self.selected.extend(members.reserved);
            self.reserved_unknown.extend(members.reserved_unknown);
        }
    }
}

impl Visitor for Collect {
    fn before(&mut self, engine: &Engine, at: Instant, _event: &Event) -> bool {
        if at > self.to {
            return false;
        }
        self.note_members(engine, at >= self.from);
        true
    }

    fn after(&mut self, engine: &Engine, at: Instant, event: &Event, actions: &[Action]) {
        if let Event::Opened { conn, .. } = event {
            self.opened.insert(*conn, self.steps.len());
        }
        self.steps.push(Stepped { at, event: event.clone(), actions: actions.to_vec() });
        self.note_members(engine, at >= self.from);
    }
}

/// One stanza being written: comments, commands, and the recorded observations.
struct Draft {
    comment: String,
    commands: Vec<String>,
    expected: Vec<String>,
}

/// Extracts the room's window (see the module documentation) and checks the scenario.
///
/// # Errors
/// See [`ExtractError`].
pub fn extract(options: &ExtractOptions) -> Result<Extracted, ExtractError> {
    if options.to < options.from {
        return Err(input_error(format!(
            "--to {} is before --from {}",
            format_secs(options.to),
            format_secs(options.from)
        )));
    }
    let files = load(&options.paths).map_err(|e| input_error(e.to_string()))?;
    let header = files[0].file.header.clone();
    let clock = Clock { unix_ms_at_origin: header.unix_ms_at_origin };
    let recorded_config = files[0].file.checkpoint.config().clone();
    let (from, to) = (instant_at(options.from), instant_at(options.to));
    let mut collect = Collect {
        from,
        to,
        watch: RoomWatch::new(&options.room),
        steps: Vec::new(),
        selected: BTreeSet::new(),
        reserved_unknown: BTreeSet::new(),
        opened: BTreeMap::new(),
    };
    let walked = walk(&files, false, &mut collect).map_err(|e| input_error(e.to_string()))?;
    // The state at the end of the window counts too (a window without steps).
    let end_in_window = walked.replayer.engine().checkpoint().now() >= from;
    collect.note_members(walked.replayer.engine(), end_in_window);
    let code = &options.room;
    if !collect.watch.seen() {
        return Err(input_error(format!("no room with code {code} up to {}", clock.both(to))));
    }
    if collect.selected.is_empty() {
        return Err(input_error(format!(
            "room {code} has no connection in it between {} and {}",
            format_secs(options.from),
            format_secs(options.to)
        )));
    }
    let mut warnings = Vec::new();
    if !collect.reserved_unknown.is_empty() {
        let players: Vec<&str> = collect.reserved_unknown.iter().map(String::as_str).collect();
        warnings.push(format!(
            "players {} held reserved seats in room {code} but their connections are not in the recording; \
             they are not reproduced",
            players.join(" ")
        ));
    }
    let mut starts = Vec::new();
    for conn in &collect.selected {
        match collect.opened.get(conn) {
            Some(index) => starts.push(*index),
            None => {
                return Err(input_error(format!(
                    "{}: connection {conn} (in room {code}) was already open at the first file's checkpoint \
                     ({}), so its opening and first inputs are not in the recording: give an earlier file too",
                    files[0].path.display(),
                    clock.both(files[0].file.checkpoint.now())
                )))
            }
        }
    }
    let start = starts.into_iter().min().expect("a selected connection");
    let t0 = collect.steps[start].at;

    // The scenario ends at the end of the window, or at the recording's last step if that
    // comes first (timers after it never fired in the recording).
    let end = collect.steps.last().map_or(to, |s| s.at.min(to).max(t0));
    let (drafts, mut draft_warnings) =
        draft_stanzas(&collect.steps[start..], &collect.selected, t0, end, &clock);
    warnings.append(&mut draft_warnings);
    let connections: Vec<String> = collect.steps[start..]
        .iter()
        .filter_map(|s| match &s.event {
            Event::Opened { conn, .. } if collect.selected.contains(conn) => Some(conn.to_string()),
            _ => None,
        })
        .collect();
    let inputs = drafts.iter().filter(|d| !d.commands.iter().all(|c| c.starts_with("advance "))).count();

    let names = match files.as_slice() {
        [only] => only.path.display().to_string(),
        [first, .., last] => format!("{} … {}", first.path.display(), last.path.display()),
        [] => String::new(),
    };
    let mut text = String::new();
    let comment = |text: &mut String, line: &str| {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    };
    comment(
        &mut text,
        &format!("Extracted by `signal-fish-sim extract` from recording {:016x}", header.recording_id),
    );
    comment(&mut text, &format!("({names}),"));
    comment(
        &mut text,
        &format!(
            "room {code} from {} to {}: connections {} (every connection in the room in",
            clock.both(from),
            clock.both(to),
            connections.join(" ")
        ),
    );
    comment(&mut text, "that window), each replayed from its opening with its recorded inputs in recorded");
    comment(
        &mut text,
        &format!("order and the recorded time between them; time 0 here is {}.", clock.both(t0)),
    );
    comment(
        &mut text,
        "Limits: only these connections' inputs are reproduced. Other clients, HTTP requests,",
    );
    comment(
        &mut text,
        "WebSocket Ping frames and the server's random seed are not, so generated ids, codes and",
    );
    comment(
        &mut text,
        "tokens, per-IP limits and whatever other clients caused may differ from the recording;",
    );
    comment(&mut text, "a frame a connection had not been sent when it backed up is not reproduced either.");
    text.push_str("seed 1\n");
    text.push_str(&format!("unix_ms {}\n", clock.unix_ms_at_origin + t0.as_micros() / 1000));
    text.push_str("spacing 0ms\n");
    text.push_str("sim-only extracted from a recording: it replays recorded time with `advance`\n");
    if let Some(patch) = config_patch(&recorded_config) {
        text.push_str(&format!("config {patch}\n"));
    }
    for draft in &drafts {
        text.push('\n');
        comment(&mut text, &draft.comment);
        for command in &draft.commands {
            text.push_str(command);
            text.push('\n');
        }
    }
    let path = options.out.clone();
    std::fs::write(&path, &text)
        .map_err(|e| input_error(format!("{}: cannot write: {e}", path.display())))?;

    check_scenario(&path, &drafts, &mut warnings)?;
    Ok(Extracted { path, connections, inputs, warnings })
}

/// Writes the expected output by running the scenario, runs it again as a check, and
/// compares its output with the recording's.
fn check_scenario(path: &Path, drafts: &[Draft], warnings: &mut Vec<String>) -> Result<(), ExtractError> {
    let failed = |what: &str, report: &str| ExtractError {
        message: format!("{}: the extracted scenario {what}:\n{report}", path.display()),
        exit_code: 1,
    };
    let written = run_file(path, true);
    if written.status != Status::Passed {
        return Err(failed("does not run", &written.report));
    }
    let checked = run_file(path, false);
    if checked.status != Status::Passed {
        return Err(failed("does not pass", &checked.report));
    }
    let scenario = Scenario::load(path).map_err(|e| failed("does not load", &e))?;
    let mut backend = sim_backend(&scenario, false).map_err(|e| failed("does not start", &e))?;
    let transcript = run_on(&scenario, &mut backend);
    let mut differing = 0;
    let mut first = None;
    for ((stanza, actual), draft) in scenario.stanzas.iter().zip(&transcript.outputs).zip(drafts) {
        if *actual == draft.expected {
            continue;
        }
        differing += 1;
        if first.is_none() {
            let index = actual.iter().zip(&draft.expected).take_while(|(a, b)| a == b).count();
            let show = |lines: &[String]| lines.get(index).cloned().unwrap_or_else(|| "(nothing)".to_owned());
            first = Some(format!(
                "{}:{}: recorded `{}`, scenario `{}`",
                path.display(),
                stanza.first_line(),
                show(&draft.expected),
                show(actual)
            ));
        }
    }
    if let Some(first) = first {
        warnings.push(format!(
            "the scenario's output differs from the recording's for these connections in {differing} of {} \
             stanzas (other clients, the seed or timing the scenario does not reproduce); it still replays the \
             room's inputs. First difference: {first}",
            drafts.len()
        ));
    }
    Ok(())
}

/// The stanzas: one per input of a selected connection (with an `advance` for the time
/// since the previous one), and a last `advance` to the end of the window. Each carries
/// the recorded output rendered as the runner would render it.
fn draft_stanzas(
    steps: &[Stepped],
    selected: &BTreeSet<ConnId>,
    t0: Instant,
    to: Instant,
    clock: &Clock,
) -> (Vec<Draft>, Vec<String>) {
    let mut drafts = Vec::new();
    let mut warnings = Vec::new();
    let mut captures = Captures::new();
    let mut conn_order: Vec<String> = Vec::new();
    let mut pending: Vec<Observation> = Vec::new();
    let mut finished: BTreeSet<ConnId> = BTreeSet::new();
    let mut last_input = t0;
    let since = |at: Instant| at.saturating_duration_since(t0);
    let observe = |actions: &[Action], into: &mut Vec<Observation>| {
        for action in actions {
            if !action_conn(action).is_some_and(|c| selected.contains(&c)) {
                continue;
            }
            match action {
                Action::Send { conn, message } => {
                    into.push(Observation::Message { conn: conn.to_string(), message: message.clone() })
                }
                Action::Close { conn, code, reason } => into.push(Observation::Closed {
                    conn: conn.to_string(),
                    code: *code,
                    reason: reason.to_string(),
                }),
                Action::Http(_) | Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {}
            }
        }
    };
    for step in steps {
        let conn = event_conn(&step.event);
        let ours = conn.is_some_and(|c| selected.contains(&c) && !finished.contains(&c));
        let command = if ours || matches!(step.event, Event::Shutdown) {
            command_for(&step.event, &captures, &mut warnings, &clock.since_start(step.at))
        } else {
            None
        };
        match command {
            Some(command) => {
                let mut commands = Vec::new();
                let gap = step.at.saturating_duration_since(last_input);
                if !gap.is_zero() {
                    commands.push(format!("advance {}", format_secs(gap)));
                }
                commands.push(command);
                for line in &commands {
                    captures.note_input(line);
                }
                if let Event::Opened { conn, .. } = &step.event {
                    conn_order.push(conn.to_string());
                }
                let mut observations = std::mem::take(&mut pending);
                observations.push(Observation::Input);
                observe(&step.actions, &mut observations);
                let expected = render(&observations, &conn_order, &mut captures);
                drafts.push(Draft {
                    comment: format!("recorded at {}", clock.both(step.at)),
                    commands,
                    expected,
                });
                last_input = step.at;
            }
            None => {
                if matches!(step.event, Event::Tick) {
                    pending.push(Observation::Wake { at: since(step.at) });
                }
                observe(&step.actions, &mut pending);
            }
        }
        if let Some(c) =
            conn.filter(|_| matches!(step.event, Event::Closed { .. } | Event::Backlogged { .. }))
        {
            finished.insert(c);
        }
        for action in &step.actions {
            if let Action::Close { conn, .. } = action {
                finished.insert(*conn);
            }
        }
    }
    if to > last_input {
        let expected = render(&pending, &conn_order, &mut captures);
        drafts.push(Draft {
            comment: format!("to the end of the window, {}", clock.both(to)),
            commands: vec![format!("advance {}", format_secs(to.saturating_duration_since(last_input)))],
            expected,
        });
    }
    (drafts, warnings)
}

/// The scenario command for a recorded input, if it has one.
fn command_for(event: &Event, captures: &Captures, warnings: &mut Vec<String>, when: &str) -> Option<String> {
    let mut warn = |what: String| warnings.push(format!("{when}: {what}"));
    match event {
        Event::Opened { conn, peer_ip, target, endpoint } => {
            let mesh = if *endpoint == Endpoint::Mesh { " mesh" } else { "" };
            Some(format!("connect {conn}{mesh} ip={peer_ip} path={}", escape(target)))
        }
        Event::Text { conn, text } => {
            let mut text = text.clone();
            if text.contains(['\n', '\r']) {
                warn(format!("a text message of {conn} spans lines; written with its line breaks as spaces"));
                text = text.replace("\r\n", " ").replace(['\n', '\r'], " ");
            }
            if text.trim().len() != text.len() {
                warn(format!("a text message of {conn} starts or ends with spaces; written without them"));
                text = text.trim().to_owned();
            }
            if text.is_empty() {
                warn(format!("an empty text message of {conn} cannot be written in a scenario; left out"));
                return None;
            }
            Some(format!("send {conn} {}", name_values(captures, &text)))
        }
        Event::Binary { conn, data } => {
            if data.is_empty() {
                warn(format!("an empty binary message of {conn} cannot be written in a scenario; left out"));
                return None;
            }
            Some(format!("send-binary {conn} {}", to_hex(data)))
        }
        Event::PongFrame { conn } => Some(format!("pong {conn}")),
        Event::PingFrame { conn } => {
            warn(format!("a WebSocket Ping frame of {conn} has no scenario command; left out"));
            None
        }
        Event::Closed { conn, cause: CloseCause::ClientClosed } => Some(format!("close {conn}")),
        Event::Closed { conn, cause: CloseCause::TransportError } => Some(format!("drop {conn}")),
        Event::Closed { conn, cause: CloseCause::FrameTooLarge } => {
            warn(format!("{conn} was closed for an oversized frame; written as `drop`"));
            Some(format!("drop {conn}"))
        }
        Event::Backlogged { conn, unsent } => {
            if !unsent.is_empty() {
                warn(format!(
                    "{conn} backed up with {} frames unsent; the scenario's `backlog` hands back none",
                    unsent.len()
                ));
            }
            Some(format!("backlog {conn}"))
        }
        Event::Shutdown => Some("shutdown".to_owned()),
        Event::Http(_) | Event::Tick => None,
        Event::Answer { .. } | Event::FromNode { .. } | Event::NodeLost { .. } => {
            warn("a cluster event (directory answer or another node's message) has no scenario command; left out".to_owned());
            None
        }
    }
}

/// `$` written as `$$`, so a scenario input sends it as it is.
fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// The text with every captured value replaced by its `$name` (the rest escaped).
fn name_values(captures: &Captures, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for value in string_values(text) {
        if let Some(name) = captures.name_of(&value.raw) {
            out.push_str(&escape(&text[last..value.span.0]));
            out.push('$');
            out.push_str(name);
            last = value.span.1;
        }
    }
    out.push_str(&escape(&text[last..]));
    out
}

/// The recorded configuration as a JSON merge patch over the defaults (only what
/// differs), or `None` when it is the default.
pub fn config_patch(config: &Config) -> Option<String> {
    let default = serde_json::to_value(Config::default()).expect("config serialises");
    let recorded = serde_json::to_value(config).expect("config serialises");
    diff(&default, &recorded).map(|patch| patch.to_string())
}

fn diff(base: &serde_json::Value, target: &serde_json::Value) -> Option<serde_json::Value> {
    match (base, target) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in b {
                match a.get(key) {
                    Some(old) => {
                        if let Some(d) = diff(old, value) {
                            patch.insert(key.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in a.keys() {
                if !b.contains_key(key) {
                    patch.insert(key.clone(), serde_json::Value::Null);
                }
            }
            (!patch.is_empty()).then_some(serde_json::Value::Object(patch))
        }
        _ if base == target => None,
        _ => Some(target.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_patch_holds_only_what_differs() {
        assert_eq!(config_patch(&Config::default()), None);
        let mut config = Config::default();
        config.server.ping_timeout = 7;
        assert_eq!(config_patch(&config).as_deref(), Some(r#"{"server":{"ping_timeout":7}}"#));
    }

    #[test]
    fn inputs_name_captured_values_and_escape_dollars() {
        let mut captures = Captures::new();
        captures.bind_connection("c1", "11111111-1111-4111-8111-111111111111");
        let text = r#"{"player_id":"11111111-1111-4111-8111-111111111111","x":"$5"}"#;
        assert_eq!(name_values(&captures, text), r#"{"player_id":"$c1","x":"$$5"}"#);
        assert_eq!(captures.substitute(&name_values(&captures, text)).unwrap(), text);
    }
}
