//! The flight recorder's pure parts (`signal_fish_core::recording`): recording random
//! workloads with rotation, then replaying every file in turn or only the last one
//! gives exactly the actions of the original run, with `--verify`'s digests agreeing; a
//! changed event is caught at its step; a cut-off file reads up to the cut; another
//! format version, damaged records and arbitrary bytes are refused without a panic.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use signal_fish_core::host::StepObserver;
use signal_fish_core::recording::{
    EncoderOptions, Piece, ReadError, Record, RecordingEncoder, RecordingFile, ReplayError, Replayer,
    RECORDING_FORMAT,
};
use signal_fish_core::testkit::{ops_from_bytes, Op, OpRunner};
use signal_fish_core::{Action, Config, Engine, Event, Instant};
use support::UNIX_MS;

/// Records with an encoder and keeps every step's actions, to compare a replay with.
struct Recorded {
    encoder: RecordingEncoder,
    actions: Vec<Vec<Action>>,
}

#[derive(Clone)]
struct Shared(Rc<RefCell<Recorded>>);

impl StepObserver for Shared {
    fn before_step(&mut self, engine: &Engine, event: &Event, now: Instant) {
        self.0.borrow_mut().encoder.before_step(engine, event, now);
    }
    fn after_step(&mut self, actions: &[Action]) {
        let mut recorded = self.0.borrow_mut();
        recorded.encoder.after_step(actions);
        recorded.actions.push(actions.to_vec());
    }
}

fn options(max_file_bytes: u64, redact: bool) -> EncoderOptions {
    EncoderOptions {
        server_version: "test".to_owned(),
        recording_id: 0xfeed,
        unix_ms_at_origin: UNIX_MS,
        max_file_bytes,
        digest_every: 7,
        redact_payloads: redact,
    }
}

fn tight_config() -> Config {
    let mut config = Config::default();
    config.server.event_buffer_size = 4;
    config.server.ping_timeout = 60;
    config.server.reconnection_window = 120;
    config.server.empty_room_timeout = 100;
    config
}

/// Runs `ops` with a recorder; returns the files' bytes and every step's actions.
fn record(ops: &[Op], seed: [u8; 32], max_file_bytes: u64, redact: bool) -> (Vec<Vec<u8>>, Vec<Vec<Action>>) {
    let shared = Shared(Rc::new(RefCell::new(Recorded {
        encoder: RecordingEncoder::new(options(max_file_bytes, redact)),
        actions: Vec::new(),
    })));
    let mut runner = OpRunner::new(Engine::new(tight_config(), seed, Instant::ZERO, UNIX_MS), Instant::ZERO);
    runner.host_mut().observe(Box::new(shared.clone()));
    for op in ops {
        runner.apply(op);
    }
    runner.apply(&Op::Http { kind: 1, host: 5 });
    let mut recorded = shared.0.borrow_mut();
    recorded.encoder.finish("shutdown");
    let mut files: Vec<Vec<u8>> = Vec::new();
    for piece in recorded.encoder.take() {
        match piece {
            Piece::NewFile { index } => {
                assert_eq!(index as usize, files.len(), "files start in order");
                files.push(Vec::new());
            }
            Piece::Bytes(bytes) => files.last_mut().expect("bytes after a file start").extend(bytes),
        }
    }
    (files, std::mem::take(&mut recorded.actions))
}

/// Replays `files` in turn, verifying; returns every step's actions.
fn replay(files: &[Vec<u8>], verify: bool) -> Result<Vec<Vec<Action>>, String> {
    let mut out = Vec::new();
    let mut replayer: Option<Replayer> = None;
    for bytes in files {
        let file = RecordingFile::read(bytes).map_err(|e| e.to_string())?;
        match &mut replayer {
            None => replayer = Some(Replayer::start(&file, verify).map_err(|e| e.to_string())?),
            Some(r) => r.next_file(&file).map_err(|e| e.to_string())?,
        }
        replayer
            .as_mut()
            .unwrap()
            .replay_file(&file, |_, _, actions| {
                out.push(actions.to_vec());
                true
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn steps_in(bytes: &[u8]) -> usize {
    let file = RecordingFile::read(bytes).unwrap();
    file.records.iter().filter(|r| matches!(r, Record::Step { .. })).count()
}

#[test]
fn replaying_a_rotated_recording_reproduces_every_action() {
    let mut runner = TestRunner::new(RunnerConfig { cases: 48, ..RunnerConfig::default() });
    let strategy = (proptest::collection::vec(any::<u8>(), 0..3000), any::<[u8; 32]>(), 2_000u64..40_000);
    runner
        .run(&strategy, |(bytes, seed, max_file_bytes)| {
            let ops = ops_from_bytes(&bytes, 120);
            let (files, actions) = record(&ops, seed, max_file_bytes, false);
            prop_assert!(!files.is_empty());
            // Every file in turn, each next file's checkpoint checked against the replay.
            let replayed = replay(&files, true).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&replayed, &actions);
            // The last file on its own reproduces the tail of the run.
            let last = files.last().unwrap();
            let tail = replay(std::slice::from_ref(last), true).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&tail[..], &actions[actions.len() - steps_in(last)..]);
            Ok(())
        })
        .unwrap();
}

fn busy_ops() -> Vec<Op> {
    let mut ops = vec![
        Op::Connect { ip: 0, opt_in: true, v3: false },
        Op::Connect { ip: 1, opt_in: false, v3: true },
        Op::Connect { ip: 2, opt_in: false, v3: false },
        Op::JoinFixed { who: 0, code: 0, game: 0 },
        Op::JoinFixed { who: 1, code: 0, game: 0 },
        Op::JoinFixed { who: 2, code: 0, game: 0 },
    ];
    for _ in 0..40 {
        ops.extend([Op::GameData { who: 0 }, Op::GameData { who: 1 }, Op::Advance { ms: 50 }]);
    }
    ops
}

#[test]
fn rotation_gives_files_that_each_start_from_a_checkpoint() {
    let (files, actions) = record(&busy_ops(), [1; 32], 4_000, false);
    assert!(files.len() >= 3, "{} files", files.len());
    for (index, bytes) in files.iter().enumerate() {
        let file = RecordingFile::read(bytes).unwrap();
        assert_eq!(file.header.file_index as usize, index);
        assert_eq!(file.header.recording_id, 0xfeed);
        let expected_end = if index + 1 == files.len() { "shutdown" } else { "rotated" };
        assert_eq!(file.end.as_deref(), Some(expected_end));
        assert_eq!(file.truncated_at, None);
    }
    assert_eq!(replay(&files, true).unwrap(), actions);
    // Out of order: refused by name.
    let swapped = [files[0].clone(), files[2].clone()];
    assert!(replay(&swapped, true).unwrap_err().contains("expected file 1"), "{:?}", replay(&swapped, true));
}

#[test]
fn a_changed_event_is_reported_at_its_step() {
    let (files, _) = record(&busy_ops(), [2; 32], u64::MAX, false);
    let file = RecordingFile::read(&files[0]).unwrap();
    let mut replayer = Replayer::start(&file, true).unwrap();
    let mut step = 0u64;
    let mut failure = None;
    for record in &file.records {
        match record {
            Record::Step { at, event } => {
                // Step 20 is replaced by a ping from the first client.
                let event = if step == 20 {
                    Event::Text { conn: OpRunner::conn_of(0), text: r#"{"type":"Ping"}"#.to_owned() }
                } else {
                    event.clone()
                };
                replayer.step(*at, event).unwrap();
                step += 1;
            }
            Record::Digests(digests) => {
                if let Err(e) = replayer.check(digests, 0) {
                    failure = Some(e);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(ReplayError::Diverged(divergence)) = failure else { panic!("no divergence reported") };
    assert_eq!(divergence.step, 20);
    let report = divergence.to_string();
    assert!(report.contains("step 20") && report.contains("Ping"), "{report}");
    assert!(report.contains("expected") && report.contains("actual"), "{report}");
}

#[test]
fn redacted_recordings_verify_by_shape_and_carry_no_payload() {
    let (files, actions) = record(&busy_ops(), [3; 32], u64::MAX, true);
    let file = RecordingFile::read(&files[0]).unwrap();
    assert!(file.header.redacted);
    for record in &file.records {
        if let Record::Step { event: Event::Text { text, .. }, .. } = record {
            if text.contains("GameData") {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                let payload = value["data"]["data"].to_string();
                assert!(payload.chars().all(|c| "{}\":x ".contains(c)), "{text}");
            }
        }
    }
    let replayed = replay(&files, true).unwrap();
    assert_eq!(replayed.len(), actions.len());
    let game_data_delivered =
        actions.iter().flatten().filter(|a| format!("{a:?}").contains("GameData")).count();
    assert!(game_data_delivered > 40, "the workload relays game data ({game_data_delivered})");
}

#[test]
fn a_cut_off_file_replays_up_to_the_cut() {
    let (files, actions) = record(&busy_ops(), [4; 32], u64::MAX, false);
    let whole = &files[0];
    let header_and_checkpoint = {
        // The smallest prefix that still reads.
        (12..whole.len()).find(|&n| RecordingFile::read(&whole[..n]).is_ok()).unwrap()
    };
    for cut in [header_and_checkpoint, whole.len() / 2, whole.len() - 3] {
        let file = RecordingFile::read(&whole[..cut]).unwrap();
        assert!(file.truncated_at.is_some() || cut == header_and_checkpoint, "cut at {cut}");
        assert_eq!(file.end, None);
        let steps = steps_in(&whole[..cut]);
        let replayed = replay(&[whole[..cut].to_vec()], true).unwrap();
        assert_eq!(replayed[..], actions[..steps], "cut at {cut}");
    }
    // Zeros after the last whole record (a filesystem's leftovers) are a cut too.
    let mut zeros = whole[..whole.len() / 2].to_vec();
    let file = RecordingFile::read(&zeros).unwrap();
    let cut = file.truncated_at.unwrap() as usize;
    zeros.truncate(cut);
    zeros.resize(cut + 4096, 0);
    assert_eq!(RecordingFile::read(&zeros).unwrap().truncated_at, Some(cut as u64));
}

#[test]
fn damage_and_other_formats_are_refused_by_name() {
    let (files, _) = record(&busy_ops(), [5; 32], u64::MAX, false);
    let whole = &files[0];
    let mut other = whole.clone();
    other[8..12].copy_from_slice(&(RECORDING_FORMAT + 1).to_le_bytes());
    let error = RecordingFile::read(&other).err().unwrap();
    assert_eq!(error, ReadError::Format { found: RECORDING_FORMAT + 1, supported: RECORDING_FORMAT });
    assert!(error.to_string().contains("format 2 is not supported"), "{error}");
    assert_eq!(RecordingFile::read(b"hello world, not a recording").err(), Some(ReadError::NotARecording));
    // A flipped byte in the middle: the checksum catches it, and records follow it.
    let mut flipped = whole.clone();
    let middle = whole.len() / 2;
    flipped[middle] ^= 0x40;
    match RecordingFile::read(&flipped) {
        Err(ReadError::Corrupt { problem, .. }) => assert!(problem.contains("checksum"), "{problem}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a damaged record was read"),
    }
}

#[test]
fn arbitrary_bytes_never_panic_the_reader() {
    let (files, _) = record(&busy_ops(), [6; 32], u64::MAX, false);
    let valid = files[0].clone();
    let mut runner = TestRunner::new(RunnerConfig { cases: 512, ..RunnerConfig::default() });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        any::<usize>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(noise, edits, cut, from_valid)| {
            let mut bytes =
                if from_valid { valid.clone() } else { [&b"SFRECORD\x01\0\0\0"[..], &noise].concat() };
            for (at, value) in edits {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(file) = RecordingFile::read(&bytes) {
                // What reads must also replay (or be refused) without a panic.
                if let Ok(mut replayer) = Replayer::start(&file, true) {
                    let _ = replayer.replay_file(&file, |_, _, _| true);
                }
            }
            Ok(())
        })
        .unwrap();
}
