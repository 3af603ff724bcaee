//! Replays the committed fuzz corpora of the server's targets (fuzz/corpus/load_config,
//! fuzz/corpus/websocket_frames) with the normal test suite, so every input ever found
//! stays a regression test.

use std::path::{Path, PathBuf};

use signal_fish_server::config::fuzzing::load_config;
use signal_fish_server::frame_fuzzing::decode_stream;

/// The inputs of one target's corpus, in name order.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the {target} corpus has {} inputs", inputs.len());
    inputs
}

/// Runs `harness` on every input of `target`'s corpus; fails naming the first input
/// it panics on.
fn replay(target: &str, harness: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(result.is_ok(), "{target} panicked on {}", path.display());
    }
}

#[test]
fn load_config_corpus() {
    replay("load_config", load_config);
}

#[test]
fn websocket_frames_corpus() {
    replay("websocket_frames", decode_stream);
}
