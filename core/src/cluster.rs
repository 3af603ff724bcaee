//! What an engine says to, and hears from, the rest of a cluster (DECISIONS D58).
//!
//! In cluster mode (`cluster.redis_url` set) several engines share one room space. A
//! room lives in exactly one engine, its *owner*. A connection lives on the node its
//! socket reached, its *edge*; when it joins, spectates or reconnects into a room another
//! node owns, the edge hands it over: the owner *adopts* it (its authenticated state and
//! the message that needed the room), and from then on the edge forwards what the client
//! sends and writes what the owner sends back. The owner's engine answers the client
//! exactly as a single server would, so a client cannot tell.
//!
//! The engine never does I/O for this: it asks the room directory with
//! [`crate::Action::Query`] (answered by [`crate::Event::Answer`]), tells it of rooms
//! with [`crate::Action::Publish`], and talks to other nodes with
//! [`crate::Action::ToNode`] / [`crate::Event::FromNode`]. The host supplies the
//! directory and the carrier (Redis in the server, a simulation in tests) and tells the
//! engine when a node can no longer be trusted ([`crate::Event::NodeLost`]). With no
//! cluster configured none of these are ever emitted.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CloseCause, ConnId, Outbound};

/// A node's name in the cluster (`cluster.node_id`, or generated at start).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A question for the room directory, asked on behalf of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryQuery {
    /// Take this code for a new room here, unless a live node already owns it (then name
    /// that node). Atomic: of two nodes claiming one code, exactly one gets it.
    Claim {
        /// The room's game.
        game: String,
        /// The code.
        code: String,
    },
    /// Which live node owns this code, if any.
    FindCode {
        /// The room's game.
        game: String,
        /// The code.
        code: String,
    },
    /// Which live node owns the room with this id, if any (for `Reconnect`).
    FindRoom {
        /// The room's id.
        room_id: Uuid,
    },
}

/// The directory's answer to a [`DirectoryQuery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryAnswer {
    /// This node: a claim that succeeded.
    Here,
    /// Another live node owns it.
    Node(NodeId),
    /// No live node owns it.
    Absent,
    /// The directory could not be reached; the client gets an error, not a wait.
    Unavailable,
}

/// What the directory is told, without an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryUpdate {
    /// A room was created here under a claimed code: record its id too.
    RoomCreated {
        /// Its game.
        game: String,
        /// Its code.
        code: String,
        /// Its id.
        room_id: Uuid,
    },
    /// A room here was removed (or a claim was not used): free its code and id.
    RoomRemoved {
        /// Its game.
        game: String,
        /// Its code.
        code: String,
        /// Its id, when a room was made.
        room_id: Option<Uuid>,
    },
}

/// One message between two nodes' engines. The carrier delivers a link's messages in
/// order, without loss or duplication, or reports the link lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// Edge to owner: take over this connection.
    Adopt {
        /// The connection's id on the edge.
        conn: ConnId,
        /// Its state, opaque to everything but an engine.
        state: HandedOver,
    },
    /// Edge to owner: the client sent or did this.
    Input {
        /// The connection's id on the edge.
        conn: ConnId,
        /// What.
        input: ClientInput,
    },
    /// Owner to edge: do this with the client's socket.
    Output {
        /// The connection's id on the edge.
        conn: ConnId,
        /// What.
        output: ClientOutput,
    },
}

/// A client's input, forwarded from its edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientInput {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A WebSocket Pong frame.
    PongFrame,
    /// A WebSocket Ping frame.
    PingFrame,
    /// The socket ended.
    Closed(CloseCause),
    /// The edge's outbound queue overflowed; these were never written.
    Backlogged(Vec<Outbound>),
}

/// What the owner does with a client's socket, through its edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientOutput {
    /// Queue a message.
    Send(Outbound),
    /// Close with this code and reason (the owner has forgotten the connection).
    Close {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// A connection's state as handed from its edge to a room's owner: its authentication,
/// versions and player id, and the messages that wait for the room (the one that
/// needed it first). Serialised by the engine; hosts carry it unopened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandedOver(pub(crate) serde_json::Value);
