//! Recording files: any bytes given to the reader (and, when they read, to a verifying
//! replay) are refused or replayed, never a panic.

use crate::recording::{RecordingFile, Replayer};

/// Reads `data` as one recording file; if it reads, replays it with `--verify`'s checks.
/// Refusals (not a recording, damage, a checkpoint that does not restore, a divergence)
/// are fine; a panic is a finding.
pub fn read_recording(data: &[u8]) {
    let Ok(file) = RecordingFile::read(data) else { return };
    if let Ok(mut replayer) = Replayer::start(&file, true) {
        let _ = replayer.replay_file(&file, |_, _, _| true);
    }
}
