//! Writing encoded frames to a socket without waiting, through one output buffer per
//! thread (DECISIONS D20): most writes complete at once, so neither a connection nor
//! its writer task holds a write buffer; only what the socket did not take is copied
//! out, to be written once the socket is writable again.
//!
//! Both paths that write a connection's frames use it: its writer task, and the
//! driver's direct flush at the end of a drain (`driver::outbox`), which writes for an
//! idle writer without waking it.

use std::cell::RefCell;
use std::io;
use std::net::TcpStream as StdTcpStream;

/// Capacity of the per-thread output buffer kept after a write; a larger batch (large
/// frames) gets its memory back.
const KEEP_OUTPUT_BYTES: usize = 256 * 1024;

thread_local! {
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's output buffer. `f` must not call `with_output` itself.
pub(crate) fn with_output<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    OUTPUT.with_borrow_mut(f)
}

/// Writes `out` without waiting and empties it; with `more`, the kernel may hold it
/// back for the next write. Returns what the socket did not take (to be written once it
/// is writable), or the error.
pub(crate) fn write_now(socket: &StdTcpStream, out: &mut Vec<u8>, more: bool) -> io::Result<Option<Vec<u8>>> {
    let mut written = 0;
    let result = loop {
        if written == out.len() {
            break Ok(None);
        }
        match send(socket, &out[written..], more) {
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
