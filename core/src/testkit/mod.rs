//! What every harness that drives the engine shares (feature `testkit`): one operation
//! vocabulary ([`Op`]), one model of what clients have seen ([`Clients`]), and one
//! virtual-time driver ([`VirtualHost`]).
//!
//! The fuzz target (`fuzz/fuzz_targets/engine_sequence.rs`), the core property and
//! determinism tests and the swarm all generate [`Op`]s; the simulator and the core
//! behaviour tests step the engine through [`VirtualHost`]. A new behaviour therefore
//! needs one new [`Op`] (and its resolution in [`Clients::resolve`]) to be explored by
//! all of them.

mod clients;
mod cluster;
mod generate;
mod input;
mod op;
mod op_runner;
mod virtual_host;

pub use clients::{Clients, GARBAGE_BINARY};
pub use cluster::{comparable, first_difference, Comparable, SimCluster, Transcript};
pub use generate::{connect_op, ops_from_bytes, weighted_op, ByteChoices, Choices};
pub use input::{connect_target, Input};
pub use op::{Op, FIXED_CODES, GAMES, HTTP_REQUESTS, IPS};
pub use op_runner::{host_report, OpRunner};
pub use virtual_host::{ConnState, RuleBreak, VirtualHost, MAX_TICKS_PER_ADVANCE};
