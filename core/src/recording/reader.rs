//! Reading a recording file from its bytes. Whatever the bytes, reading never panics and
//! never allocates for a record more than the file holds: a record's length is checked
//! against what is left before its body is looked at.

use std::fmt;

use super::digest::record_checksum;
use super::format::{FileHeader, Record, FRAME_HEAD_LEN, PREAMBLE_LEN, RECORDING_FORMAT, RECORDING_MAGIC};
use crate::EngineCheckpoint;

/// One file, read: its header, its checkpoint, and the records after them.
pub struct RecordingFile {
    /// The first record.
    pub header: FileHeader,
    /// The engine before the file's first step.
    pub checkpoint: EngineCheckpoint,
    /// Steps and digests, in file order (an `End`, if any, is in [`RecordingFile::end`]).
    pub records: Vec<Record>,
    /// Why the recorder closed the file, when it did.
    pub end: Option<String>,
    /// Where the file was cut short (a byte offset), when its last record is incomplete
    /// or damaged: everything before it was read.
    pub truncated_at: Option<u64>,
}

/// Why a file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Not a recording: the first bytes are not the magic.
    NotARecording,
    /// A recording in another format.
    Format {
        /// The file's format.
        found: u32,
        /// The one this build reads.
        supported: u32,
    },
    /// A record in the middle of the file is damaged (bad checksum, or a body that does
    /// not decode); records after it exist, so it is not a cut-off end.
    Corrupt {
        /// The record's byte offset.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// The file does not start with a header and a checkpoint, or has them again later,
    /// or has records after its end.
    Structure {
        /// The record's byte offset.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotARecording => write!(f, "not a Signal Fish recording (the file does not start with SFRECORD)"),
            ReadError::Format { found, supported } => write!(
                f,
                "recording format {found} is not supported: this build reads format {supported} (use the signal-fish-sim of the server version that wrote it)"
            ),
            ReadError::Corrupt { offset, problem } => write!(f, "damaged record at byte {offset}: {problem}"),
            ReadError::Structure { offset, problem } => write!(f, "malformed recording at byte {offset}: {problem}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// One framed record, or where the file stops being readable.
enum Frame<'a> {
    Body {
        offset: u64,
        body: &'a [u8],
    },
    /// No bytes left.
    End,
    /// The rest of the file is an incomplete or damaged last record.
    CutAt(u64),
}

/// Walks the framing of `bytes` after the preamble.
struct Frames<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Frames<'a> {
    fn next(&mut self) -> Result<Frame<'a>, ReadError> {
        let rest = &self.bytes[self.offset..];
        let offset = self.offset as u64;
        if rest.is_empty() {
            return Ok(Frame::End);
        }
        if rest.len() < FRAME_HEAD_LEN {
            return Ok(Frame::CutAt(offset));
        }
        let length = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let available = rest.len() - FRAME_HEAD_LEN;
        if length > available {
            // A record longer than what is left: the write was cut off (or the length is
            // damaged, which looks the same; nothing after it could be found anyway).
            return Ok(Frame::CutAt(offset));
        }
        let body = &rest[FRAME_HEAD_LEN..FRAME_HEAD_LEN + length];
        if record_checksum(body) != checksum {
            let after = &rest[FRAME_HEAD_LEN + length..];
            // The last record, or zeros the filesystem left after a crash: a cut-off end.
            if after.iter().all(|b| *b == 0) {
                return Ok(Frame::CutAt(offset));
            }
            return Err(ReadError::Corrupt { offset, problem: "checksum mismatch".to_owned() });
        }
        self.offset += FRAME_HEAD_LEN + length;
        Ok(Frame::Body { offset, body })
    }

    fn at_end(&self) -> bool {
        self.offset == self.bytes.len()
    }
}

fn decode(offset: u64, body: &[u8]) -> Result<Record, ReadError> {
    rmp_serde::from_slice(body)
        .map_err(|e| ReadError::Corrupt { offset, problem: format!("record does not decode: {e}") })
}

impl RecordingFile {
    /// Reads a whole file. A cut-off last record is not an error: the file is read up to
    /// it and [`RecordingFile::truncated_at`] says where.
    ///
    /// # Errors
    /// Not a recording, another format version, a damaged record before the end, or
    /// records out of place ([`ReadError`]).
    pub fn read(bytes: &[u8]) -> Result<RecordingFile, ReadError> {
        if bytes.len() < RECORDING_MAGIC.len() || &bytes[..RECORDING_MAGIC.len()] != RECORDING_MAGIC {
            return Err(ReadError::NotARecording);
        }
        if bytes.len() < PREAMBLE_LEN {
            return Err(ReadError::Structure {
                offset: 8,
                problem: "the file ends inside its preamble".to_owned(),
            });
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if format != RECORDING_FORMAT {
            return Err(ReadError::Format { found: format, supported: RECORDING_FORMAT });
        }
        let mut frames = Frames { bytes, offset: PREAMBLE_LEN };
        let missing = |offset: u64, what: &str| ReadError::Structure {
            offset,
            problem: format!(
                "the file ends before its {what} (a file is only readable from its checkpoint on)"
            ),
        };
        let header = match frames.next()? {
            Frame::Body { offset, body } => match decode(offset, body)? {
                Record::Header(header) => header,
                _ => return Err(structure(offset, "the first record is not a header")),
            },
            Frame::End | Frame::CutAt(_) => return Err(missing(PREAMBLE_LEN as u64, "header")),
        };
        let checkpoint = match frames.next()? {
            Frame::Body { offset, body } => match decode(offset, body)? {
                Record::Checkpoint(checkpoint) => *checkpoint,
                _ => return Err(structure(offset, "the second record is not a checkpoint")),
            },
            Frame::End | Frame::CutAt(_) => return Err(missing(frames.offset as u64, "checkpoint")),
        };
        let mut file =
            RecordingFile { header, checkpoint, records: Vec::new(), end: None, truncated_at: None };
        loop {
            match frames.next()? {
                Frame::End => break,
                Frame::CutAt(offset) => {
                    file.truncated_at = Some(offset);
                    break;
                }
                Frame::Body { offset, body } => match decode(offset, body)? {
                    Record::Header(_) | Record::Checkpoint(_) => {
                        return Err(structure(offset, "a header or checkpoint after the file's start"))
                    }
                    Record::End { reason } => {
                        if !frames.at_end() {
                            return Err(structure(offset, "records after the file's end record"));
                        }
                        file.end = Some(reason);
                        break;
                    }
                    record => file.records.push(record),
                },
            }
        }
        Ok(file)
    }
}

fn structure(offset: u64, problem: &str) -> ReadError {
    ReadError::Structure { offset, problem: problem.to_owned() }
}
