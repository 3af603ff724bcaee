//! Replays the committed `load_config` fuzz corpus (fuzz/corpus/load_config) with the
//! normal test suite, so every input ever found stays a regression test.

use signal_fish_server::config::fuzzing::load_config;

#[test]
fn load_config_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/load_config");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the load_config corpus has {} inputs", inputs.len());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| load_config(&data));
        assert!(result.is_ok(), "load_config panicked on {}", path.display());
    }
}
