//! `LinkError`: every way a Redis operation of this crate can fail, named by what failed.

use std::fmt;

/// An operation of the directory, the carrier or the link failed. Never a panic: every
/// failure of Redis, of the network or of the caller's input comes back as one of these.
///
/// `op` names the operation (`"claim_code"`, `"publish"`, `"connect"`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// Redis could not be reached, the connection broke or an operation timed out. The
    /// connection is dropped; the link reconnects with backoff and answers every request
    /// with this error at once until it is back.
    Unavailable {
        /// The operation that failed.
        op: &'static str,
        /// What the client library said (address, timeout, refused, ...).
        detail: String,
    },
    /// Redis answered with an error (a script error, a wrong key type, ...).
    Redis {
        /// The operation that failed.
        op: &'static str,
        /// The error Redis answered.
        detail: String,
    },
    /// Redis answered something this crate does not expect (a bug or a foreign key).
    Protocol {
        /// The operation that failed.
        op: &'static str,
        /// What came back.
        detail: String,
    },
    /// Another live node holds this node id (its lease key exists with another token).
    NodeIdTaken {
        /// The contested node id.
        node_id: String,
    },
    /// This node's lease is gone (it ran out, or Redis lost it): claims are refused until
    /// the node registers again, and every claim it made must be treated as lost.
    LeaseLost {
        /// The operation that was refused.
        op: &'static str,
    },
    /// PUBLISH reached no subscriber: the target node is not listening (dead, or its
    /// subscription is down).
    NotListening {
        /// The target node.
        node_id: String,
    },
    /// A carrier payload is over the configured bound.
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The bound (`LinkSettings::max_payload`).
        max: usize,
    },
    /// A setting or an argument is invalid (empty node id, zero timeout, ...).
    Invalid {
        /// What is invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The link's request queue is full (`LinkSettings::max_queued_requests`).
    Overloaded {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The link is shutting down or gone; the request was not carried out.
    ShuttingDown,
}

impl LinkError {
    /// Redis is unreachable or the connection broke (a retry after reconnecting may work).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LinkError::Unavailable { .. })
    }

    /// Maps a client-library error: connection, I/O and timeout failures become
    /// `Unavailable` (the connection must be replaced), server error replies `Redis`.
    pub(crate) fn from_redis(op: &'static str, err: &redis::RedisError) -> LinkError {
        if connection_broken(err) {
            LinkError::Unavailable { op, detail: err.to_string() }
        } else {
            LinkError::Redis { op, detail: err.to_string() }
        }
    }

    pub(crate) fn protocol(op: &'static str, detail: impl Into<String>) -> LinkError {
        LinkError::Protocol { op, detail: detail.into() }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> LinkError {
        LinkError::Invalid { what, detail: detail.into() }
    }
}

/// Whether an error leaves the connection unusable (it is then dropped and replaced).
pub(crate) fn connection_broken(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Unavailable { op, detail } => write!(f, "redis unavailable during {op}: {detail}"),
            LinkError::Redis { op, detail } => write!(f, "redis refused {op}: {detail}"),
            LinkError::Protocol { op, detail } => write!(f, "unexpected redis reply to {op}: {detail}"),
            LinkError::NodeIdTaken { node_id } => write!(
                f,
                "node id {node_id:?} is held by another live node (its lease has not run out); \
                 pick another id or wait one lease"
            ),
            LinkError::LeaseLost { op } => {
                write!(
                    f,
                    "{op} refused: this node's lease is gone, its claims are lost until it registers again"
                )
            }
            LinkError::NotListening { node_id } => {
                write!(f, "node {node_id:?} is not listening (no subscriber)")
            }
            LinkError::PayloadTooLarge { size, max } => {
                write!(f, "payload of {size} bytes is over the carrier's bound of {max} bytes")
            }
            LinkError::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            LinkError::Overloaded { capacity } => {
                write!(f, "the redis link's request queue is full ({capacity} requests)")
            }
            LinkError::ShuttingDown => write!(f, "the redis link is shutting down"),
        }
    }
}

impl std::error::Error for LinkError {}
