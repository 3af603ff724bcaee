//! Scenario transcripts: the `.scn` format (see `scenarios/README.md`), its parser,
//! captures, rendering, the layout of long expected lines, diffs and the runner.

pub mod capture;
pub mod command;
pub mod diff;
pub mod layout;
pub mod parse;
pub mod render;
pub mod runner;

pub use command::Command;
pub use parse::{Header, Scenario, Stanza};
pub use runner::{collect, run_file, run_on, Outcome, Status, Transcript};
