//! Finding and reading the files of one recording: paths given on the command line
//! (folders stand for their `*.sfr` files), sorted by name, read, and checked to be
//! consecutive files of a single recording before anything is replayed.

use std::fmt;
use std::path::{Path, PathBuf};

use signal_fish_core::recording::RecordingFile;

/// The extension of recording files.
pub const EXTENSION: &str = "sfr";

/// One recording file, read.
pub struct LoadedFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// What it holds.
    pub file: RecordingFile,
}

/// Why the files could not be used: the file concerned and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file (or folder) concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for FileError {}

fn error(path: &Path, message: impl Into<String>) -> FileError {
    FileError { path: path.to_owned(), message: message.into() }
}

/// The files named by `paths` in replay order: each folder contributes its `*.sfr`
/// files, and the whole list is sorted by file name (the server names files
/// `signal-fish-<recording id>-<file index>.sfr`, so name order is recording order).
///
/// # Errors
/// A path that does not exist or a folder that cannot be listed; no file at all.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| error(path, e.to_string()))?;
            for entry in entries {
                let entry = entry.map_err(|e| error(path, e.to_string()))?.path();
                if entry.is_file() && entry.extension().is_some_and(|e| e == EXTENSION) {
                    files.push(entry);
                }
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(error(path, "no such file or folder"));
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
    files.dedup();
    if files.is_empty() {
        let first = paths.first().map_or_else(|| PathBuf::from("."), Clone::clone);
        return Err(error(&first, format!("no recording files (*.{EXTENSION}) found")));
    }
    Ok(files)
}

/// Reads `paths` (see [`expand`]) and checks that they are consecutive files of one
/// recording.
///
/// # Errors
/// An unreadable file, a file that is not a recording or is in another format version
/// (the reader's message), or files out of order / of different recordings.
pub fn load(paths: &[PathBuf]) -> Result<Vec<LoadedFile>, FileError> {
    let mut loaded: Vec<LoadedFile> = Vec::new();
    for path in expand(paths)? {
        let bytes = std::fs::read(&path).map_err(|e| error(&path, e.to_string()))?;
        let file = RecordingFile::read(&bytes).map_err(|e| error(&path, e.to_string()))?;
        if let Some(previous) = loaded.last() {
            let (before, now) = (&previous.file.header, &file.header);
            if now.recording_id != before.recording_id {
                return Err(error(
                    &path,
                    format!(
                        "file of recording {:016x}, but {} is of recording {:016x} (give the files of one recording)",
                        now.recording_id,
                        previous.path.display(),
                        before.recording_id
                    ),
                ));
            }
            if now.file_index != before.file_index + 1 {
                return Err(error(
                    &path,
                    format!(
                        "file {} of the recording, but file {} should follow {} (file {}): files are missing or out of order",
                        now.file_index,
                        before.file_index + 1,
                        previous.path.display(),
                        before.file_index
                    ),
                ));
            }
        }
        loaded.push(LoadedFile { path, file });
    }
    Ok(loaded)
}

/// The name the server gives file `index` of recording `recording_id`.
pub fn file_name(recording_id: u64, index: u32) -> String {
    format!("signal-fish-{recording_id:016x}-{index:06}.{EXTENSION}")
}
