//! Same configuration, seed and operations give byte-identical actions; another seed
//! gives other identifiers.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use signal_fish_core::testkit::{host_report, ops_from_bytes, Op, OpRunner};
use signal_fish_core::{Action, Config, Engine, Instant};
use support::UNIX_MS;

fn run(ops: &[Op], seed: [u8; 32]) -> Vec<Action> {
    let mut runner =
        OpRunner::new(Engine::new(Config::default(), seed, Instant::ZERO, UNIX_MS), Instant::ZERO);
    ops.iter().flat_map(|op| runner.apply(op)).collect()
}

#[test]
fn identical_inputs_give_identical_actions() {
    let mut runner = TestRunner::new(RunnerConfig { cases: 64, ..RunnerConfig::default() });
    runner
        .run(&(proptest::collection::vec(any::<u8>(), 0..4000), any::<[u8; 32]>()), |(bytes, seed)| {
            let ops = ops_from_bytes(&bytes, 200);
            let first = run(&ops, seed);
            let second = run(&ops, seed);
            prop_assert_eq!(first, second);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_seed_decides_generated_identifiers() {
    let create = Op::Create { who: 0, game: 0, max_players: 4, authority: true };
    let ops = [Op::Connect { ip: 0, opt_in: true, v3: false }, create];
    let a = run(&ops, [1; 32]);
    assert_eq!(a, run(&ops, [1; 32]));
    assert_ne!(a, run(&ops, [2; 32]), "room code, ids and token come from the seed");
}

/// Metrics responses are actions like any other: the same events (the host's figures
/// travel in the HTTP event) give byte-identical bodies, and those figures are rendered.
#[test]
fn metrics_responses_replay_exactly() {
    let ops = [
        Op::Connect { ip: 0, opt_in: true, v3: true },
        Op::Connect { ip: 1, opt_in: false, v3: false },
        Op::JoinFixed { who: 0, code: 0, game: 0 },
        Op::JoinFixed { who: 1, code: 0, game: 0 },
        Op::GameData { who: 1 },
        Op::Advance { ms: 6_000 },
        Op::Http { kind: 1, host: 1234 },
        Op::Http { kind: 2, host: 1234 },
    ];
    let responses = |actions: Vec<Action>| -> Vec<(u16, String)> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Http(r) => Some((r.status, String::from_utf8(r.body.to_vec()).unwrap())),
                _ => None,
            })
            .collect()
    };
    let first = responses(run(&ops, [7; 32]));
    assert_eq!(first, responses(run(&ops, [7; 32])));
    assert_eq!(first.len(), 2);
    let (json, prom) = (&first[0].1, &first[1].1);
    let host = host_report(1234);
    assert!(json.contains(&format!("\"bytesRead\":{}", host.transport.bytes_read_total)), "{json}");
    assert!(json.contains("\"activeRooms\":1"), "{json}");
    assert!(prom.contains(&format!("signal_fish_bytes_written_total {}", host.transport.bytes_written_total)));
    assert!(prom.contains(&format!("signal_fish_step_latency_seconds_count {}", 1234 % 7)), "{prom}");
}
