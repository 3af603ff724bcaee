//! `signal-fish-sim replay`: step a restored engine through the files of a recording
//! and summarise it; with `--verify` check the recorded action digests, with `--until`
//! stop at a time and show the engine's state, with `--room` show one room's lines.

use std::path::PathBuf;
use std::time::Duration;

use signal_fish_core::{Action, Engine, Event, Instant, Outbound};

use super::clock::{instant_at, Clock};
use super::files::{load, LoadedFile};
use super::room::RoomLines;
use super::state::describe_state;
use super::walk::{walk, Visitor, WalkError};
use crate::duration::format_secs;

/// What `replay` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Recording files or folders (of `*.sfr` files).
    pub paths: Vec<PathBuf>,
    /// Check the recorded digests.
    pub verify: bool,
    /// Stop before the first step after this time since the server started, and show
    /// the engine's state.
    pub until: Option<Duration>,
    /// Show only what concerns the room with this code.
    pub room: Option<String>,
}

/// Why `replay` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayFailure {
    /// The files cannot be replayed (unreadable, not a recording, another format version,
    /// out of order, a checkpoint refused): `path: message`. Exit status 2.
    Input(String),
    /// `--verify` found a divergence: the report. Exit status 1.
    Diverged(String),
}

impl ReplayFailure {
    /// The process exit status for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayFailure::Input(_) => 2,
            ReplayFailure::Diverged(_) => 1,
        }
    }
}

/// Counts what the replay saw.
#[derive(Default)]
struct Stats {
    until: Option<Instant>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    opened: u64,
    text_frames: u64,
    binary_frames: u64,
    server_closes: u64,
    client_closes: u64,
    http_responses: u64,
    /// Directory queries and updates, and messages to other nodes (cluster mode).
    cluster_actions: u64,
}

impl Visitor for Stats {
    fn before(&mut self, _engine: &Engine, at: Instant, _event: &Event) -> bool {
        self.until.is_none_or(|until| at <= until)
    }

    fn after(&mut self, _engine: &Engine, at: Instant, event: &Event, actions: &[Action]) {
        self.first_at.get_or_insert(at);
        self.last_at = Some(at);
        match event {
            Event::Opened { .. } => self.opened += 1,
            Event::Closed { .. } => self.client_closes += 1,
            _ => {}
        }
        for action in actions {
            match action {
                Action::Send { message: Outbound::Text(_), .. } => self.text_frames += 1,
                Action::Send { message: Outbound::Binary(_), .. } => self.binary_frames += 1,
                Action::Close { .. } => self.server_closes += 1,
                Action::Http(_) => self.http_responses += 1,
                Action::Query { .. } | Action::Publish(_) | Action::ToNode { .. } => {
                    self.cluster_actions += 1
                }
            }
        }
    }
}

/// The summary's statistics and, with `--room`, the room's lines.
struct Both {
    stats: Stats,
    room: Option<RoomLines>,
}

impl Visitor for Both {
    fn before(&mut self, engine: &Engine, at: Instant, event: &Event) -> bool {
        let go = self.stats.before(engine, at, event);
        if let Some(room) = &mut self.room {
            room.before(engine, at, event);
        }
        go
    }

    fn after(&mut self, engine: &Engine, at: Instant, event: &Event, actions: &[Action]) {
        self.stats.after(engine, at, event, actions);
        if let Some(room) = &mut self.room {
            room.after(engine, at, event, actions);
        }
    }
}

/// How a file ends, in words.
pub fn file_ending(file: &LoadedFile) -> String {
    match (&file.file.end, file.file.truncated_at) {
        (Some(reason), _) => format!("ended ({reason})"),
        (None, Some(offset)) => format!(
            "cut short at byte {offset} (no end record: the server stopped without closing it); replayed up to the cut"
        ),
        (None, None) => "no end record (still being written, or the server stopped without closing it)".to_owned(),
    }
}

/// Runs `replay`, handing each output line to `out`.
///
/// # Errors
/// See [`ReplayFailure`].
pub fn replay(options: &ReplayOptions, out: &mut dyn FnMut(String)) -> Result<(), ReplayFailure> {
    let files = load(&options.paths).map_err(|e| ReplayFailure::Input(e.to_string()))?;
    let header = &files[0].file.header;
    let clock = Clock { unix_ms_at_origin: header.unix_ms_at_origin };
    let until = options.until.map(instant_at);
    out(format!(
        "recording {:016x} (server version {}): {} file{}",
        header.recording_id,
        header.server_version,
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    ));
    for loaded in &files {
        let steps = loaded
            .file
            .records
            .iter()
            .filter(|r| matches!(r, signal_fish_core::recording::Record::Step { .. }))
            .count();
        out(format!(
            "  {}: file {}, {steps} steps, from the checkpoint at {}, {}",
            loaded.path.display(),
            loaded.file.header.file_index,
            clock.since_start(loaded.file.checkpoint.now()),
            file_ending(loaded)
        ));
    }
    if files.iter().any(|f| f.file.header.redacted) {
        out("redacted: game-data payload bytes are not reproduced (the recording holds filler of the same \
             length); digests compare action shapes only"
            .to_owned());
    }
    let mut visitor = Both {
        stats: Stats { until, ..Stats::default() },
        room: options.room.as_deref().map(|code| RoomLines::new(code, clock, until)),
    };
    let walked = match walk(&files, options.verify, &mut visitor) {
        Ok(walked) => walked,
        Err(WalkError::Diverged { path, divergence }) => {
            let report =
                format!("verify: {}: the replay diverges from the recording\n{divergence}", path.display());
            return Err(ReplayFailure::Diverged(report));
        }
        Err(other) => return Err(ReplayFailure::Input(other.to_string())),
    };
    if let Some(room) = &visitor.room {
        let code = options.room.as_deref().unwrap_or_default();
        if !room.room_seen() {
            out(format!("room {code}: no room with this code during the replay"));
        } else {
            out(format!("room {code}: {} lines", room.lines.len()));
        }
        for line in &room.lines {
            out(line.clone());
        }
    }
    let stats = &visitor.stats;
    match (stats.first_at, stats.last_at) {
        (Some(first), Some(last)) => out(format!(
            "steps: {} replayed, from {} to {}, spanning {}",
            walked.steps,
            clock.both(first),
            clock.both(last),
            format_secs(last.saturating_duration_since(first))
        )),
        _ => out(format!("steps: {} replayed", walked.steps)),
    }
    out(format!(
        "connections: {} opened, {} already open at the first checkpoint",
        stats.opened, walked.open_at_start
    ));
    out(format!(
        "frames sent: {} ({} text, {} binary)",
        stats.text_frames + stats.binary_frames,
        stats.text_frames,
        stats.binary_frames
    ));
    out(format!("closes: {} by the server, {} by clients", stats.server_closes, stats.client_closes));
    out(format!("http responses: {}", stats.http_responses));
    if stats.cluster_actions > 0 {
        out(format!("cluster actions: {}", stats.cluster_actions));
    }
    if !walked.stopped {
        let last = files.last().expect("at least one file");
        out(format!("last file: {}", file_ending(last)));
    }
    if options.verify {
        let mut line = format!("verify: {} steps verified against the recorded digests", walked.verified);
        if walked.unverified() > 0 {
            let why = if walked.stopped {
                "after the last digest record before --until"
            } else {
                "after the last digest record of a file cut short"
            };
            line.push_str(&format!("; {} steps {why} were replayed but not verified", walked.unverified()));
        }
        out(line);
    }
    if let Some(until) = until {
        let note = if walked.stopped {
            format!("before the first step after it, {} steps replayed", walked.steps)
        } else {
            format!("the recording ends before it, all {} steps replayed", walked.steps)
        };
        out(format!("state at {}, {note}:", clock.both(until)));
        for line in describe_state(walked.replayer.engine(), until, &clock) {
            out(format!("  {line}"));
        }
    }
    Ok(())
}
