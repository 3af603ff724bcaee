//! Same configuration, seed and events give byte-identical actions; another seed gives
//! other identifiers.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use signal_fish_core::{Action, Config, Engine, Instant};
use support::workload::{op, Driver, Op};
use support::UNIX_MS;

fn run(ops: &[Op], seed: [u8; 32]) -> Vec<Action> {
    let mut engine = Engine::new(Config::default(), seed, Instant::ZERO, UNIX_MS);
    let mut driver = Driver::new();
    let mut all = Vec::new();
    for op in ops {
        let event = driver.event(op).unwrap();
        engine.step_into(event, Instant::from_micros(driver.now_micros), &mut all);
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
