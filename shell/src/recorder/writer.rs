//! The recorder's writer thread: the only code that touches recording files. It writes
//! what the driver hands it, in order; creates each file with mode 0600; syncs a file
//! to disk when it is complete; and applies retention when a new file starts.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use signal_fish_core::config::RecorderConfig;
use signal_fish_core::recording::end_record;

use super::retention::{to_delete, RecordingFileEntry};
use super::RecorderShared;

/// What the driver sends the writer.
pub(super) enum Chunk {
    /// Start file `index` (the previous one is complete).
    NewFile { index: u32 },
    /// Append to the current file.
    Bytes(Vec<u8>),
    /// Recording stopped early: end the current file with an end record saying why.
    Finish { reason: String },
}

/// See the module documentation.
pub(super) struct Writer {
    dir: PathBuf,
    recording_id: u64,
    max_bytes: u64,
    max_files: u32,
    shared: Arc<RecorderShared>,
    current: Option<(PathBuf, File)>,
    /// After a failed write nothing more is written (the driver stops recording).
    failed: bool,
}

/// The name of file `index` of recording `recording_id`: sorting names sorts files by
/// start time, then by place in their recording.
pub(crate) fn file_name(recording_id: u64, index: u32) -> String {
    format!("signal-fish-{recording_id:016x}-{index:06}.sfr")
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        recording_id: u64,
        config: &RecorderConfig,
        shared: Arc<RecorderShared>,
    ) -> Writer {
        Writer {
            dir,
            recording_id,
            max_bytes: config.max_bytes,
            max_files: config.max_files,
            shared,
            current: None,
            failed: false,
        }
    }

    /// Runs until the driver drops its sender.
    pub(super) fn run(mut self, chunks: mpsc::Receiver<Chunk>) {
        for chunk in chunks {
            match chunk {
                Chunk::NewFile { index } => {
                    self.close();
                    if !self.failed {
                        self.open(index);
                    }
                }
                Chunk::Bytes(bytes) => {
                    self.write(&bytes);
                    self.shared.pending_bytes.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
                }
                Chunk::Finish { reason } => {
                    self.write(&end_record(&reason));
                    self.close();
                }
            }
        }
        self.close();
    }

    fn open(&mut self, index: u32) {
        let path = self.dir.join(file_name(self.recording_id, index));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                self.shared.files_total.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(path = %path.display(), "recording file started");
                self.current = Some((path.clone(), file));
                self.apply_retention(&path);
            }
            Err(e) => self.fail(&path, &e),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        let Some((path, file)) = &mut self.current else { return };
        if let Err(e) = file.write_all(bytes) {
            let path = path.clone();
            self.fail(&path, &e);
        }
    }

    /// Syncs and closes the current file.
    fn close(&mut self) {
        if let Some((path, file)) = self.current.take() {
            if let Err(e) = file.sync_all() {
                self.fail(&path, &e);
            }
        }
    }

    fn fail(&mut self, path: &Path, error: &std::io::Error) {
        if !self.failed {
            tracing::error!(path = %path.display(), %error, "cannot write the recording");
        }
        self.failed = true;
        self.current = None;
        self.shared.write_failed.store(true, Ordering::Relaxed);
    }

    /// Deletes the oldest recording files of `dir` (any recording's) beyond
    /// `recorder.max_files` and `recorder.max_bytes`, never `current`.
    fn apply_retention(&self, current: &Path) {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot list recordings for retention");
                return;
            }
        };
        let mut files: Vec<RecordingFileEntry> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let bytes = entry.metadata().ok()?.len();
                Some(RecordingFileEntry { name, bytes })
            })
            .collect();
        let current_name = current.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // The current file is about to grow to a whole file: count it as one.
        if let Some(entry) = files.iter_mut().find(|f| f.name == current_name) {
            entry.bytes = entry.bytes.max(self.max_bytes / u64::from(self.max_files.max(1)));
        }
        for name in to_delete(&mut files, current_name, self.max_bytes, self.max_files) {
            let path = self.dir.join(&name);
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "old recording deleted (retention)"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an old recording")
                }
            }
        }
    }
}
