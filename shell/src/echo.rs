//! [`EchoServer`]: the server's WebSocket transport with the engine replaced by "send
//! every message back", for testing the transport alone against a conformance suite
//! (the Autobahn|Testsuite: `shell/autobahn/run.sh`).
//!
//! Everything but the engine is the production code: the listener and its socket
//! options, the request-head reading and its limits, the upgrade checks, the frame
//! decoder and encoder, the reader (inbox credit, the budget for unfinished messages,
//! pongs, the answer to a client's close, the close codes for violations), the outbox
//! and the writer (batches, the close handshake, lingering). The echo task takes the
//! engine's place on the other end of the driver's inbox: each text or binary message
//! goes back, unchanged, into its connection's outbox; each connection's end is
//! forgotten. What the engine alone enforces (authentication, rate and per-IP limits,
//! the liveness timeout, the soft message-size limit) does not exist here.
//!
//! ```no_run
//! use signal_fish_server::echo::EchoServer;
//! use signal_fish_server::Config;
//!
//! let server = EchoServer::bind(Config::default(), "127.0.0.1:0".parse().unwrap())
//!     .unwrap()
//!     .with_max_message_bytes(16 << 20);
//! println!("ws://{}/v2/ws echoes", server.local_addr());
//! smol::block_on(server.run());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_net::TcpListener;
use bytes::Bytes;
use signal_fish_core::{Config, ConnId, Outbound};
use smol::channel::Receiver;
use smol::future::FutureExt as _;
use smol::Timer;

use crate::driver::inbox::{Inbound, Received};
use crate::driver::outbox::{Outbox, Push};
use crate::driver::shared::Shared;
use crate::driver::SHUTDOWN_GRACE;
use crate::http::simple_response;
use crate::limits::TransportLimits;
use crate::listener::Front;
use crate::server::{bind_listener, run_transport, ServerError, ShutdownHandle};
use crate::sync::latch::Latch;

/// How often the echo task looks whether every connection is gone while shutting down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(20);
/// The close for a connection whose outbound queue is full: the engine's for a slow
/// consumer.
const QUEUE_FULL: (u16, &str) = (1008, "slow consumer");
/// The close every connection gets at shutdown, as from the engine.
const SHUTTING_DOWN: (u16, &str) = (1001, "server shutting down");

/// A bound echo server, ready to [`run`](EchoServer::run): the WebSocket endpoint
/// `/v2/ws` sends every text and binary message back to its sender; any other request
/// is answered `404`. See the module documentation.
pub struct EchoServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    limits: TransportLimits,
    max_message_bytes: usize,
    stopping: Latch,
}

impl fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoServer")
            .field("local_addr", &self.local_addr)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

impl EchoServer {
    /// Validates `config` as [`Server::bind`](crate::Server::bind) does and binds `addr`
    /// (port 0 picks a free port). The transport takes its limits from `config` as the
    /// server does: `websocket.max_outbound_queue_bytes`, `websocket.batch_size` and
    /// `websocket.enable_batching`, `websocket.unfinished_message_budget_bytes`,
    /// `server.max_connections`, `security.trusted_proxies`; the hard cap on a message
    /// is `Config::hard_message_cap` unless [`EchoServer::with_max_message_bytes`] says
    /// otherwise.
    pub fn bind(config: Config, addr: SocketAddr) -> Result<EchoServer, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let (listener, local_addr) = bind_listener(addr)?;
        let limits = TransportLimits::for_config(&config);
        let max_message_bytes = config.hard_message_cap();
        Ok(EchoServer { listener, local_addr, config, limits, max_message_bytes, stopping: Latch::new() })
    }

    /// Replaces the transport limits (default: [`TransportLimits::for_config`]).
    pub fn with_limits(mut self, limits: TransportLimits) -> EchoServer {
        self.limits = limits;
        self
    }

    /// Sets the hard cap on a message, all fragments together (a larger one is refused
    /// with 1009), and with it a connection's share of the inbox. The server's cap is
    /// `Config::hard_message_cap`, at most 1 MiB; a conformance suite sends 16 MiB.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> EchoServer {
        self.max_message_bytes = bytes;
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server: every WebSocket is closed with 1001 after what is
    /// queued for it, and `run` returns within a few seconds.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { stopping: self.stopping.clone() }
    }

    /// Serves until [`ShutdownHandle::shutdown`] is called and the shutdown completed,
    /// on its own smol executor, as [`Server::run`](crate::Server::run) does.
    pub async fn run(self) {
        let EchoServer { listener, config, limits, max_message_bytes, stopping, .. } = self;
        run_transport(listener, Front::Plain, None, &config, &limits, max_message_bytes, stopping, echo)
            .await;
    }
}

/// The echo task: the engine's place at the other end of the inbox.
async fn echo(inbox: Receiver<Inbound>, shared: Arc<Shared>) {
    let mut echo = Echo { conns: HashMap::new(), stopping: false };
    loop {
        let next = async { inbox.recv().await.ok() }
            .or(async {
                shared.stopping.wait().await;
                None
            })
            .await;
        match next {
            Some(message) => echo.handle(message),
            None => break,
        }
    }
    // Shutting down: close every connection, keep serving the inbox until they are gone.
    echo.stopping = true;
    for (_, outbox) in echo.conns.drain() {
        outbox.close(SHUTTING_DOWN.0, SHUTTING_DOWN.1);
    }
    let deadline = std::time::Instant::now() + SHUTDOWN_GRACE;
    while shared.live_connections() > 0 && std::time::Instant::now() < deadline {
        let next = async { inbox.recv().await.ok() }
            .or(async {
                Timer::after(SHUTDOWN_POLL).await;
                None
            })
            .await;
        if let Some(message) = next {
            echo.handle(message);
        }
    }
}

/// The echo task's state: where each open connection's frames go.
struct Echo {
    conns: HashMap<ConnId, Arc<Outbox>>,
    stopping: bool,
}

impl Echo {
    fn handle(&mut self, message: Inbound) {
        match message {
            Inbound::Opened { conn, outbox, .. } => {
                if self.stopping {
                    outbox.close(SHUTTING_DOWN.0, SHUTTING_DOWN.1);
                } else {
                    self.conns.insert(conn, outbox);
                }
            }
            // The credit goes back when the message has been queued, as the driver's
            // does when the engine has processed it.
            Inbound::Received { conn, input, credit: _credit } => match input {
                Received::Text(text) => self.send(conn, Outbound::Text(Bytes::from(text))),
                Received::Binary(data) => self.send(conn, Outbound::Binary(data)),
                // Pongs to pings are the reader's; control frames mean nothing here.
                Received::Ping | Received::Pong => {}
            },
            Inbound::Closed { conn, .. } => {
                self.conns.remove(&conn);
            }
            Inbound::Http { request, reply } => {
                let mut response = if self.stopping {
                    simple_response(503, "Service Unavailable: the server is shutting down")
                } else {
                    simple_response(404, "Not Found: this echo server serves WebSocket upgrades on /v2/ws")
                };
                response.id = request.id;
                let _ = reply.try_send(response);
            }
        }
    }

    fn send(&mut self, conn: ConnId, frame: Outbound) {
        let Some(outbox) = self.conns.get(&conn) else { return };
        if let Push::Full(_) = outbox.push(frame) {
            outbox.close(QUEUE_FULL.0, QUEUE_FULL.1);
            self.conns.remove(&conn);
        }
    }
}
