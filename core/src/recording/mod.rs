//! The flight recorder's file format, and the pure parts of recording and replaying: the
//! bytes a recording is made of, the encoder a host feeds every step, the reader, the
//! action digests `--verify` compares, and payload redaction. Files, threads and
//! rotation on disk belong to the host (the server's `recorder` module); everything
//! here works on bytes in memory, like the rest of the core.
//!
//! # File format (version [`RECORDING_FORMAT`])
//!
//! ```text
//! file   = magic "SFRECORD" (8 bytes)  format (u32 little-endian)  record*
//! record = length (u32 LE)  checksum (u32 LE)  body (length bytes)
//! ```
//!
//! The body is one [`Record`] in MessagePack (rmp-serde); the checksum is the low 32
//! bits of the body's XXH3-64 ([`record_checksum`]). Every file reads on its own: it starts with a
//! [`Record::Header`] and a [`Record::Checkpoint`] of the whole engine, followed by the
//! [`Record::Step`]s in the order they were stepped, a [`Record::Digests`] every
//! `digest_every` steps, and a [`Record::End`] when the recorder closed it (rotation,
//! shutdown, or the disk falling behind). A file without an `End` was cut short (a crash,
//! a power loss): the reader returns every whole record before the cut and says where it
//! was.

mod delivered;
mod digest;
mod encoder;
mod format;
mod reader;
mod redact;
mod replay;

pub use delivered::{ConnectionOutput, Delivered};
pub use digest::{action_digest, record_checksum, ActionDigester, DigestMode};
pub use encoder::{EncoderOptions, Piece, RecordingEncoder};
pub use format::{end_record, FileHeader, Record, StepDigests, RECORDING_FORMAT, RECORDING_MAGIC};
pub use reader::{ReadError, RecordingFile};
pub use redact::redact_event;
pub use replay::{describe_action, describe_event, Divergence, Flow, ReplayError, Replayer};
