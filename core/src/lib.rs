//! # signal-fish-core
//!
//! The Sans-IO engine of Signal Fish, a signaling and lobby server for peer-to-peer
//! games, wire-compatible with protocol v2 of the original Signal Fish Server.
//!
//! The engine is a deterministic state machine: feed it [`Event`]s with the current
//! [`Instant`] and perform the [`Action`]s it returns. It never reads a clock, touches a
//! socket or file, spawns a thread or asks the OS for randomness, so it runs the same in
//! the production server, a simulator, a fuzzer or any other runtime.
//!
//! A host steps the engine for every event, routes the actions with [`host::Host`] (which
//! also handles connections that stop reading), and after every step asks
//! [`Engine::poll_timeout`] when to step [`Event::Tick`]: that is the whole contract.
//!
//! ```
//! use signal_fish_core::{Action, Config, ConnId, Endpoint, Engine, Event, Instant};
//!
//! let mut engine = Engine::new(Config::default(), [0; 32], Instant::ZERO, 1_700_000_000_000);
//! let conn = ConnId(1);
//! let opened = Event::Opened { conn, peer_ip: "127.0.0.1".parse().unwrap(), target: "/v2/ws".into(), endpoint: Endpoint::V2 };
//! engine.step(opened, Instant::ZERO);
//! let join = r#"{"type":"JoinRoom","data":{"game_name":"demo","player_name":"Alice"}}"#;
//! let actions = engine.step(Event::Text { conn, text: join.into() }, Instant::from_micros(1));
//! let Action::Send { message: frame, .. } = &actions[0] else { panic!() };
//! assert!(frame.as_text().unwrap().starts_with(r#"{"type":"RoomJoined""#));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod config;
mod engine;
mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod host;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod recording;
mod rng;
#[cfg(feature = "testkit")]
pub mod testkit;
mod time;
pub mod validation;

pub use config::Config;
pub use engine::{
    close_code, Engine, EngineCheckpoint, InvariantViolation, RestoreError, RoomSummary, CHECKPOINT_FORMAT,
};
pub use event::{Action, CloseCause, ConnId, Endpoint, Event, Outbound};
pub use rng::{EngineRng, ROOM_CODE_ALPHABET};
pub use time::{Instant, UnixMicros};
