//! Same configuration, seed and events give byte-identical actions; another seed gives
//! other identifiers.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use signal_fish_core::{Action, Config, Engine, Instant};
use support::workload::{host_report, op, EventMaker, Op};
use support::UNIX_MS;

fn run(ops: &[Op], seed: [u8; 32]) -> Vec<Action> {
    let mut engine = Engine::new(Config::default(), seed, Instant::ZERO, UNIX_MS);
    let mut events = EventMaker::new();
    let mut all = Vec::new();
    for op in ops {
        let event = events.event(op).unwrap();
        engine.step_into(event, Instant::from_micros(events.now_micros), &mut all);
    }
    all
}

#[test]
fn identical_inputs_give_identical_actions() {
    let mut runner = TestRunner::new(RunnerConfig { cases: 64, ..RunnerConfig::default() });
    runner
        .run(&(proptest::collection::vec(op(), 1..200), any::<[u8; 32]>()), |(ops, seed)| {
            let first = run(&ops, seed);
            let second = run(&ops, seed);
            prop_assert_eq!(first, second);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_seed_decides_generated_identifiers() {
    let create = Op::Text {
        conn: 0,
        text: r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"Al"}}"#.to_owned(),
    };
    let ops = [Op::Open { conn: 0, ip: 0, opt_in: true }, create];
    let a = run(&ops, [1; 32]);
    assert_eq!(a, run(&ops, [1; 32]));
    assert_ne!(a, run(&ops, [2; 32]), "room code, ids and token come from the seed");
}

/// Metrics responses are actions like any other: the same events (the host's figures
/// travel in the HTTP event) give byte-identical bodies, and those figures are rendered.
#[test]
fn metrics_responses_replay_exactly() {
    let join = |conn: u8, name: &str| Op::Text {
        conn,
        text: format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","room_code":"ROOM01","player_name":"{name}"}}}}"#
        ),
    };
    let ops = [
        Op::Open { conn: 0, ip: 0, opt_in: true },
        Op::Open { conn: 1, ip: 1, opt_in: false },
        join(0, "Al"),
        join(1, "Bo"),
        Op::Text { conn: 1, text: r#"{"type":"GameData","data":{"data":1}}"#.to_owned() },
        Op::Advance { millis: 6_000 },
        Op::Http { path: 0, host: 1234 },
        Op::Http { path: 1, host: 1234 },
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
