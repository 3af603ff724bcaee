//! What a scenario can observe: frames and closes per named connection, HTTP replies,
//! wake-ups and state summaries.

use std::time::Duration;

use signal_fish_core::http::HttpResponse;
use signal_fish_core::Outbound;

/// One observable outcome, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A WebSocket message the server sent to a connection.
    Message {
        /// Connection name.
        conn: String,
        /// The message.
        message: Outbound,
    },
    /// The server closed a connection with a close frame.
    Closed {
        /// Connection name.
        conn: String,
        /// WebSocket close code.
        code: u16,
        /// Close reason text.
        reason: String,
    },
    /// The reply to an `http` command.
    Http {
        /// The request method (a `HEAD` reply has no body on the wire).
        method: String,
        /// The response.
        response: HttpResponse,
    },
    /// A timer fired at this virtual time (since the start); what follows until the next
    /// wake-up was caused by it.
    Wake {
        /// Virtual time since the start of the simulation.
        at: Duration,
    },
    /// The reply to a `state` command.
    State(String),
    /// An input was delivered; what follows until the next wake-up was caused by it.
    Input,
}

impl Observation {
    /// Whether this only marks where effects begin (a wake-up or an input).
    pub fn is_marker(&self) -> bool {
        matches!(self, Observation::Wake { .. } | Observation::Input)
    }
}
