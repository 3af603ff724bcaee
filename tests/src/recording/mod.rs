//! Reading the flight recorder's files (issue 13) outside the server:
//!
//! * `replay` steps a restored engine through a recording ([`walk`]) and summarises it
//!   ([`replay`]), checks its digests (`--verify`), shows the engine's state at a time
//!   ([`state`], `--until`) or one room's lines ([`room`], `--room`);
//! * `extract` turns one room's window into a scenario ([`extract`]).
//!
//! [`files`] finds and orders the files, [`clock`] shows recorded instants.

pub mod clock;
pub mod extract;
pub mod files;
pub mod replay;
pub mod room;
pub mod state;
pub mod walk;

pub use extract::{extract, ExtractError, ExtractOptions, Extracted};
pub use replay::{replay, ReplayFailure, ReplayOptions};
