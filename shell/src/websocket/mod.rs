//! A WebSocket connection: the upgrade handshake on `/v2/ws`, then two tasks on the TCP
//! stream that share no lock and no waker: a reader (frames to the driver, see
//! `reader.rs`) and a writer (outbox to the socket, see `writer.rs`). The framing itself
//! is in `codec`. The reader's close codes for protocol faults are in `violation.rs`,
//! and how often it yields to other tasks in `yielding.rs`.

mod reader;
mod violation;
mod writer;
mod yielding;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_net::TcpStream;
use signal_fish_core::{CloseCause, ConnId, Endpoint};
use tungstenite::handshake::derive_accept_key;

use crate::driver::inbox::Inbound;
use crate::driver::outbox::Outbox;
use crate::driver::shared::{LiveGuard, Shared};
use crate::http::{check_upgrade, encode_response, simple_response, RequestHead, UpgradeRefusal};
use crate::socket::deadline_write::write_within;
use crate::socket::linger::linger;
use crate::sync::notify::Flag;

/// The WebSocket endpoints: protocol v2's, and v3's, which differ only in the version a
/// client gets when its `Authenticate` names none (PROTOCOL §12.1).
pub(crate) const PATHS: [&str; 2] = ["/v2/ws", "/v3/ws"];
/// Time allowed for writing the `101` response.
const HANDSHAKE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a request head asks for a WebSocket on `endpoint`: `/v2/ws` or `/v3/ws` on
/// the main port, any path (a room) on the mesh port. Anything else, including a plain
/// `GET /v2/ws`, is answered by the engine.
pub(crate) fn is_upgrade(head: &RequestHead, endpoint: Endpoint) -> bool {
    let path_ok = match endpoint {
        Endpoint::V2 => PATHS.contains(&head.path()),
        Endpoint::Mesh => true,
    };
    path_ok && head.method == "GET" && head.header_has_token("upgrade", "websocket")
}

/// What the reader and the writer of one connection share.
#[derive(Debug)]
struct Link {
    conn: ConnId,
    outbox: Arc<Outbox>,
    /// Set when the reader stopped reading frames, for whatever reason (awaited by the
    /// writer).
    reader_done: Flag,
    /// Whether the client's input ended in order: its close frame, or the end of the
    /// stream (so closing our side cannot reset unread input).
    input_closed: AtomicBool,
    /// Whether the engine was told the connection ended.
    notified: AtomicBool,
    /// Set by the writer once the connection is over: the reader stops waiting for input
    /// (awaited by the reader).
    stop: Flag,
    /// Set when the server-wide budget for unfinished messages evicts this connection
    /// (awaited by the reader).
    evicted: Arc<Flag>,
}

impl Link {
    /// Tells the driver the connection ended, once.
    async fn notify_closed(&self, shared: &Shared, cause: CloseCause) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            let _ = shared.inbox.send(Inbound::Closed { conn: self.conn, cause }).await;
        }
    }
}

/// Completes the upgrade (or refuses a handshake RFC 6455 refuses), tells the driver,
/// and starts the connection's reader and writer tasks (the caller's task ends: its
/// request-reading state is freed). `client_ip` is the TCP peer, or the client a trusted
/// proxy named (`forwarding`).
pub(crate) async fn serve(
    mut tcp: TcpStream,
    client_ip: IpAddr,
    mut head: RequestHead,
    leftover: Vec<u8>,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    live: LiveGuard,
) {
    let accept = match check_upgrade(&head) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err(refusal) => {
            let response = match refusal {
                UpgradeRefusal::BadRequest(reason) => simple_response(400, &format!("Bad Request: {reason}")),
                UpgradeRefusal::VersionRequired => {
                    let mut response = simple_response(426, "Upgrade Required: WebSocket version 13 only");
                    response.headers.push(("sec-websocket-version".to_owned(), "13".to_owned()));
                    response
                }
            };
            if write_with_timeout(&mut tcp, &encode_response(&response, false, false)).await {
                linger(&mut tcp).await;
            }
            return;
        }
    };
    let switching = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    );
    if !write_with_timeout(&mut tcp, switching.as_bytes()).await {
        return;
    }
    // The rest of the head is not needed any more.
    let target = std::mem::take(&mut head.target);
    drop(head);
    let conn = shared.new_conn_id();
    let outbox = Arc::new(Outbox::new(shared.max_queue_bytes, shared.counters.clone()));
    let opened = Inbound::Opened { conn, peer_ip: client_ip, target, endpoint, outbox: outbox.clone() };
    if shared.inbox.send(opened).await.is_err() {
        return;
    }
    let link = Arc::new(Link {
        conn,
        outbox,
        reader_done: Flag::default(),
        input_closed: AtomicBool::new(false),
        notified: AtomicBool::new(false),
        stop: Flag::default(),
        evicted: Arc::default(),
    });
    let reader = shared.spawn(reader::run(tcp.clone(), leftover, link.clone(), shared.clone()));
    let Some(reader) = reader else { return };
    if let Some(writer) = shared.spawn(writer::run(tcp, link, reader, shared.clone(), live)) {
        writer.detach();
    }
}

async fn write_with_timeout(tcp: &mut TcpStream, bytes: &[u8]) -> bool {
    write_within(tcp, bytes, HANDSHAKE_WRITE_TIMEOUT).await
}
