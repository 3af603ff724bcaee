//! Sequences of the shared operations ([`crate::testkit::Op`]: connections, client
//! messages, closes, stalled readers, backed-up writers, HTTP requests, time), drawn by
//! the shared generator from the fuzzer's bytes, run through the shared virtual-time
//! driver and checked after every operation.

use arbitrary::Unstructured;

use crate::testkit::{ops_from_bytes, OpRunner};
use crate::{Config, Engine, Instant};

/// Most operations taken from one input.
const MAX_OPS: usize = 400;

/// Runs one arbitrary sequence twice, with reconnection off and on (reserved seats,
/// replay buffers). Panics on the first problem [`OpRunner::check`] reports: an engine
/// panic or broken invariant, output for a closed connection, a timer left due, an
/// unanswered HTTP request, game data lost, duplicated or reordered, or clients and
/// engine disagreeing on who sits where.
pub fn engine_sequence(data: &[u8]) {
    run(data, false);
    run(data, true);
}

fn run(data: &[u8], reconnection: bool) {
    let mut input = Unstructured::new(data);
    let mut config = Config::default();
    config.server.enable_reconnection = reconnection;
    config.server.ping_timeout = 30;
    config.server.empty_room_timeout = 0;
    config.server.max_spectators_per_room = 2;
    config.server.event_buffer_size = 4;
    config.rate_limit.max_room_creations = u32::MAX;
    config.rate_limit.max_join_attempts = u32::MAX;
    let seed: [u8; 32] = input.arbitrary().unwrap_or_default();
    let mut runner =
        OpRunner::new(Engine::new(config, seed, Instant::ZERO, 1_772_366_400_000), Instant::ZERO);
    for op in ops_from_bytes(input.take_rest(), MAX_OPS) {
        runner.apply(&op);
        if let Err(problem) = runner.check() {
            panic!("{problem} after {op:?}");
        }
    }
}
