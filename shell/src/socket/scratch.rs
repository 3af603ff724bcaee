//! One read buffer per thread, shared by every socket read of the server: the reads of
//! request heads, of WebSocket frames, and the discarding of input before a close.
//!
//! A read only needs a buffer until it returns; what must be kept is copied out (a
//! request head in progress, a frame's payload into its message). So no connection,
//! and no connection task's future, holds a read buffer of its own: an idle connection
//! costs no read buffer at all, and the buffer is zero-filled once per thread rather
//! than per connection or per read.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;

use smol::io::AsyncRead;

/// Size of the buffer: the most one read takes from one socket.
pub(crate) const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// Runs `f` with this thread's buffer. `f` must not call `with_scratch` itself.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with_borrow_mut(|buf| f(buf))
}

/// Reads once from `reader` (waiting until it has data) through the buffer, at most
/// `max` bytes, and hands what was read to `keep`. Returns the number of bytes read; 0
/// is the end of the stream.
pub(crate) async fn read_with<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    mut keep: impl FnMut(&[u8]),
) -> io::Result<usize> {
    poll_fn(|cx| {
        with_scratch(|buf| {
            let room = max.min(buf.len());
            let polled = Pin::new(&mut *reader).poll_read(cx, &mut buf[..room]);
            if let std::task::Poll::Ready(Ok(n)) = polled {
                keep(&buf[..n]);
            }
            polled
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_and_handed_over() {
        let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let mut reader = &data[..];
        let mut kept = Vec::new();
        smol::block_on(async {
            assert_eq!(read_with(&mut reader, 10, |b| kept.extend_from_slice(b)).await.unwrap(), 10);
            loop {
                let n = read_with(&mut reader, usize::MAX, |b| kept.extend_from_slice(b)).await.unwrap();
                assert!(n <= SCRATCH_BYTES);
                if n == 0 {
                    break;
                }
            }
        });
        assert_eq!(kept, data);
    }
}
