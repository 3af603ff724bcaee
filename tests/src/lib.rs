//! # signal-fish-sim
//!
//! Deterministic testing for the Signal Fish engine:
//!
//! * [`sim`]: a simulator that drives [`signal_fish_core::Engine`] with a virtual clock and
//!   named virtual connections, injects faults (abrupt drops, clean closes, backed-up
//!   writers, time jumps) and checks the engine's invariants after every step.
//! * [`scenario`]: plain-text transcripts (`scenarios/*.scn`) replayed against the
//!   simulator (or any other [`backend::Backend`], such as real sockets) and compared
//!   line by line with their expected output.
//! * [`swarm`]: random multi-client workloads from seeds; a failing seed is shrunk and
//!   written as a `.scn` file that replays it.
//! * [`recording`]: replaying the server's flight recordings (`replay`) and turning one
//!   room's window into a scenario (`extract`).
//! * [`coverage`]: which scenarios exercise which message types, error codes, timers and
//!   decisions (`scenarios/COVERAGE.md`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod coverage;
pub mod duration;
pub mod frames;
pub mod observe;
pub mod recording;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod swarm;
