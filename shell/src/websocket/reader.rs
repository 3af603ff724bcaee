//! A connection's reader: socket input to frames to engine events.
//!
//! Reads go through the per-thread buffer (`socket/scratch.rs`), so an idle connection
//! holds no read buffer; the decoder keeps only what an incomplete frame needs. After a
//! read that did not fill the buffer the socket is most likely drained, so the reader
//! waits for readability instead of trying again.

use std::future::poll_fn;
use std::io::{self, Read as _};
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use async_net::TcpStream;
use signal_fish_core::CloseCause;
use smol::Async;

use super::violation::{classify, Violation};
use super::yielding::ReadBudget;
use super::Link;
use crate::codec::{DecodeError, Decoder, Message};
use crate::driver::inbox::{Inbound, Received};
use crate::driver::outbox::CloseStatus;
use crate::driver::shared::Shared;
use crate::limits::credit::InboundCredit;
use crate::socket::scratch::with_scratch;
use crate::sync::notify::Flag;

/// Decoded messages a reader keeps room for between reads (more are freed after use).
const KEEP_MESSAGES: usize = 16;

/// How reading ended.
enum ReadEnd {
    /// The client's close frame, with its status.
    PeerClosed(CloseStatus),
    /// The stream ended without a close frame.
    Ended,
    /// The client broke a transport rule; it gets a close frame saying which.
    Violation(Violation),
    /// Reading failed.
    Failed,
    /// The driver is gone (the server is stopping).
    DriverGone,
    /// The writer ended the connection.
    Stopped,
}

/// The close answering an eviction by the budget for unfinished messages.
const EVICTED: Violation = Violation {
    code: 1013,
    reason: "server busy: too much unfinished message data",
    cause: CloseCause::TransportError,
};

/// Reads frames until the connection ends, then tells the engine and the writer.
pub(super) async fn run(tcp: TcpStream, leftover: Vec<u8>, link: Arc<Link>, shared: Arc<Shared>) {
    let raw: Arc<Async<StdTcpStream>> = tcp.into();
    let end = read_loop(&raw, leftover, &link, &shared).await;
    shared.unfinished.hold(link.conn, 0, &link.evicted);
    let input_closed = matches!(end, ReadEnd::PeerClosed(_) | ReadEnd::Ended | ReadEnd::Failed);
    link.input_closed.store(input_closed, Ordering::Release);
    link.reader_done.set();
    match end {
        ReadEnd::PeerClosed(status) => {
            link.notify_closed(&shared, CloseCause::ClientClosed).await;
            link.outbox.answer_close(status);
        }
        ReadEnd::Violation(violation) => {
            link.notify_closed(&shared, violation.cause).await;
            link.outbox.close(violation.code, violation.reason);
        }
        ReadEnd::Ended | ReadEnd::Failed => {
            link.notify_closed(&shared, CloseCause::TransportError).await;
            link.outbox.stop();
        }
        ReadEnd::DriverGone => link.outbox.stop(),
        // The writer tells the engine itself.
        ReadEnd::Stopped => {}
    }
}

/// What one read did.
enum Read {
    /// Bytes were read and decoded; whether they filled the scratch buffer, and whether
    /// they were valid.
    Bytes { len: usize, filled: bool, decoded: Result<(), DecodeError> },
    /// The end of the stream.
    End,
}

async fn read_loop(raw: &Async<StdTcpStream>, leftover: Vec<u8>, link: &Link, shared: &Shared) -> ReadEnd {
    let mut decoder = Decoder::new(shared.max_inbound_bytes);
    let credit = InboundCredit::new(shared.max_inbound_bytes);
    let mut budget = ReadBudget::default();
    let mut messages = Vec::new();
    // Bytes that came with the request head are the first frames. Without them the
    // client is most likely still reading our 101: wait rather than read into EAGAIN.
    let mut fault = decoder.feed(&leftover, &mut messages).err();
    let mut wait = leftover.is_empty();
    drop(leftover);
    let mut held = 0;
    loop {
        if decoder.held() != held {
            held = decoder.held();
            if shared.unfinished.hold(link.conn, held, &link.evicted) > 0 {
                shared.counters.unfinished_evicted();
            }
        }
        if link.evicted.is_set() {
            return ReadEnd::Violation(EVICTED);
        }
        for message in messages.drain(..) {
            if let Some(end) = deliver(message, link, shared, &credit).await {
                return end;
            }
        }
        if messages.capacity() > KEEP_MESSAGES {
            messages = Vec::new();
        }
        if let Some(error) = fault {
            // Let the engine answer the messages before the fault first: once the close
            // is requested, the outbox takes no more frames.
            credit.drained().await;
            return ReadEnd::Violation(classify(error));
        }
        if wait {
            budget.waited();
            match readable(raw, &link.stop, &link.evicted).await {
                Some(Ok(())) => {}
                Some(Err(_)) => return ReadEnd::Failed,
                None if link.evicted.is_set() => return ReadEnd::Violation(EVICTED),
                None => return ReadEnd::Stopped,
            }
        }
        match read_now(raw, &mut decoder, &mut messages) {
            Ok(Read::Bytes { len, filled, decoded }) => {
                fault = decoded.err();
                wait = !filled;
                budget.spend(len).await;
            }
            Ok(Read::End) => return ReadEnd::Ended,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => wait = false,
            Err(_) => return ReadEnd::Failed,
        }
    }
}

/// Waits until the socket is readable (`Some`), or the writer stops the reader or the
/// budget for unfinished messages evicts it (`None`).
async fn readable(raw: &Async<StdTcpStream>, stop: &Flag, evicted: &Flag) -> Option<io::Result<()>> {
    poll_fn(|cx| {
        if stop.poll_set(cx).is_ready() || evicted.poll_set(cx).is_ready() {
            return Poll::Ready(None);
        }
        raw.poll_readable(cx).map(Some)
    })
    .await
}

/// Reads what the socket has (without waiting) through the scratch buffer and decodes it.
fn read_now(raw: &Async<StdTcpStream>, decoder: &mut Decoder, out: &mut Vec<Message>) -> io::Result<Read> {
    with_scratch(|scratch| {
        let len = raw.get_ref().read(scratch)?;
        if len == 0 {
            return Ok(Read::End);
        }
        let decoded = decoder.feed(&scratch[..len], out);
        Ok(Read::Bytes { len, filled: len == scratch.len(), decoded })
    })
}

/// Hands one message to the engine (or answers it); `Some` when reading ends here.
async fn deliver(
    message: Message,
    link: &Link,
    shared: &Shared,
    credit: &Arc<InboundCredit>,
) -> Option<ReadEnd> {
    let conn = link.conn;
    let (input, bytes) = match message {
        Message::Text(text) => {
            shared.counters.read(text.len());
            let bytes = text.len();
            (Received::Text(text), bytes)
        }
        Message::Binary(data) => {
            shared.counters.read(data.len());
            let bytes = data.len();
            (Received::Binary(data), bytes)
        }
        Message::Ping(payload) => {
            link.outbox.pong(payload);
            // For the engine, a ping is a sign of life.
            (Received::Ping, 0)
        }
        Message::Pong => (Received::Pong, 0),
        Message::Close(close) => return Some(ReadEnd::PeerClosed(close.map(|c| (c.code, c.reason)))),
    };
    // After the engine closed the connection only the client's close reply matters.
    if link.outbox.is_closing() {
        return None;
    }
    // Wait for this connection's turn: a flood must not fill the inbox (limits/credit.rs).
    let credit = credit.acquire(bytes).await;
    if shared.inbox.send(Inbound::Received { conn, input, credit }).await.is_err() {
        return Some(ReadEnd::DriverGone);
    }
    None
}
