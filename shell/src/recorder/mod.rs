//! The flight recorder's host side (`recorder.*`, DECISIONS D57): the driver feeds every
//! engine step to a [`RecordingEncoder`] (`signal_fish_core::recording`) and hands its
//! bytes to a writer thread of its own (`writer.rs`), so the driver never waits for the
//! disk. Hand-overs are batched ([`HANDOVER_BYTES`], [`HANDOVER_INTERVAL`]): waking the
//! writer and a `write` per message would cost more than recording the message. What waits for the disk is bounded
//! (`recorder.max_pending_bytes`): past it recording stops at a record boundary, the
//! file gets an end record saying why, and the server goes on; nothing is dropped from
//! the middle of a file. Files rotate at `recorder.max_file_bytes` (each starts with a
//! checkpoint) and old ones are deleted to keep `recorder.max_bytes` and
//! `recorder.max_files` (`retention.rs`).

mod retention;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_fish_core::config::RecorderConfig;
use signal_fish_core::metrics::RecorderStats;
use signal_fish_core::recording::{EncoderOptions, Piece, RecordingEncoder};

use writer::Chunk;

/// Recorded bytes are handed to the writer once this many are waiting…
pub(crate) const HANDOVER_BYTES: usize = 64 * 1024;
/// …or once the oldest has waited this long (the driver arms a timer for it).
pub(crate) const HANDOVER_INTERVAL: Duration = Duration::from_millis(10);

/// What the driver and the writer thread both see.
#[derive(Debug, Default)]
struct RecorderShared {
    recording: AtomicBool,
    bytes_total: AtomicU64,
    pending_bytes: AtomicU64,
    files_total: AtomicU64,
    stops_total: AtomicU64,
    /// Set by the writer when a write failed: the driver stops recording.
    write_failed: AtomicBool,
}

/// The driver's recorder. See the module documentation.
pub(crate) struct Recorder {
    /// `None` once recording stopped.
    encoder: Option<RecordingEncoder>,
    to_writer: Option<mpsc::Sender<Chunk>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<RecorderShared>,
    max_pending_bytes: u64,
    dir: PathBuf,
    /// When bytes were last handed to the writer.
    last_handover: Instant,
}

/// Why recording could not start.
#[derive(Debug)]
pub(crate) struct StartError(pub(crate) String);

impl Recorder {
    /// Creates `config.dir` (mode 0700) if missing and starts the writer thread. The first
    /// file begins with the first step.
    pub(crate) fn start(config: &RecorderConfig, unix_ms_at_origin: u64) -> Result<Recorder, StartError> {
        let dir = PathBuf::from(&config.dir);
        create_private_dir(&dir)
            .map_err(|e| StartError(format!("recorder.dir: cannot create {}: {e}", dir.display())))?;
        // Chronological when sorted (time first), distinct for runs in the same millisecond.
        let mut salt = [0u8; 2];
        getrandom::fill(&mut salt)
            .map_err(|e| StartError(format!("no OS randomness for the recording id: {e}")))?;
        let recording_id = (unix_ms_at_origin << 16) | u64::from(u16::from_le_bytes(salt));
        let encoder = RecordingEncoder::new(EncoderOptions {
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            recording_id,
            unix_ms_at_origin,
            max_file_bytes: config.max_file_bytes,
            digest_every: config.digest_every,
            redact_payloads: config.redact_payloads,
        });
        let shared = Arc::new(RecorderShared::default());
        shared.recording.store(true, Ordering::Relaxed);
        let (to_writer, from_driver) = mpsc::channel();
        let writer = writer::Writer::new(dir.clone(), recording_id, config, shared.clone());
        let writer = std::thread::Builder::new()
            .name("signal-fish-recorder".to_owned())
            .spawn(move || writer.run(from_driver))
            .map_err(|e| StartError(format!("cannot start the recorder's writer thread: {e}")))?;
        tracing::info!(dir = %dir.display(), recording_id = format!("{recording_id:016x}"), redacted = config.redact_payloads, "flight recorder on");
        Ok(Recorder {
            encoder: Some(encoder),
            to_writer: Some(to_writer),
            writer: Some(writer),
            shared,
            max_pending_bytes: config.max_pending_bytes,
            dir,
            last_handover: Instant::now(),
        })
    }

    /// The encoder to show steps to, while recording.
    pub(crate) fn encoder(&mut self) -> Option<&mut RecordingEncoder> {
        self.encoder.as_mut()
    }

    /// Whether recorded bytes wait for a hand-over (the driver then arms a timer for
    /// [`HANDOVER_INTERVAL`]).
    pub(crate) fn has_waiting_bytes(&self) -> bool {
        self.encoder.as_ref().is_some_and(|e| e.pending_bytes() > 0)
    }

    /// Hands what was recorded to the writer if enough waits ([`HANDOVER_BYTES`]) or it
    /// has waited long enough ([`HANDOVER_INTERVAL`]) at `now`.
    pub(crate) fn hand_over_due(&mut self, now: Instant) {
        let Some(encoder) = &self.encoder else { return };
        if encoder.pending_bytes() >= HANDOVER_BYTES
            || now.saturating_duration_since(self.last_handover) >= HANDOVER_INTERVAL
        {
            self.last_handover = now;
            self.flush();
        }
    }

    /// Hands what was recorded since the last call to the writer; stops recording if the
    /// writer is too far behind or failed.
    pub(crate) fn flush(&mut self) {
        let Some(encoder) = &mut self.encoder else { return };
        if self.shared.write_failed.load(Ordering::Relaxed) {
            self.stop("a write to the recording failed");
            return;
        }
        let pending = self.shared.pending_bytes.load(Ordering::Relaxed);
        if pending + encoder.pending_bytes() as u64 > self.max_pending_bytes {
            self.stop("the disk fell behind (recorder.max_pending_bytes reached)");
            return;
        }
        let pieces = encoder.take();
        self.send(pieces);
    }

    fn send(&mut self, pieces: Vec<Piece>) {
        let Some(to_writer) = &self.to_writer else { return };
        for piece in pieces {
            let chunk = match piece {
                Piece::NewFile { index } => Chunk::NewFile { index },
                Piece::Bytes(bytes) => {
                    let len = bytes.len() as u64;
                    self.shared.pending_bytes.fetch_add(len, Ordering::Relaxed);
                    self.shared.bytes_total.fetch_add(len, Ordering::Relaxed);
                    Chunk::Bytes(bytes)
                }
            };
            // The writer outlives the sender (it only ends when the channel closes).
            let _ = to_writer.send(chunk);
        }
    }

    /// Stops recording early: what the writer has is written, then an end record saying
    /// `reason`. The server goes on without recording.
    fn stop(&mut self, reason: &str) {
        self.encoder = None;
        self.shared.recording.store(false, Ordering::Relaxed);
        self.shared.stops_total.fetch_add(1, Ordering::Relaxed);
        tracing::error!(dir = %self.dir.display(), reason, "flight recorder stopped; the server goes on without recording");
        if let Some(to_writer) = &self.to_writer {
            let _ = to_writer.send(Chunk::Finish { reason: reason.to_owned() });
        }
    }

    /// Ends the recording (the last file gets an end record saying `reason`) and waits for
    /// the writer to put everything on disk.
    pub(crate) fn finish(&mut self, reason: &str) {
        if let Some(mut encoder) = self.encoder.take() {
            encoder.finish(reason);
            let pieces = encoder.take();
            self.send(pieces);
            self.shared.recording.store(false, Ordering::Relaxed);
        }
        self.to_writer = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the recorder's writer thread panicked");
            }
        }
    }

    /// The figures for the metrics.
    pub(crate) fn stats(&self) -> RecorderStats {
        let s = &self.shared;
        let waiting = self.encoder.as_ref().map_or(0, |e| e.pending_bytes() as u64);
        RecorderStats {
            recording: u64::from(s.recording.load(Ordering::Relaxed)),
            bytes_total: s.bytes_total.load(Ordering::Relaxed),
            pending_bytes: s.pending_bytes.load(Ordering::Relaxed) + waiting,
            files_total: s.files_total.load(Ordering::Relaxed),
            stops_total: s.stops_total.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // A driver that ends without `finish` (a panic) still leaves whole files.
        if self.writer.is_some() {
            self.finish("the server stopped");
        }
    }
}

/// Creates `dir` and its parents; a new `dir` gets mode 0700 (recordings are secrets).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_fish_core::host::StepObserver;
    use signal_fish_core::recording::RecordingFile;
    use signal_fish_core::{Config, Engine, Event, Instant};

    #[test]
    fn a_disk_that_falls_behind_stops_recording_at_a_record_boundary() {
        let dir = std::env::temp_dir().join(format!("sfs-recorder-behind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config =
            RecorderConfig { enabled: true, dir: dir.display().to_string(), ..RecorderConfig::default() };
        let mut recorder = Recorder::start(&config, 1_700_000_000_000).unwrap();
        let mut engine = Engine::new(Config::default(), [7; 32], Instant::ZERO, 0);
        let mut step = |recorder: &mut Recorder, at: u64| {
            let now = Instant::from_micros(at);
            if let Some(encoder) = recorder.encoder() {
                encoder.before_step(&engine, &Event::Tick, now);
                let actions = engine.step(Event::Tick, now);
                encoder.after_step(&actions);
            }
        };
        step(&mut recorder, 1);
        recorder.flush();
        assert_eq!(recorder.stats().recording, 1);
        // The writer is a whole queue behind: the next flush stops recording instead of
        // queueing more.
        recorder.shared.pending_bytes.fetch_add(config.max_pending_bytes, Ordering::Relaxed);
        step(&mut recorder, 2);
        recorder.flush();
        let stats = recorder.stats();
        assert_eq!((stats.recording, stats.stops_total), (0, 1));
        assert!(recorder.encoder().is_none());
        recorder.shared.pending_bytes.fetch_sub(config.max_pending_bytes, Ordering::Relaxed);
        recorder.finish("shutdown");
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let file = RecordingFile::read(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(file.end.as_deref(), Some("the disk fell behind (recorder.max_pending_bytes reached)"));
        assert_eq!(file.truncated_at, None);
        assert_eq!(file.records.len(), 1, "the step handed over before the stop, and nothing after");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
