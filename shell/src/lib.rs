//! # signal-fish-server
//!
//! The Signal Fish signaling and lobby server (protocol v2) on [smol]: one TCP listener
//! serving the WebSocket endpoint `/v2/ws` and the HTTP endpoints (health, JSON and
//! Prometheus metrics), driving the Sans-IO engine of [`signal_fish_core`].
//!
//! One driver task owns the engine and is the only caller of `step`; connection tasks
//! turn socket input into events on a bounded channel; each connection has a writer
//! draining a byte-bounded outbound queue with one flush per batch. The engine's
//! `poll_timeout` is its only timer.
//!
//! What a hostile client can cost is bounded in the transport: request heads in size,
//! time and number waiting ([`TransportLimits`]), frames by the hard cap
//! (`Config::hard_message_cap`, 1009 above it), WebSocket protocol violations by a close
//! (1002, or 1007 for invalid UTF-8), each connection's share of the driver's inbox in
//! messages and bytes, a reader's hold on the executor (it yields every 64 KiB), and
//! what the kernel buffers for a client that stops reading (a fixed send buffer).
//!
//! Embedding in a smol application:
//!
//! ```no_run
//! use signal_fish_server::{Config, Server};
//!
//! smol::block_on(async {
//!     let mut config = Config::default();
//!     config.server.default_max_players = 4;
//!     let server = Server::bind(config, "127.0.0.1:0".parse().unwrap()).expect("bind");
//!     let addr = server.local_addr();
//!     let stop = server.shutdown_handle();
//!     let running = smol::spawn(server.run());
//!     println!("ws://{addr}/v2/ws");
//!     // ... later:
//!     stop.shutdown();
//!     running.await;
//! });
//! ```
//!
//! [`config::load`] reads `config.json` and `SIGNAL_FISH_*` overrides the way the binary
//! does; [`logging::init`] installs the binary's tracing subscriber. [`echo`] runs the
//! same WebSocket transport with an echo in the engine's place, for conformance testing
//! (the Autobahn|Testsuite).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
mod cluster;
mod codec;
#[cfg(feature = "fuzzing")]
pub use codec::fuzzing as frame_fuzzing;
pub mod config;
mod driver;
pub mod echo;
mod forwarding;
mod http;
mod limits;
mod listener;
pub mod logging;
mod recorder;
mod server;
pub mod signals;
mod socket;
mod sync;
mod tls;
mod websocket;

pub use limits::TransportLimits;
pub use server::{Server, ServerError, ShutdownHandle};
pub use signal_fish_core::Config;
