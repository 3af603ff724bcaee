//! SIGINT and SIGTERM as an async stream (DECISIONS D23). Register early, so a signal
//! during start-up is not the default "terminate at once".

use std::io;

use async_signal::{Signal, Signals};
use smol::stream::StreamExt as _;

/// The termination signals of this process.
#[derive(Debug)]
pub struct Termination {
    signals: Signals,
}

impl Termination {
    /// Takes over SIGINT and SIGTERM.
    pub fn register() -> io::Result<Termination> {
        Ok(Termination { signals: Signals::new([Signal::Int, Signal::Term])? })
    }

    /// Waits for the next one; returns its name.
    pub async fn recv(&mut self) -> Option<&'static str> {
        match self.signals.next().await? {
            Ok(Signal::Int) => Some("SIGINT"),
            Ok(Signal::Term) => Some("SIGTERM"),
            Ok(_) => Some("signal"),
            Err(_) => None,
        }
    }
}
