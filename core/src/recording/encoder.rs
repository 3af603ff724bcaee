//! The recorder's pure part: turns every step a host takes into recording bytes, and
//! decides where files begin. The host moves the bytes to disk ([`RecordingEncoder::take`]).

use super::digest::{ActionDigester, DigestMode};
use super::format::{write_preamble, write_record, FileHeader, RecordRef, StepDigests};
use super::redact::redact_event;
use crate::host::StepObserver;
use crate::{Action, Engine, Event, Instant};

/// How a [`RecordingEncoder`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Written in every header.
    pub server_version: String,
    /// Written in every header (one id per recording).
    pub recording_id: u64,
    /// Written in every header: unix milliseconds at engine instant zero.
    pub unix_ms_at_origin: u64,
    /// A new file starts (with a fresh checkpoint) before the first step once the current
    /// one holds this many bytes (or twice its checkpoint, if that is more).
    pub max_file_bytes: u64,
    /// Steps per digest record (at least 1).
    pub digest_every: u32,
    /// Replace game-data payloads before recording them.
    pub redact_payloads: bool,
}

/// Recording output, in order: bytes for the current file, or the start of a new file.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Begin file number `index` (the previous one is complete).
    NewFile {
        /// The file's place in the recording, from 0.
        index: u32,
    },
    /// Append to the current file.
    Bytes(Vec<u8>),
}

/// Records every step it observes ([`StepObserver`]); see the module documentation.
pub struct RecordingEncoder {
    options: EncoderOptions,
    mode: DigestMode,
    /// Output not yet taken by the host.
    pieces: Vec<Piece>,
    /// Bytes of the current file not yet taken (the last piece, kept open).
    buffer: Vec<u8>,
    file_index: u32,
    /// Bytes of the current file, taken or not.
    file_bytes: u64,
    /// Steps recorded in the current file.
    steps_in_file: u64,
    /// Bytes of the current file's checkpoint record.
    checkpoint_bytes: u64,
    /// Digests of the steps since the last digest record.
    digests: StepDigests,
    digester: ActionDigester,
    /// Set once a file exists (the first step starts it).
    started: bool,
}

impl RecordingEncoder {
    /// An encoder; the first file starts at the first observed step, with a checkpoint
    /// of the engine as it is then.
    pub fn new(options: EncoderOptions) -> RecordingEncoder {
        let mode = if options.redact_payloads { DigestMode::Shape } else { DigestMode::Full };
        RecordingEncoder {
            options,
            mode,
            pieces: Vec::new(),
            buffer: Vec::new(),
            file_index: 0,
            file_bytes: 0,
            steps_in_file: 0,
            checkpoint_bytes: 0,
            digests: StepDigests::default(),
            digester: ActionDigester::default(),
            started: false,
        }
    }

    /// Everything recorded since the last call, in order.
    pub fn take(&mut self) -> Vec<Piece> {
        if !self.buffer.is_empty() {
            let bytes = std::mem::take(&mut self.buffer);
            self.pieces.push(Piece::Bytes(bytes));
        }
        std::mem::take(&mut self.pieces)
    }

    /// Bytes recorded and not taken yet.
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
            + self.pieces.iter().map(|p| if let Piece::Bytes(b) = p { b.len() } else { 0 }).sum::<usize>()
    }

    /// Closes the current file with an `End` record saying `reason` (after the digests
    /// of its last steps). Nothing more is recorded until the next observed step, which
    /// would start a new file.
    pub fn finish(&mut self, reason: &str) {
        if !self.started {
            return;
        }
        self.flush_digests();
        self.record(&RecordRef::End { reason });
        self.started = false;
        self.file_index += 1;
    }

    fn start_file(&mut self, engine: &Engine) {
        if !self.buffer.is_empty() {
            let bytes = std::mem::take(&mut self.buffer);
            self.pieces.push(Piece::Bytes(bytes));
        }
        self.pieces.push(Piece::NewFile { index: self.file_index });
        self.file_bytes = 0;
        self.steps_in_file = 0;
        self.digests = StepDigests::default();
        write_preamble(&mut self.buffer);
        self.file_bytes += self.buffer.len() as u64;
        let header = FileHeader {
            server_version: self.options.server_version.clone(),
            recording_id: self.options.recording_id,
            file_index: self.file_index,
            unix_ms_at_origin: self.options.unix_ms_at_origin,
            digest_every: self.options.digest_every.max(1),
            digest_mode: self.mode,
            redacted: self.options.redact_payloads,
        };
        self.record(&RecordRef::Header(&header));
        let checkpoint = engine.checkpoint();
        let before = self.file_bytes;
        self.record(&RecordRef::Checkpoint(&checkpoint));
        self.checkpoint_bytes = self.file_bytes - before;
        self.started = true;
    }

    fn record(&mut self, record: &RecordRef<'_>) {
        self.file_bytes += write_record(&mut self.buffer, record) as u64;
    }

    fn flush_digests(&mut self) {
        if self.digests.actions_per_step.is_empty() {
            return;
        }
        let digests = std::mem::take(&mut self.digests);
        self.record(&RecordRef::Digests(&digests));
        self.digests.first_step = self.steps_in_file;
    }
}

impl StepObserver for RecordingEncoder {
    fn before_step(&mut self, engine: &Engine, event: &Event, now: Instant) {
        // A file is at least half steps: with a checkpoint above half the bound, files
        // grow past it rather than hold one step each.
        let limit = self.options.max_file_bytes.max(self.checkpoint_bytes.saturating_mul(2));
        if self.started && self.file_bytes >= limit {
            self.finish("rotated");
        }
        if !self.started {
            self.start_file(engine);
        }
        if self.options.redact_payloads {
            let redacted = redact_event(event);
            self.record(&RecordRef::Step { at: now, event: redacted.as_ref().unwrap_or(event) });
        } else {
            self.record(&RecordRef::Step { at: now, event });
        }
    }

    fn after_step(&mut self, actions: &[Action]) {
        if !self.started {
            return;
        }
        self.digests.actions_per_step.push(u32::try_from(actions.len()).unwrap_or(u32::MAX));
        let (digester, mode) = (&mut self.digester, self.mode);
        self.digests.action_digests.extend(actions.iter().map(|a| digester.digest(a, mode)));
        self.digester.next_step();
        self.steps_in_file += 1;
        if self.digests.actions_per_step.len() >= self.options.digest_every.max(1) as usize {
            self.flush_digests();
        }
    }
}
