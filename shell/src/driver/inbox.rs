//! What connection tasks tell the task that owns the engine (the driver, or `echo`'s
//! stand-in): one variant per message, each carrying exactly what it needs.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use signal_fish_core::http::{HttpRequest, HttpResponse};
use signal_fish_core::{CloseCause, ConnId, Endpoint, Event};
use smol::channel::Sender;

use super::outbox::Outbox;
use crate::limits::credit::Credit;

/// See the module documentation.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A WebSocket upgrade completed.
    Opened {
        /// The new connection's id.
        conn: ConnId,
        /// The client's address: the TCP peer, or the client a trusted proxy named.
        peer_ip: IpAddr,
        /// The upgrade's request target.
        target: String,
        /// The port it came in on: `/v2/ws` of the main port, or the mesh port.
        endpoint: Endpoint,
        /// Where frames for it go.
        outbox: Arc<Outbox>,
    },
    /// A message or a control frame from a connection, with the connection's inbox
    /// credit for it (given back once it has been processed).
    Received {
        /// From.
        conn: ConnId,
        /// What.
        input: Received,
        /// The credit the reader acquired for it.
        credit: Credit,
    },
    /// The connection ended without the engine asking for it.
    Closed {
        /// Which.
        conn: ConnId,
        /// Why.
        cause: CloseCause,
    },
    /// A plain HTTP request and where to send the answer.
    Http {
        /// The request.
        request: HttpRequest,
        /// The request task's reply slot.
        reply: Sender<HttpResponse>,
    },
}

/// What a connection's reader received.
#[derive(Debug)]
pub(crate) enum Received {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A WebSocket ping frame (already answered by the transport).
    Ping,
    /// A WebSocket pong frame.
    Pong,
}

impl Received {
    /// The engine event for it.
    pub(crate) fn into_event(self, conn: ConnId) -> Event {
        match self {
            Received::Text(text) => Event::Text { conn, text },
            Received::Binary(data) => Event::Binary { conn, data },
            Received::Ping => Event::PingFrame { conn },
            Received::Pong => Event::PongFrame { conn },
        }
    }
}
