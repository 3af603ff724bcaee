//! One accepted TCP connection: from a trusted proxy that must send one, read the PROXY
//! protocol header; then read the request head (bounded in size and time), find the
//! client's address (`forwarding`), and either complete a WebSocket upgrade on `/v2/ws`
//! or hand the request to the engine and write its answer. Plain HTTP connections may
//! send several requests (keep-alive).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_net::TcpStream;
use signal_fish_core::http::{HttpRequest, HttpResponse};
use signal_fish_core::Endpoint;
use smol::channel::bounded;
use smol::future::{poll_once, FutureExt as _};
use smol::Timer;

use crate::driver::inbox::Inbound;
use crate::driver::shared::{LiveGuard, Shared};
use crate::forwarding::proxy_protocol;
use crate::http::{
    encode_response, read_head, read_more, simple_response, take_head, HeadError, RequestHead,
};
use crate::socket::deadline_write::write_within;
use crate::socket::linger::linger;
use crate::websocket;

/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time allowed for writing a response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the engine has to answer an HTTP request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served on one keep-alive connection.
const MAX_REQUESTS_PER_CONNECTION: usize = 100;

enum HeadOutcome {
    Head(RequestHead),
    Failed(HeadError),
    TimedOut,
    /// Too many connections were waiting for a head; this one waited longest.
    Evicted,
    Stopping,
}

/// Serves one TCP connection until it closes.
/// `endpoint` says which port it came in on: the main one, or the matchbox full-mesh
/// port, where any path upgrades to a mesh peer.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    live: LiveGuard,
    endpoint: Endpoint,
) {
    let mut stream = stream;
    let mut buf = Vec::new();
    let source = if shared.forwarding.expects_proxy_header(peer.ip().to_canonical()) {
        match read_proxy_header(&mut stream, &mut buf, &shared).await {
            ProxyHeaderOutcome::Header(proxied) => shared.forwarding.proxied(peer.ip(), proxied),
            ProxyHeaderOutcome::Invalid(problem) => {
                shared.forwarding.warn(peer, "refusing a connection from a trusted proxy", &problem);
                let text = format!("Bad Request: {problem}");
                if write_response(&mut stream, &simple_response(400, &text), false, false).await {
                    linger(&mut stream).await;
                }
                return;
            }
            ProxyHeaderOutcome::Gone => return,
        }
    } else {
        shared.forwarding.direct(peer.ip())
    };
    for served in 0..MAX_REQUESTS_PER_CONNECTION {
        // Most clients send their request at once: a head complete without waiting
        // needs no place among the waiting connections and no timer.
        let head = match head_at_once(&mut stream, &mut buf).await {
            Some(outcome) => outcome,
            None => wait_for_head(&mut stream, &mut buf, &shared).await,
        };
        let head = match head {
            HeadOutcome::Head(head) => head,
            HeadOutcome::Failed(HeadError::Closed) | HeadOutcome::Stopping => return,
            HeadOutcome::Evicted => {
                tracing::debug!(%peer, "closing a connection that sent no request head: too many waiting");
                return;
            }
            HeadOutcome::Failed(HeadError::Io(error)) => {
                tracing::debug!(%peer, %error, "reading a request failed");
                return;
            }
            HeadOutcome::Failed(HeadError::TooLarge) => {
                let text = "Request Header Fields Too Large";
                if write_response(&mut stream, &simple_response(431, text), false, false).await {
                    linger(&mut stream).await;
                }
                return;
            }
            HeadOutcome::Failed(HeadError::Malformed(message)) => {
                let text = format!("Bad Request: {message}");
                if write_response(&mut stream, &simple_response(400, &text), false, false).await {
                    linger(&mut stream).await;
                }
                return;
            }
            HeadOutcome::TimedOut => {
                if served > 0 || !buf.is_empty() {
                    let text = "Request Timeout";
                    write_response(&mut stream, &simple_response(408, text), false, false).await;
                }
                return;
            }
        };
        let client_ip = match shared.forwarding.client_address(&head.headers, source) {
            Ok(client_ip) => client_ip,
            Err(error) => {
                shared.forwarding.warn(peer, "refusing a request from a trusted proxy", &error);
                let text = format!("Bad Request: {error}");
                if write_response(&mut stream, &simple_response(400, &text), false, false).await {
                    linger(&mut stream).await;
                }
                return;
            }
        };
        if websocket::is_upgrade(&head, endpoint) {
            let leftover = std::mem::take(&mut buf);
            return websocket::serve(stream, client_ip, head, leftover, endpoint, shared, live).await;
        }
        // Request bodies are never read: answer, then close.
        let unread_body = head.has_body();
        let keep_alive = head.keep_alive() && !unread_body && !shared.stopping.is_set();
        let head_only = head.method == "HEAD";
        let response = answer(&shared, head).await;
        if !write_response(&mut stream, &response, head_only, keep_alive).await {
            return;
        }
        if !keep_alive {
            if unread_body {
                linger(&mut stream).await;
            }
            return;
        }
    }
}

/// The next head if it is complete without waiting: already in `buf` (sent with the
/// previous request), or in what one read returns at once. `None` when it needs a wait.
async fn head_at_once(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<HeadOutcome> {
    let outcome = |taken: Result<Option<RequestHead>, HeadError>| match taken {
        Ok(Some(head)) => Some(HeadOutcome::Head(head)),
        Ok(None) => None,
        Err(error) => Some(HeadOutcome::Failed(error)),
    };
    if let Some(done) = outcome(take_head(buf, MAX_HEAD_BYTES)) {
        return Some(done);
    }
    match poll_once(read_more(stream, buf, MAX_HEAD_BYTES)).await? {
        Ok(()) => outcome(take_head(buf, MAX_HEAD_BYTES)),
        Err(error) => Some(HeadOutcome::Failed(error)),
    }
}

/// Waits for the next head, bounded in time, and in number of connections waiting.
async fn wait_for_head(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> HeadOutcome {
    let pending = shared.pending_heads.enter();
    let read = async {
        match read_head(stream, buf, MAX_HEAD_BYTES).await {
            Ok(head) => HeadOutcome::Head(head),
            Err(e) => HeadOutcome::Failed(e),
        }
    };
    read.or(async {
        Timer::after(shared.head_timeout).await;
        HeadOutcome::TimedOut
    })
    .or(async {
        pending.evicted().await;
        HeadOutcome::Evicted
    })
    .or(async {
        // A connection waiting for a request does not hold up shutdown.
        shared.stopping.wait().await;
        HeadOutcome::Stopping
    })
    .await
}

enum ProxyHeaderOutcome {
    Header(proxy_protocol::ProxiedSource),
    /// Not a PROXY header, or none in time: the connection is refused.
    Invalid(String),
    /// The connection ended, or the server is stopping.
    Gone,
}

/// Reads the PROXY protocol header a trusted proxy sends first, bounded in size
/// (`proxy_protocol`'s limits, well under the head's) and in time (the head timeout).
/// What follows it stays in `buf`.
async fn read_proxy_header(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> ProxyHeaderOutcome {
    let read = async {
        loop {
            match proxy_protocol::parse(buf) {
                Ok(Some((proxied, len))) => {
                    buf.drain(..len);
                    return ProxyHeaderOutcome::Header(proxied);
                }
                Ok(None) => {}
                Err(problem) => return ProxyHeaderOutcome::Invalid(problem),
            }
            if let Err(error) = read_more(stream, buf, MAX_HEAD_BYTES).await {
                tracing::debug!(?error, "connection from a trusted proxy ended before its PROXY header");
                return ProxyHeaderOutcome::Gone;
            }
        }
    };
    read.or(async {
        Timer::after(shared.head_timeout).await;
        ProxyHeaderOutcome::Invalid(format!("no complete PROXY header within {:?}", shared.head_timeout))
    })
    .or(async {
        shared.stopping.wait().await;
        ProxyHeaderOutcome::Gone
    })
    .await
}

/// Asks the engine for the response to a plain HTTP request.
async fn answer(shared: &Shared, head: RequestHead) -> HttpResponse {
    let request = HttpRequest {
        id: shared.new_http_id(),
        method: head.method,
        target: head.target,
        headers: head.headers,
        // Filled in by the driver, which owns these figures.
        host: Default::default(),
    };
    let (reply, response) = bounded(1);
    let unavailable = || simple_response(503, "Service Unavailable: the server is shutting down");
    if shared.inbox.send(Inbound::Http { request, reply }).await.is_err() {
        return unavailable();
    }
    let answered = async { response.recv().await.unwrap_or_else(|_| unavailable()) };
    let timed_out = async {
        Timer::after(ANSWER_TIMEOUT).await;
        simple_response(503, "Service Unavailable: no answer in time")
    };
    answered.or(timed_out).await
}

/// Writes a response; false if the socket failed or was too slow.
async fn write_response(
    stream: &mut TcpStream,
    response: &HttpResponse,
    head_only: bool,
    keep_alive: bool,
) -> bool {
    let bytes = encode_response(response, head_only, keep_alive);
    write_within(stream, &bytes, WRITE_TIMEOUT).await
}
