//! Recording files: any bytes given to the reader (and, when they read, to a verifying
//! replay) are refused or replayed, never a panic.

use crate::recording::{record_checksum, RecordingFile, Replayer};

/// Reads `data` as one recording file; if it reads, replays it with `--verify`'s checks.
/// The same again with every record's checksum made right, so that mutations reach the
/// record decoder, the checkpoint restore and the engine rather than stopping at the
/// checksum. Refusals (not a recording, damage, a checkpoint that does not restore, a
/// divergence) are fine; a panic is a finding.
pub fn read_recording(data: &[u8]) {
    replay_if_readable(data);
    replay_if_readable(&with_checksums_fixed(data));
}

fn replay_if_readable(data: &[u8]) {
    let Ok(file) = RecordingFile::read(data) else { return };
    if let Ok(mut replayer) = Replayer::start(&file, true) {
        let _ = replayer.replay_file(&file, |_, _, _| true);
    }
}

/// `data` with the checksum of every whole record (after the 12-byte preamble) rewritten.
fn with_checksums_fixed(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 12;
    while at + 8 <= out.len() {
        let len = u32::from_le_bytes(out[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|end| *end <= out.len()) else { break };
        let checksum = record_checksum(&out[at + 8..end]);
        out[at + 4..at + 8].copy_from_slice(&checksum.to_le_bytes());
        at = end;
    }
    out
}
