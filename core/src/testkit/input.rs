//! A resolved operation: a concrete input for one client (by index), the network or the
//! clock. [`super::Workload`] delivers it to a [`super::VirtualHost`]; the swarm writes it
//! as a scenario command line.

use std::time::Duration;

/// What happens next, concretely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Client `client` (the next index) opens a connection.
    Connect {
        /// Client index (connections are numbered in opening order).
        client: usize,
        /// Source address.
        ip: &'static str,
        /// Connect with `?reconnection_token=true`.
        opt_in: bool,
        /// Connect on `/v3/ws`.
        v3: bool,
    },
    /// A text frame.
    Text {
        /// Client index.
        client: usize,
        /// The frame's text.
        text: String,
    },
    /// A binary frame holding the MessagePack map `{"seq": seq}`.
    MsgPackSeq {
        /// Client index.
        client: usize,
        /// Sequence number.
        seq: u64,
    },
    /// A binary frame of raw bytes.
    Binary {
        /// Client index.
        client: usize,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A WebSocket Pong frame.
    Pong {
        /// Client index.
        client: usize,
    },
    /// A clean close.
    Close {
        /// Client index.
        client: usize,
    },
    /// A dropped connection.
    Drop {
        /// Client index.
        client: usize,
    },
    /// The client stops reading.
    Stall {
        /// Client index.
        client: usize,
    },
    /// The client's writer backs up.
    Backlog {
        /// Client index.
        client: usize,
    },
    /// An HTTP request.
    Http {
        /// Method.
        method: &'static str,
        /// Request target.
        target: &'static str,
        /// Seed of the host figures it carries (0: none).
        host: u16,
    },
    /// Time passes.
    Advance(Duration),
    /// Jump to the next deadline.
    AdvanceNext,
}

impl Input {
    /// The client this input comes from, if any.
    pub fn client(&self) -> Option<usize> {
        match self {
            Input::Connect { client, .. }
            | Input::Text { client, .. }
            | Input::MsgPackSeq { client, .. }
            | Input::Binary { client, .. }
            | Input::Pong { client }
            | Input::Close { client }
            | Input::Drop { client }
            | Input::Stall { client }
            | Input::Backlog { client } => Some(*client),
            Input::Http { .. } | Input::Advance(_) | Input::AdvanceNext => None,
        }
    }
}

/// The upgrade target of a connection: `/v2/ws` or `/v3/ws`, opted in to reconnection
/// tokens or not.
pub fn connect_target(opt_in: bool, v3: bool) -> &'static str {
    match (v3, opt_in) {
        (false, false) => "/v2/ws",
        (false, true) => "/v2/ws?reconnection_token=true",
        (true, false) => "/v3/ws",
        (true, true) => "/v3/ws?reconnection_token=true",
    }
}
