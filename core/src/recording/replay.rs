//! Replaying recording files: a restored engine steps the recorded events, and (when
//! verifying) its actions are compared with the digests the recorder wrote.

use std::collections::VecDeque;
use std::fmt;

use super::digest::{ActionDigester, DigestMode};
use super::format::{Record, StepDigests};
use super::reader::RecordingFile;
use crate::{Action, Engine, Event, Instant, Outbound, RestoreError};

/// Steps the engine of a recording through its files. See the module documentation.
pub struct Replayer {
    engine: Engine,
    mode: DigestMode,
    verify: bool,
    /// Steps taken in the current file.
    step_in_file: u64,
    /// Steps taken since the replay began (across files).
    steps_total: u64,
    /// Steps whose actions no digest record has covered yet (verifying only).
    unchecked: VecDeque<Stepped>,
    /// The most unchecked steps kept: a file whose digests stop coming is refused rather
    /// than held in memory.
    max_unchecked: usize,
    recording_id: u64,
    next_file_index: u32,
}

/// One replayed step, kept until a digest record covers it.
#[derive(Clone, Debug)]
struct Stepped {
    step: u64,
    at: Instant,
    event: Event,
    actions: Vec<Action>,
}

/// Where a replay's actions first differ from the recorded digests.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The step, counted from the start of its file (from 0).
    pub step: u64,
    /// The file it is in (its `file_index`).
    pub file_index: u32,
    /// When it was stepped.
    pub at: Instant,
    /// What was stepped.
    pub event: Event,
    /// Which of the step's actions differs first (from 0).
    pub action_index: usize,
    /// The recorded digest of that action, or `None` when the recording has fewer.
    pub expected: Option<u64>,
    /// The replayed action, or `None` when the replay has fewer.
    pub actual: Option<Action>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "first divergence: file {} step {} at {:.6}s, action {}",
            self.file_index,
            self.step,
            self.at.as_micros() as f64 / 1e6,
            self.action_index
        )?;
        writeln!(f, "  event:    {}", describe_event(&self.event))?;
        match self.expected {
            Some(digest) => writeln!(f, "  expected: an action with digest {digest:016x}")?,
            None => writeln!(f, "  expected: no action (the recorded step had fewer)")?,
        }
        match &self.actual {
            Some(action) => write!(f, "  actual:   {}", describe_action(action)),
            None => write!(f, "  actual:   no action (the replayed step had fewer)"),
        }
    }
}

/// Why a replay stopped.
#[derive(Debug)]
pub enum ReplayError {
    /// The file's checkpoint could not be restored.
    Restore(RestoreError),
    /// The actions differ from the recording.
    Diverged(Box<Divergence>),
    /// The files are not consecutive files of one recording.
    Sequence(String),
    /// A digest record does not fit the steps (damaged or forged).
    Digests(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Restore(e) => write!(f, "{e}"),
            ReplayError::Diverged(d) => write!(f, "{d}"),
            ReplayError::Sequence(s) | ReplayError::Digests(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for ReplayError {}

impl Replayer {
    /// Restores the engine from `file`'s checkpoint. With `verify`, actions are checked
    /// against the file's digests as they come.
    ///
    /// # Errors
    /// The checkpoint is refused ([`Engine::restore`]).
    pub fn start(file: &RecordingFile, verify: bool) -> Result<Replayer, ReplayError> {
        let engine = Engine::restore(file.checkpoint.clone()).map_err(ReplayError::Restore)?;
        Ok(Replayer {
            engine,
            mode: file.header.digest_mode,
            verify,
            step_in_file: 0,
            steps_total: 0,
            unchecked: VecDeque::new(),
            max_unchecked: (file.header.digest_every.max(1) as usize).saturating_mul(2).min(1 << 20),
            recording_id: file.header.recording_id,
            next_file_index: file.header.file_index + 1,
        })
    }

    /// The engine as replayed so far.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Steps replayed since the start.
    pub fn steps(&self) -> u64 {
        self.steps_total
    }

    /// Moves on to the next file of the same recording. Its checkpoint must equal the
    /// replayed engine (the strongest check there is that the previous file replayed
    /// exactly); steps then continue from the replayed engine.
    ///
    /// # Errors
    /// Not the next file of this recording, or its checkpoint differs.
    pub fn next_file(&mut self, file: &RecordingFile) -> Result<(), ReplayError> {
        self.finish_file()?;
        if file.header.recording_id != self.recording_id || file.header.file_index != self.next_file_index {
            return Err(ReplayError::Sequence(format!(
                "expected file {} of recording {:x}, found file {} of recording {:x}",
                self.next_file_index, self.recording_id, file.header.file_index, file.header.recording_id
            )));
        }
        let replayed = rmp_serde::to_vec(&self.engine.checkpoint()).expect("checkpoints encode");
        let recorded = rmp_serde::to_vec(&file.checkpoint).expect("checkpoints encode");
        if replayed != recorded {
            return Err(ReplayError::Sequence(format!(
                "file {}'s checkpoint differs from the engine replayed up to it",
                file.header.file_index
            )));
        }
        self.step_in_file = 0;
        self.next_file_index += 1;
        Ok(())
    }

    /// Ends the current file: with `verify`, every step must have been covered by a
    /// digest record (a file cut short may leave its last steps uncovered: they are
    /// replayed, not verified).
    fn finish_file(&mut self) -> Result<(), ReplayError> {
        self.unchecked.clear();
        Ok(())
    }

    /// Steps one recorded event and returns its actions.
    ///
    /// # Errors
    /// (Verifying) more steps without a digest than the recording's digest interval allows.
    pub fn step(&mut self, at: Instant, event: Event) -> Result<Vec<Action>, ReplayError> {
        let actions = self.engine.step(event.clone(), at);
        if self.verify {
            if self.unchecked.len() >= self.max_unchecked {
                return Err(ReplayError::Digests(format!(
                    "no digest record for {} steps (the file says one comes every {})",
                    self.unchecked.len(),
                    self.max_unchecked / 2
                )));
            }
            self.unchecked.push_back(Stepped {
                step: self.step_in_file,
                at,
                event,
                actions: actions.clone(),
            });
        }
        self.step_in_file += 1;
        self.steps_total += 1;
        Ok(actions)
    }

    /// Checks the steps replayed since the last digest record against `digests`.
    ///
    /// # Errors
    /// The first action that differs ([`ReplayError::Diverged`]), or digests that do not
    /// fit the steps replayed.
    pub fn check(&mut self, digests: &StepDigests, file_index: u32) -> Result<(), ReplayError> {
        if !self.verify {
            return Ok(());
        }
        let covered = digests.actions_per_step.len();
        let first = self.unchecked.front().map_or(self.step_in_file, |s| s.step);
        if digests.first_step != first || covered != self.unchecked.len() {
            return Err(ReplayError::Digests(format!(
                "a digest record covers steps {}..{} but steps {}..{} were replayed since the last one",
                digests.first_step,
                digests.first_step + covered as u64,
                first,
                self.step_in_file
            )));
        }
        let mut expected = digests.action_digests.iter();
        let mut digester = ActionDigester::default();
        for (stepped, count) in self.unchecked.drain(..).zip(&digests.actions_per_step) {
            let recorded: Vec<u64> = expected.by_ref().take(*count as usize).copied().collect();
            let longest = recorded.len().max(stepped.actions.len());
            digester.next_step();
            for index in 0..longest {
                let want = recorded.get(index).copied();
                let got = stepped.actions.get(index);
                if want != got.map(|a| digester.digest(a, self.mode)) {
                    return Err(ReplayError::Diverged(Box::new(Divergence {
                        step: stepped.step,
                        file_index,
                        at: stepped.at,
                        event: stepped.event,
                        action_index: index,
                        expected: want,
                        actual: got.cloned(),
                    })));
                }
            }
        }
        Ok(())
    }

    /// Replays every record of `file` (after [`Replayer::start`] or
    /// [`Replayer::next_file`] with it), handing each step's actions to `each`.
    ///
    /// # Errors
    /// As [`Replayer::step`] and [`Replayer::check`].
    pub fn replay_file(
        &mut self,
        file: &RecordingFile,
        mut each: impl FnMut(Instant, &Event, &[Action]) -> bool,
    ) -> Result<Flow, ReplayError> {
        for record in &file.records {
            match record {
                Record::Step { at, event } => {
                    let actions = self.step(*at, event.clone())?;
                    if !each(*at, event, &actions) {
                        return Ok(Flow::Stopped);
                    }
                }
                Record::Digests(digests) => self.check(digests, file.header.file_index)?,
                Record::Header(_) | Record::Checkpoint(_) | Record::End { .. } => {}
            }
        }
        Ok(Flow::Finished)
    }
}

/// Whether [`Replayer::replay_file`] went through the whole file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Every record was replayed.
    Finished,
    /// The callback asked to stop.
    Stopped,
}

/// One line describing an event (payloads shortened).
pub fn describe_event(event: &Event) -> String {
    match event {
        Event::Opened { conn, peer_ip, target, endpoint } => {
            format!("{conn} opened from {peer_ip} on {target} ({endpoint:?})")
        }
        Event::Text { conn, text } => format!("{conn} sent {}", shorten(text)),
        Event::Binary { conn, data } => format!("{conn} sent {} binary bytes", data.len()),
        Event::PongFrame { conn } => format!("{conn} sent a pong frame"),
        Event::PingFrame { conn } => format!("{conn} sent a ping frame"),
        Event::Closed { conn, cause } => format!("{conn} closed ({cause:?})"),
        Event::Backlogged { conn, unsent } => format!("{conn} backlogged with {} unsent", unsent.len()),
        Event::Http(request) => format!("http {} {}", request.method, request.target),
        Event::Tick => "tick".to_owned(),
        Event::Shutdown => "shutdown".to_owned(),
        Event::Answer { conn, answer } => format!("directory answered {answer:?} for {conn}"),
        Event::FromNode { from, message } => shorten(&format!("from node {from}: {message:?}")),
        Event::NodeLost { node: Some(node) } => format!("node {node} lost"),
        Event::NodeLost { node: None } => "every node lost".to_owned(),
    }
}

/// One line describing an action (payloads shortened).
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::Send { conn, message: Outbound::Text(bytes) } => {
            format!("{conn} <- {}", shorten(&String::from_utf8_lossy(bytes)))
        }
        Action::Send { conn, message: Outbound::Binary(bytes) } => {
            format!("{conn} <- {} binary bytes", bytes.len())
        }
        Action::Close { conn, code, reason } => format!("{conn} closed {code} \"{reason}\""),
        Action::Http(response) => {
            format!("http response {} ({} bytes)", response.status, response.body.len())
        }
        Action::Query { conn, query } => format!("ask the directory {query:?} for {conn}"),
        Action::Publish(update) => format!("tell the directory {update:?}"),
        Action::ToNode { to, message } => shorten(&format!("to node {to}: {message:?}")),
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}
