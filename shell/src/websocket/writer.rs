//! A connection's writer: the outbox to the socket, then the end of the connection.
//!
//! Every batch taken from the outbox is encoded into one per-thread buffer and written
//! with one system call (DECISIONS D20): most writes complete at once, so a connection
//! holds no write buffer either; only what the socket did not take is copied out and
//! written when the socket is writable again.
//!
//! A batch holds at most `websocket.batch_size` frames. When more are queued behind it,
//! its write tells the kernel so (`MSG_MORE`, on Linux): the writes of one drain then
//! leave as one TCP segment, and on loopback the receiver is woken once, not per batch.
//! The last write of a drain, a close frame, or the rest of a blocked write pushes
//! everything out.

use std::cell::RefCell;
use std::io;
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_net::TcpStream;
use signal_fish_core::{CloseCause, Outbound};
use smol::future::FutureExt as _;
use smol::io::AsyncWriteExt as _;
use smol::{Async, Task, Timer};

use super::Link;
use crate::codec;
use crate::driver::outbox::Next;
use crate::driver::shared::{LiveGuard, Shared};
use crate::socket::linger::linger;

/// After our close frame, how long we wait for the client's.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);
/// After a close was requested, how long the connection may take to finish writing
/// (a client that does not read cannot hold a task forever).
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Capacity of the per-thread output buffer kept after a write; a larger batch (large
/// frames) gets its memory back.
const KEEP_OUTPUT_BYTES: usize = 256 * 1024;

thread_local! {
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How the writer finished.
enum WriterEnd {
    /// A close frame went out; whether the client's input ended in order after it.
    CloseSent { reply_seen: bool },
    /// The transport is gone (the reader saw the end).
    Stopped,
    /// Writing failed, or the close grace period ran out.
    Failed,
}

/// Writes until the connection ends, then stops the reader and closes the socket. It
/// holds the connection's place among the live ones until then.
pub(super) async fn run(
    mut tcp: TcpStream,
    link: Arc<Link>,
    reader: Task<()>,
    shared: Arc<Shared>,
    live: LiveGuard,
) {
    let _live = live;
    let raw: Arc<Async<StdTcpStream>> = tcp.clone().into();
    let grace = async {
        link.outbox.closing().await;
        Timer::after(CLOSE_GRACE).await;
        WriterEnd::Failed
    };
    let end = write_loop(&raw, &link, shared.batch_size).or(grace).await;
    // The engine must hear about every end it did not ask for; it ignores the rest.
    link.notify_closed(&shared, CloseCause::TransportError).await;
    link.outbox.stop();
    link.stop.set();
    reader.await;
    drop(raw);
    // The handshake is complete when the client answered: the server closes TCP first
    // (RFC 6455 §7.1.1). Otherwise unread input could turn our close into a reset.
    if let WriterEnd::CloseSent { reply_seen: false } = end {
        linger(&mut tcp).await;
    }
}

async fn write_loop(raw: &Async<StdTcpStream>, link: &Link, batch: usize) -> WriterEnd {
    let mut encode = |frame: &Outbound| OUTPUT.with_borrow_mut(|out| codec::data_frame(out, frame));
    loop {
        match link.outbox.next(batch, &mut encode).await {
            Next::Frames { bytes, pongs, more } => {
                // No await since `next` returned: the frames are still in the buffer.
                let rest = OUTPUT.with_borrow_mut(|out| {
                    for payload in &pongs {
                        codec::pong(out, payload);
                    }
                    write_now(raw, out, more)
                });
                let written = match rest {
                    Ok(None) => true,
                    Ok(Some(rest)) => (&*raw).write_all(&rest).await.is_ok(),
                    Err(_) => false,
                };
                link.outbox.taken_done(bytes, written);
                if !written {
                    return WriterEnd::Failed;
                }
            }
            Next::Close { status, answer } => {
                let mut frame = Vec::new();
                codec::close(&mut frame, status.as_ref().map(|(code, reason)| (*code, reason.as_str())));
                if (&*raw).write_all(&frame).await.is_err() {
                    return WriterEnd::Failed;
                }
                // An answer ends the handshake the client started; ours waits for its reply.
                if !answer {
                    link.reader_done
                        .wait()
                        .or(async {
                            Timer::after(CLOSE_REPLY_WAIT).await;
                        })
                        .await;
                }
                return WriterEnd::CloseSent { reply_seen: link.input_closed.load(Ordering::Acquire) };
            }
            Next::Stopped => return WriterEnd::Stopped,
        }
    }
}

/// Writes `out` without waiting and empties it; with `more`, the kernel may hold it
/// back for the next write. Returns what the socket did not take (to be written once it
/// is writable), or the error.
fn write_now(raw: &Async<StdTcpStream>, out: &mut Vec<u8>, more: bool) -> io::Result<Option<Vec<u8>>> {
    let mut written = 0;
    let result = loop {
        if written == out.len() {
            break Ok(None);
        }
        match send(raw.get_ref(), &out[written..], more) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(Some(out[written..].to_vec())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    out.clear();
    if out.capacity() > KEEP_OUTPUT_BYTES {
        out.shrink_to(KEEP_OUTPUT_BYTES / 4);
    }
    result
}

/// One `send`: with `more`, flagged `MSG_MORE` where the platform has it.
#[cfg(target_os = "linux")]
fn send(stream: &StdTcpStream, bytes: &[u8], more: bool) -> io::Result<usize> {
    let flags = if more { libc::MSG_MORE | libc::MSG_NOSIGNAL } else { libc::MSG_NOSIGNAL };
    socket2::SockRef::from(stream).send_with_flags(bytes, flags)
}

/// One `send`: with `more`, flagged `MSG_MORE` where the platform has it.
#[cfg(not(target_os = "linux"))]
fn send(mut stream: &StdTcpStream, bytes: &[u8], _more: bool) -> io::Result<usize> {
    use std::io::Write as _;
    stream.write(bytes)
}
