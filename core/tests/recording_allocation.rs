//! What reading a recording may allocate: a record's length is checked against the bytes
//! left before anything is allocated for it, and serde preallocates at most 1 MiB for a
//! claimed collection length, so no single allocation made while reading exceeds the
//! file's own size or 1 MiB, whatever the bytes (a forged length of 4 GiB included).
//! A counting allocator watches every allocation of this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use signal_fish_core::host::StepObserver;
use signal_fish_core::recording::{EncoderOptions, Piece, RecordingEncoder, RecordingFile};
use signal_fish_core::{Config, ConnId, Engine, Event, Instant};

struct Watching;

static WATCHING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time (tests run on several threads).
static MEASURE: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// The largest single allocation made while reading `bytes`.
fn largest_allocation_reading(bytes: &[u8]) -> usize {
    let _one = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    WATCHING.store(true, Ordering::Relaxed);
    let read = RecordingFile::read(bytes);
    WATCHING.store(false, Ordering::Relaxed);
    drop(read);
    LARGEST.load(Ordering::Relaxed)
}

fn a_recording() -> Vec<u8> {
    let options = EncoderOptions {
        server_version: "test".to_owned(),
        recording_id: 1,
        unix_ms_at_origin: 0,
        max_file_bytes: u64::MAX,
        digest_every: 4,
        redact_payloads: false,
    };
    let mut encoder = RecordingEncoder::new(options);
    let mut engine = Engine::new(Config::default(), [9; 32], Instant::ZERO, 0);
    let events = [
        Event::Opened {
            conn: ConnId(1),
            peer_ip: "127.0.0.1".parse().unwrap(),
            target: "/v2/ws".into(),
            endpoint: Default::default(),
        },
        Event::Text {
            conn: ConnId(1),
            text: r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"A"}}"#.into(),
        },
        Event::Text { conn: ConnId(1), text: r#"{"type":"GameData","data":{"data":[1,2,3]}}"#.into() },
        Event::Text { conn: ConnId(1), text: r#"{"type":"Ping"}"#.into() },
        Event::Tick,
    ];
    for (i, event) in events.into_iter().enumerate() {
        let now = Instant::from_micros(i as u64 * 1000);
        encoder.before_step(&engine, &event, now);
        let actions = engine.step(event, now);
        encoder.after_step(&actions);
    }
    encoder.finish("shutdown");
    encoder.take().into_iter().flat_map(|p| if let Piece::Bytes(b) = p { b } else { Vec::new() }).collect()
}

const SERDE_PREALLOCATION_CAP: usize = 1 << 20;

#[test]
fn a_forged_record_length_allocates_nothing_for_it() {
    let mut bytes = b"SFRECORD\x01\0\0\0".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let largest = largest_allocation_reading(&bytes);
    // Only the error message is allocated, never the 4 GiB the length claims.
    assert!(largest < 4096, "allocated {largest} bytes for a {}-byte file", bytes.len());
}

#[test]
fn no_allocation_exceeds_the_file_or_serdes_cap() {
    let valid = a_recording();
    assert!(RecordingFile::read(&valid).is_ok());
    let mut runner = TestRunner::new(RunnerConfig { cases: 512, ..RunnerConfig::default() });
    let strategy = (proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16), any::<usize>());
    runner
        .run(&strategy, |(edits, cut)| {
            let mut bytes = valid.clone();
            for (at, value) in edits {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let largest = largest_allocation_reading(&bytes);
            prop_assert!(
                largest <= bytes.len().max(SERDE_PREALLOCATION_CAP),
                "allocated {} bytes reading {} bytes",
                largest,
                bytes.len()
            );
            Ok(())
        })
        .unwrap();
}
