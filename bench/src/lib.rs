//! # signal-fish-bench
//!
//! A load generator and benchmark for any Signal Fish protocol v2 server, over real
//! WebSockets on loopback. Six scenarios ([`scenario`]): `join-storm`, `relay`,
//! `fixed-rate`, `idle` and `soak` speak protocol v2; `mesh` speaks the matchbox
//! signaling protocol (Signal Fish's mesh port, or matchbox's own server). Each prints human-readable lines and one JSON summary line.
//! With a server process id, server CPU time and memory come from `/proc/PID`.
//!
//! Client sockets bind to many 127.N.x.y source addresses, so a server's per-IP
//! connection cap does not have to be raised. Only loopback targets are accepted, and
//! every phase is bounded in time.
//!
//! The tool runs on one thread (pin it with `taskset`): all clients are futures of one
//! task, sharing one monotonic clock for latency.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod clock;
pub mod context;
pub mod error;
pub mod join;
pub mod latency;
pub mod mesh_join;
pub mod mesh_traffic;
pub mod mesh_wire;
pub mod meter;
pub mod net;
mod phase;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod seq;
pub mod syscalls;
pub mod traffic;
pub mod wire;

pub use context::RunContext;
pub use error::BenchError;
pub use report::Summary;
