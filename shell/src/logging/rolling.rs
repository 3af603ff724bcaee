//! A log file that starts anew every day or hour: `<filename>.<YYYY-MM-DD>`,
//! `<filename>.<YYYY-MM-DD-HH>`, or just `<filename>` with rotation `never`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use signal_fish_core::config::LogRotation;
use signal_fish_core::UnixMicros;

/// See the module documentation. Writes are unbuffered: each log line is one write.
#[derive(Debug)]
pub struct RollingFile {
    dir: PathBuf,
    filename: String,
    rotation: LogRotation,
    suffix: String,
    file: File,
}

impl RollingFile {
    /// Creates `dir` if needed and opens the current file for appending.
    pub fn open(dir: &str, filename: &str, rotation: LogRotation) -> io::Result<RollingFile> {
        std::fs::create_dir_all(dir)?;
        let suffix = suffix(rotation, now());
        let file = open(&PathBuf::from(dir), filename, &suffix)?;
        Ok(RollingFile { dir: PathBuf::from(dir), filename: filename.to_owned(), rotation, suffix, file })
    }

    /// The path being written now.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(file_name(&self.filename, &self.suffix))
    }

    fn rotate_if_due(&mut self, at: UnixMicros) -> io::Result<()> {
        let suffix = suffix(self.rotation, at);
        if suffix != self.suffix {
            self.file = open(&self.dir, &self.filename, &suffix)?;
            self.suffix = suffix;
        }
        Ok(())
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.rotate_if_due(now())?;
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn now() -> UnixMicros {
    UnixMicros(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64))
}

fn suffix(rotation: LogRotation, at: UnixMicros) -> String {
    let stamp = at.to_rfc3339_z(); // 2026-03-01T12:00:00Z
    match rotation {
        LogRotation::Daily => stamp[..10].to_owned(),
        LogRotation::Hourly => format!("{}-{}", &stamp[..10], &stamp[11..13]),
        LogRotation::Never => String::new(),
    }
}

fn file_name(filename: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        filename.to_owned()
    } else {
        format!("{filename}.{suffix}")
    }
}

fn open(dir: &std::path::Path, filename: &str, suffix: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(dir.join(file_name(filename, suffix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_by_rotation() {
        let at = UnixMicros(1_772_366_400_000_000); // 2026-03-01T12:00:00Z
        assert_eq!(suffix(LogRotation::Daily, at), "2026-03-01");
        assert_eq!(suffix(LogRotation::Hourly, at), "2026-03-01-12");
        assert_eq!(suffix(LogRotation::Never, at), "");
    }

    #[test]
    fn writes_and_rotates_into_dated_files() {
        let dir = std::env::temp_dir().join(format!("sfs-log-{}", std::process::id()));
        let dir_text = dir.to_str().unwrap().to_owned();
        let mut file = RollingFile::open(&dir_text, "server.log", LogRotation::Daily).unwrap();
        writeln!(file, "first").unwrap();
        let today = file.current_path();
        assert!(today.file_name().unwrap().to_str().unwrap().starts_with("server.log.20"));
        file.rotate_if_due(UnixMicros(1_772_366_400_000_000)).unwrap();
        file.file.write_all(b"second\n").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("server.log.2026-03-01")).unwrap(), "second\n");
        assert!(std::fs::read_to_string(today).unwrap().contains("first\n"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
