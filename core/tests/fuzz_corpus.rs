//! Replays the committed fuzz corpus (fuzz/corpus/) through the same harnesses the
//! cargo-fuzz targets use, so every input ever found stays a regression test without a
//! nightly toolchain. Random inputs exercise the harnesses too.

use proptest::prelude::*;
use signal_fish_core::fuzzing::{decode_message, engine_sequence, read_recording};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn decode_message_corpus() {
    let inputs = corpus("decode_message");
    assert!(inputs.len() >= 10, "the decode_message corpus has {} inputs", inputs.len());
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| decode_message(&data));
        assert!(result.is_ok(), "decode_message panicked on {name}");
    }
}

#[test]
fn engine_sequence_corpus() {
    let inputs = corpus("engine_sequence");
    assert!(inputs.len() >= 10, "the engine_sequence corpus has {} inputs", inputs.len());
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| engine_sequence(&data));
        assert!(result.is_ok(), "engine_sequence panicked on {name}");
    }
}

#[test]
fn recording_reader_corpus() {
    let inputs = corpus("recording_reader");
    assert!(inputs.len() >= 6, "the recording_reader corpus has {} inputs", inputs.len());
    let mut read = 0;
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| read_recording(&data));
        assert!(result.is_ok(), "read_recording panicked on {name}");
        read += usize::from(signal_fish_core::recording::RecordingFile::read(&data).is_ok());
    }
    assert!(read >= 6, "the seeds are readable recordings (whole and cut)");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_through_the_engine_harness(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        engine_sequence(&data);
    }

    #[test]
    fn random_bytes_through_the_decode_harness(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_message(&data);
    }
}
