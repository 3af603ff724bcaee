//! `scenarios/COVERAGE.md` must be current, and every client message, server message,
//! reachable error code, timer and decision must have a scenario.

use std::path::Path;

use signal_fish_sim::coverage::{Coverage, COVERAGE_FILE};

#[test]
fn coverage_is_complete_and_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let coverage = Coverage::scan(&dir).expect("scenarios parse");
    let missing = coverage.missing();
    assert!(missing.is_empty(), "not covered by any scenario:\n  {}", missing.join("\n  "));
    let current = std::fs::read_to_string(dir.join(COVERAGE_FILE)).unwrap_or_default();
    assert!(
        current == coverage.render(),
        "scenarios/COVERAGE.md is out of date: run `cargo run -p signal-fish-sim -- coverage`"
    );
}
