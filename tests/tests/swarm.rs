//! A short swarm run as part of the test suite: random workloads over many connections
//! and rooms must not break any engine invariant or simulator check, and must be
//! deterministic. (`signal-fish-sim swarm --seeds 10000` is the long version.)

use signal_fish_sim::swarm::{run, SwarmOptions};

#[test]
fn five_hundred_seeds_break_nothing() {
    let out_dir = std::env::temp_dir().join(format!("signal-fish-swarm-test-{}", std::process::id()));
    let options = SwarmOptions {
        start: 1_000_000,
        seeds: 500,
        steps: 300,
        threads: 2,
        out_dir: out_dir.clone(),
        max_failures: 3,
        record: false,
    };
    let mut lines = Vec::new();
    let report = run(&options, &mut |line| lines.push(line));
    println!("swarm: {} seeds, {} engine steps", report.seeds_run, report.engine_steps);
    assert_eq!(report.seeds_run, 500);
    assert!(report.engine_steps > 10_000, "workloads should do real work: {} steps", report.engine_steps);
    assert!(report.failures.is_empty(), "{}", lines.join("\n"));
    std::fs::remove_dir_all(out_dir).ok();
}
