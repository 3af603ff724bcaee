//! The records a recording file is made of, and their framing.

use serde::{Deserialize, Serialize};

use super::digest::{record_checksum, DigestMode};
use crate::{EngineCheckpoint, Event, Instant};

/// The first 8 bytes of every recording file.
pub const RECORDING_MAGIC: &[u8; 8] = b"SFRECORD";

/// The recording format this build writes and reads. Bumped when records change shape;
/// a reader refuses other versions by name rather than misreading them. (The engine
/// checkpoint inside has its own version, `CHECKPOINT_FORMAT`.)
pub const RECORDING_FORMAT: u32 = 1;

/// Bytes before the first record: the magic and the format.
pub(crate) const PREAMBLE_LEN: usize = 12;
/// Bytes before each record's body: its length and checksum.
pub(crate) const FRAME_HEAD_LEN: usize = 8;

/// What the first record of every file says about the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    /// The server's version (`CARGO_PKG_VERSION`) that wrote it.
    pub server_version: String,
    /// Identifies one recording (one server run): every file of a run carries the same.
    pub recording_id: u64,
    /// The file's place in its recording, from 0.
    pub file_index: u32,
    /// Unix milliseconds at engine instant zero (the server's clock origin), to show
    /// recorded instants as wall-clock times.
    pub unix_ms_at_origin: u64,
    /// How many steps each [`Record::Digests`] covers.
    pub digest_every: u32,
    /// What the digests cover: everything, or (payloads redacted) the shape of actions.
    pub digest_mode: DigestMode,
    /// Whether game-data payloads were replaced before recording ([`super::redact_event`]).
    pub redacted: bool,
}

/// The digests of the actions of a run of consecutive steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDigests {
    /// The first step covered, counted from the file's checkpoint (0 is the step of the
    /// first `Step` record).
    pub first_step: u64,
    /// How many actions each step returned, in step order.
    pub actions_per_step: Vec<u32>,
    /// The digest of every action ([`super::action_digest`]), in order.
    pub action_digests: Vec<u64>,
}

/// One record of a recording file.
#[derive(Clone, Serialize, Deserialize)]
pub enum Record {
    /// The first record of every file.
    Header(FileHeader),
    /// The second record of every file: the engine as it was before the file's first step.
    Checkpoint(Box<EngineCheckpoint>),
    /// One event, stepped at `at`.
    Step {
        /// The instant it was stepped at.
        at: Instant,
        /// What was stepped.
        event: Event,
    },
    /// Digests of the actions of the steps since the previous `Digests` record.
    Digests(StepDigests),
    /// The recorder closed the file on purpose; why (`rotated`, `shutdown`, …).
    End {
        /// Why the file ends.
        reason: String,
    },
}

/// The same shape as [`Record`], borrowed, for writing without copying the event.
#[derive(Serialize)]
pub(crate) enum RecordRef<'a> {
    Header(&'a FileHeader),
    Checkpoint(&'a EngineCheckpoint),
    Step { at: Instant, event: &'a Event },
    Digests(&'a StepDigests),
    End { reason: &'a str },
}

/// Appends the file preamble (magic and format) to `out`.
pub(crate) fn write_preamble(out: &mut Vec<u8>) {
    out.extend_from_slice(RECORDING_MAGIC);
    out.extend_from_slice(&RECORDING_FORMAT.to_le_bytes());
}

/// One framed [`Record::End`] saying `reason`: what a host appends to close a file whose
/// encoder it stopped feeding (the disk fell behind), after the last whole record.
pub fn end_record(reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_record(&mut out, &RecordRef::End { reason });
    out
}

/// Appends one framed record to `out` and returns its size in bytes.
pub(crate) fn write_record(out: &mut Vec<u8>, record: &RecordRef<'_>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD_LEN]);
    // Writing MessagePack into a Vec cannot fail for these types (no maps with
    // non-string keys the format refuses, no I/O).
    rmp_serde::encode::write(out, record).expect("records encode as MessagePack");
    let body = &out[start + FRAME_HEAD_LEN..];
    let length = u32::try_from(body.len()).expect("a record is smaller than 4 GiB");
    let checksum = record_checksum(body);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
    out.len() - start
}
