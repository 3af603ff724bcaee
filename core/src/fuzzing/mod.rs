//! Harnesses shared by the cargo-fuzz targets in `fuzz/` and the tests that replay their
//! committed corpus with the normal test suite (feature `fuzzing`).
//!
//! Each harness takes raw fuzzer bytes and panics on any finding.

mod decode;
mod recording;
mod sequence;

pub use decode::decode_message;
pub use recording::read_recording;
pub use sequence::engine_sequence;
