//! Stepping a restored engine through every file of a recording, in order, showing each
//! step to a [`Visitor`] before and after it, and (when verifying) checking the actions
//! against the recorded digests as each digest record comes.
//!
//! Between files, [`Replayer::next_file`] checks that the next file's checkpoint equals
//! the engine replayed up to it.

use std::fmt;
use std::path::PathBuf;

use signal_fish_core::recording::{Divergence, Record, ReplayError, Replayer};
use signal_fish_core::{Action, Engine, Event, Instant};

use super::files::LoadedFile;

/// Sees every replayed step.
pub trait Visitor {
    /// Before `event` is stepped at `at` (`engine` as it is before the step). Returning
    /// `false` stops the replay before this step.
    fn before(&mut self, engine: &Engine, at: Instant, event: &Event) -> bool {
        let _ = (engine, at, event);
        true
    }

    /// After the step, with its actions (`engine` as it is after it).
    fn after(&mut self, engine: &Engine, at: Instant, event: &Event, actions: &[Action]);
}

/// How a replay went.
pub struct Walked {
    /// The replayer, with the engine as replayed (up to where it stopped).
    pub replayer: Replayer,
    /// Steps replayed.
    pub steps: u64,
    /// Steps whose actions a digest record confirmed (verifying only).
    pub verified: u64,
    /// Whether a visitor stopped the replay before the end.
    pub stopped: bool,
    /// Connections open at the first file's checkpoint.
    pub open_at_start: usize,
}

impl Walked {
    /// Steps replayed but not verified: after the last digest record of a file that was
    /// cut short, or after the last digest record before the replay stopped.
    pub fn unverified(&self) -> u64 {
        self.steps - self.verified
    }
}

/// Why a replay failed.
#[derive(Debug)]
pub enum WalkError {
    /// The replayed actions differ from the recorded digests.
    Diverged {
        /// The file it happened in.
        path: PathBuf,
        /// Where and how.
        divergence: Box<Divergence>,
    },
    /// Anything else (a checkpoint refused, files that do not follow each other, digest
    /// records that do not fit): the file and the problem.
    Other {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Diverged { path, divergence } => write!(f, "{}: {divergence}", path.display()),
            WalkError::Other { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for WalkError {}

fn failed(path: &std::path::Path, error: ReplayError) -> WalkError {
    match error {
        ReplayError::Diverged(divergence) => WalkError::Diverged { path: path.to_owned(), divergence },
        other => WalkError::Other { path: path.to_owned(), message: other.to_string() },
    }
}

/// Replays `files` (consecutive files of one recording, see [`super::files::load`]).
///
/// # Errors
/// See [`WalkError`].
pub fn walk(files: &[LoadedFile], verify: bool, visitor: &mut dyn Visitor) -> Result<Walked, WalkError> {
    let first = files.first().ok_or_else(|| WalkError::Other {
        path: PathBuf::from("."),
        message: "no recording files".to_owned(),
    })?;
    let mut replayer = Replayer::start(&first.file, verify).map_err(|e| failed(&first.path, e))?;
    let open_at_start = replayer.engine().connection_count();
    let (mut steps, mut verified) = (0u64, 0u64);
    for (index, loaded) in files.iter().enumerate() {
        if index > 0 {
            replayer.next_file(&loaded.file).map_err(|e| failed(&loaded.path, e))?;
        }
        for record in &loaded.file.records {
            match record {
                Record::Step { at, event } => {
                    if !visitor.before(replayer.engine(), *at, event) {
                        return Ok(Walked { replayer, steps, verified, stopped: true, open_at_start });
                    }
                    let actions = replayer.step(*at, event.clone()).map_err(|e| failed(&loaded.path, e))?;
                    steps += 1;
                    visitor.after(replayer.engine(), *at, event, &actions);
                }
                Record::Digests(digests) => {
                    replayer
                        .check(digests, loaded.file.header.file_index)
                        .map_err(|e| failed(&loaded.path, e))?;
                    if verify {
                        verified += digests.actions_per_step.len() as u64;
                    }
                }
                Record::Header(_) | Record::Checkpoint(_) | Record::End { .. } => {}
            }
        }
    }
    Ok(Walked { replayer, steps, verified, stopped: false, open_at_start })
}
