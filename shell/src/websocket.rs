//! A WebSocket connection: the upgrade handshake on `/v2/ws`, then a reader (frames to
//! the driver) and a writer (outbox to the socket) running side by side.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_net::TcpStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_util::SinkExt as _;
use signal_fish_core::{CloseCause, ConnId, Event, Frame};
use smol::future::FutureExt as _;
use smol::io::AsyncWriteExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use crate::credit::InboundCredit;
use crate::driver::Inbound;
use crate::http::{encode_response, simple_response, RequestHead};
use crate::latch::Latch;
use crate::linger::linger;
use crate::outbox::{Next, Outbox};
use crate::shared::Shared;
use crate::violation::{classify, Violation};
use crate::yielding::Yielding;

/// The WebSocket endpoint.
pub(crate) const PATH: &str = "/v2/ws";
/// Time allowed for writing the `101` response.
const HANDSHAKE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After our close frame, how long we wait for the client's.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);
/// After a close was requested, how long the connection may take to finish writing
/// (a client that does not read cannot hold a task forever).
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Whether a request head asks for the WebSocket endpoint. Anything else, including a
/// plain `GET /v2/ws`, is answered by the engine.
pub(crate) fn is_upgrade(head: &RequestHead) -> bool {
    head.path() == PATH && head.method == "GET" && head.header_has_token("upgrade", "websocket")
}

/// Completes the upgrade and runs the connection until it ends.
pub(crate) async fn serve(
    mut tcp: TcpStream,
    peer: SocketAddr,
    head: RequestHead,
    leftover: Vec<u8>,
    shared: Arc<Shared>,
) {
    let Some(key) = head.header("sec-websocket-key").map(str::trim).filter(|k| !k.is_empty()) else {
        let response = simple_response(400, "Bad Request: Sec-WebSocket-Key header missing");
        if write_with_timeout(&mut tcp, &encode_response(&response, false, false)).await {
            linger(&mut tcp).await;
        }
        return;
    };
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        let mut response = simple_response(426, "Upgrade Required: WebSocket version 13 only");
        response.headers.push(("sec-websocket-version".to_owned(), "13".to_owned()));
        if write_with_timeout(&mut tcp, &encode_response(&response, false, false)).await {
            linger(&mut tcp).await;
        }
        return;
    }
    let accept = derive_accept_key(key.as_bytes());
    let switching = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    );
    if !write_with_timeout(&mut tcp, switching.as_bytes()).await {
        return;
    }
    let socket = Yielding::new(tcp.clone());
    let ws =
        WebSocketStream::from_partially_read(socket, leftover, Role::Server, Some(shared.ws_config)).await;
    let conn = shared.new_conn_id();
    let outbox = Arc::new(Outbox::new(shared.max_queue_bytes, shared.counters.clone()));
    let opened = Inbound::Opened {
        conn,
        peer_ip: peer.ip().to_canonical(),
        target: head.target,
        outbox: outbox.clone(),
    };
    if shared.inbox.send(opened).await.is_err() {
        return;
    }
    run(ws, tcp, conn, &outbox, &shared).await;
}

/// How the writer finished.
enum WriterEnd {
    /// A close frame went out; whether the client's close reply (or the end of its
    /// input) was seen.
    CloseSent { reply_seen: bool },
    /// The transport is gone (the reader saw the end).
    Stopped,
    /// Writing failed, or the close grace period ran out.
    Failed,
}

/// How the reader finished.
enum ReadEnd {
    PeerClosed,
    /// The client broke a transport rule; it gets a close frame saying which.
    Violation(Violation),
    Failed,
    DriverGone,
}

async fn run(
    ws: WebSocketStream<Yielding<TcpStream>>,
    mut tcp: TcpStream,
    conn: ConnId,
    outbox: &Outbox,
    shared: &Shared,
) {
    let (mut sink, mut source) = ws.split();
    let reader_done = Latch::new();
    let peer_closed = AtomicBool::new(false);
    let notified = AtomicBool::new(false);
    let notify = |cause: CloseCause| notify_closed(shared, &notified, conn, cause);

    let write_side = write_loop(&mut sink, outbox, shared.batch_size, &reader_done, &peer_closed);
    let read_side = async {
        let end = read_loop(&mut source, conn, shared, outbox).await;
        peer_closed.store(matches!(end, ReadEnd::PeerClosed), Ordering::Release);
        reader_done.set();
        match end {
            ReadEnd::Violation(violation) => {
                notify(violation.cause).await;
                outbox.close(violation.code, violation.reason);
            }
            ReadEnd::PeerClosed => {
                notify(CloseCause::ClientClosed).await;
                outbox.stop();
            }
            ReadEnd::Failed => {
                notify(CloseCause::TransportError).await;
                outbox.stop();
            }
            ReadEnd::DriverGone => outbox.stop(),
        }
        // The writer decides when the connection is over.
        smol::future::pending::<WriterEnd>().await
    };
    let grace = async {
        outbox.closing().await;
        Timer::after(CLOSE_GRACE).await;
        WriterEnd::Failed
    };
    let end = write_side.or(read_side).or(grace).await;
    // The engine must hear about every end it did not ask for; it ignores the rest.
    notify(CloseCause::TransportError).await;
    outbox.stop();
    drop((sink, source));
    // The handshake is complete when the client answered: the server closes TCP first
    // (RFC 6455 §7.1.1). Otherwise unread input could turn our close into a reset.
    if let WriterEnd::CloseSent { reply_seen: false } = end {
        linger(&mut tcp).await;
    }
}

/// Tells the driver the connection ended, once.
async fn notify_closed(shared: &Shared, notified: &AtomicBool, conn: ConnId, cause: CloseCause) {
    if !notified.swap(true, Ordering::AcqRel) {
        let _ = shared.inbox.send(Inbound::Event(Event::Closed { conn, cause }, None)).await;
    }
}

async fn read_loop(
    source: &mut WebSocketReceiver<Yielding<TcpStream>>,
    conn: ConnId,
    shared: &Shared,
    outbox: &Outbox,
) -> ReadEnd {
    let mut saw_close = false;
    let credit = InboundCredit::new(shared.max_inbound_bytes);
    loop {
        let Some(item) = source.next().await else { return ReadEnd::PeerClosed };
        let event = match item {
            Ok(Message::Text(text)) => {
                shared.counters.read(text.len());
                Event::Text { conn, text: text.as_str().to_owned() }
            }
            Ok(Message::Binary(data)) => {
                shared.counters.read(data.len());
                Event::Binary { conn, data }
            }
            Ok(Message::Pong(_)) => Event::PongFrame { conn },
            // tungstenite answers pings itself; the engine only counts them as liveness.
            Ok(Message::Ping(_)) => Event::PingFrame { conn },
            // tungstenite answers close frames itself.
            Ok(Message::Close(_)) => {
                saw_close = true;
                continue;
            }
            Ok(Message::Frame(_)) => continue,
            Err(_) if saw_close => return ReadEnd::PeerClosed,
            Err(error) => return classify(&error).map_or(ReadEnd::Failed, ReadEnd::Violation),
        };
        // After the engine closed the connection only the client's close reply matters.
        if outbox.is_closing() {
            continue;
        }
        let bytes = match &event {
            Event::Text { text, .. } => text.len(),
            Event::Binary { data, .. } => data.len(),
            _ => 0,
        };
        // Wait for this connection's turn: a flood must not fill the inbox (credit.rs).
        let credit = credit.acquire(bytes).await;
        if shared.inbox.send(Inbound::Event(event, Some(credit))).await.is_err() {
            return ReadEnd::DriverGone;
        }
    }
}

async fn write_loop(
    sink: &mut WebSocketSender<Yielding<TcpStream>>,
    outbox: &Outbox,
    batch: usize,
    reader_done: &Latch,
    peer_closed: &AtomicBool,
) -> WriterEnd {
    let mut frames = Vec::with_capacity(batch);
    loop {
        match outbox.next(batch, &mut frames).await {
            Next::Frames(bytes) => {
                let written = write_batch(sink, &mut frames).await;
                outbox.taken_done(bytes, written.is_ok());
                if written.is_err() {
                    return WriterEnd::Failed;
                }
            }
            Next::Close(code, reason) => {
                let frame = CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) };
                if sink.send(Message::Close(Some(frame))).await.is_err() {
                    return WriterEnd::Failed;
                }
                reader_done.wait().or(sleep(CLOSE_REPLY_WAIT)).await;
                return WriterEnd::CloseSent { reply_seen: peer_closed.load(Ordering::Acquire) };
            }
            Next::Stopped => return WriterEnd::Stopped,
        }
    }
}

/// Queues every frame in tungstenite's write buffer, then flushes once: one write
/// system call for the whole batch when it fits the socket buffer (DECISIONS D20).
async fn write_batch(
    sink: &mut WebSocketSender<Yielding<TcpStream>>,
    frames: &mut Vec<Frame>,
) -> Result<(), WsError> {
    for frame in frames.drain(..) {
        let message = match frame {
            // The engine only builds text frames from serialised JSON, so this never fails.
            Frame::Text(bytes) => {
                Message::Text(Utf8Bytes::try_from(bytes).map_err(|e| WsError::Utf8(e.to_string()))?)
            }
            Frame::Binary(bytes) => Message::Binary(bytes),
        };
        sink.feed(message).await?;
    }
    sink.flush().await
}

async fn write_with_timeout(tcp: &mut TcpStream, bytes: &[u8]) -> bool {
    let write = async { tcp.write_all(bytes).await.is_ok() && tcp.flush().await.is_ok() };
    write
        .or(async {
            Timer::after(HANDSHAKE_WRITE_TIMEOUT).await;
            false
        })
        .await
}

async fn sleep(duration: Duration) {
    Timer::after(duration).await;
}
