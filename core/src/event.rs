//! What the outside world tells the engine.

use core::net::IpAddr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cluster::{DirectoryAnswer, DirectoryQuery, DirectoryUpdate, NodeId, NodeMessage};
use crate::http::HttpRequest;

/// A connection's id, chosen by the caller (the shell or the simulator). Never reused
/// while the engine still knows the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Why a connection ended, as seen by the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseCause {
    /// The client sent a close frame or shut the socket down cleanly.
    ClientClosed,
    /// The socket failed (reset, protocol error, write failure).
    TransportError,
    /// The client sent a frame above the transport's hard cap; the shell closed it (1009).
    FrameTooLarge,
}

/// Where a WebSocket connection came in, which decides the protocol it speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// Protocol v2 on `/v2/ws` of the main port (PROTOCOL).
    #[default]
    V2,
    /// The matchbox full-mesh signaling protocol on the mesh port, any path a room
    /// (PROTOCOL §11, DECISIONS D50).
    Mesh,
}

/// One input to [`crate::Engine::step`]. Serialisable: the flight recorder writes every
/// event it steps (`crate::recording`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A WebSocket upgrade completed: on `/v2/ws` of the main port, or on any path of
    /// the matchbox full-mesh port.
    Opened {
        /// The new connection.
        conn: ConnId,
        /// The TCP peer's address (proxy headers are not trusted).
        peer_ip: IpAddr,
        /// The request target, path and query (`/v2/ws?reconnection_token=true`, or a
        /// mesh room such as `/room?next=2`).
        target: String,
        /// Which protocol the connection speaks, from where it came in.
        endpoint: Endpoint,
    },
    /// A text message (reassembled from its frames by the transport).
    Text {
        /// From.
        conn: ConnId,
        /// The message's text.
        text: String,
    },
    /// A binary message (reassembled from its frames by the transport).
    Binary {
        /// From.
        conn: ConnId,
        /// The message's bytes.
        data: Bytes,
    },
    /// A WebSocket-level Pong frame (treated like a JSON `Ping`: answered with `Pong`).
    PongFrame {
        /// From.
        conn: ConnId,
    },
    /// A WebSocket-level Ping frame. The transport answers it; the engine only counts it
    /// as a sign of life (DECISIONS D17).
    PingFrame {
        /// From.
        conn: ConnId,
    },
    /// The connection ended without the engine asking for it.
    Closed {
        /// Which.
        conn: ConnId,
        /// Why.
        cause: CloseCause,
    },
    /// The connection's outbound queue hit its byte bound: the client is not reading.
    /// The engine closes it (1008). `unsent` holds every message the transport had not
    /// written yet, in order (what was queued, then what did not fit); a player that
    /// opted in to reconnection gets them replayed in `Reconnected.missed_events`
    /// (DECISIONS D19).
    Backlogged {
        /// Which.
        conn: ConnId,
        /// Frames never written to the socket, oldest first.
        unsent: Vec<Outbound>,
    },
    /// An HTTP request other than a WebSocket upgrade.
    Http(HttpRequest),
    /// The wake-up time the engine asked for has come (spurious ticks are harmless).
    Tick,
    /// Stop: close every connection with 1001 and refuse new ones.
    Shutdown,
    /// Cluster mode: the directory's answer to the [`Action::Query`] made for `conn`.
    Answer {
        /// The connection it was asked for.
        conn: ConnId,
        /// The answer.
        answer: DirectoryAnswer,
    },
    /// Cluster mode: a message from another node's engine.
    FromNode {
        /// The sender.
        from: NodeId,
        /// The message.
        message: NodeMessage,
    },
    /// Cluster mode: the link to a node can no longer be trusted (it died, its lease ran
    /// out, or its messages were lost); `None` for every node (the carrier itself broke).
    /// Connections handed to or from it are closed.
    NodeLost {
        /// Which node, or all.
        node: Option<NodeId>,
    },
}

/// An outbound WebSocket message (text or binary), shared between recipients without
/// copying. ("Frame" in this repository means only an RFC 6455 frame, the transport's
/// unit; a message may span several.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outbound {
    /// A text message; always valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Outbound {
    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Outbound::Text(b) | Outbound::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            // Text messages are built from serialised JSON only.
            Outbound::Text(b) => std::str::from_utf8(b).ok(),
            Outbound::Binary(_) => None,
        }
    }
}

/// One output of [`crate::Engine::step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Queue a message for a connection.
    Send {
        /// To.
        conn: ConnId,
        /// What.
        message: Outbound,
    },
    /// Flush what is queued for the connection, then close it with this code. The engine
    /// has already forgotten the connection; a later `Closed` for it is ignored.
    Close {
        /// Which.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason text.
        reason: &'static str,
    },
    /// Answer an HTTP request.
    Http(crate::http::HttpResponse),
    /// Cluster mode: ask the room directory; the answer comes back as [`Event::Answer`]
    /// for the same connection. At most one query per connection is outstanding.
    Query {
        /// The connection waiting for the answer.
        conn: ConnId,
        /// The question.
        query: DirectoryQuery,
    },
    /// Cluster mode: tell the room directory (no answer).
    Publish(DirectoryUpdate),
    /// Cluster mode: send a message to another node's engine, in order after the
    /// earlier ones to that node.
    ToNode {
        /// The receiver.
        to: NodeId,
        /// The message.
        message: NodeMessage,
    },
}
