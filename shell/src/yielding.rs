//! A socket wrapper that makes its reader yield to other tasks now and then.
//!
//! smol has no cooperative budget: a read with data ready completes at once, and the
//! WebSocket layer reads frame after frame inside one poll as long as the socket has
//! data. A client sending an endless stream of frames that produce no message (empty
//! continuation frames, say) would keep the server's only executor thread to itself.
//! After [`READ_BUDGET`] bytes read without waiting, [`Yielding`] answers one read with
//! `Pending` (having woken the task), so every other ready task runs first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use smol::io::{AsyncRead, AsyncWrite};

/// Bytes read in a row before the reader yields once.
const READ_BUDGET: usize = 64 * 1024;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Yielding<S> {
    inner: S,
    read_since_yield: usize,
}

impl<S> Yielding<S> {
    pub(crate) fn new(inner: S) -> Yielding<S> {
        Yielding { inner, read_since_yield: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Yielding<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.read_since_yield >= READ_BUDGET {
            self.read_since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(n)) => self.read_since_yield += n,
            // Waiting for data is a yield too.
            Poll::Pending => self.read_since_yield = 0,
            Poll::Ready(Err(_)) => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Yielding<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use smol::io::AsyncReadExt as _;

    use super::*;

    /// Counts how often the task was polled to read everything.
    #[test]
    fn yields_once_per_budget_and_loses_nothing() {
        let data: Vec<u8> = (0..READ_BUDGET * 3).map(|i| i as u8).collect();
        let mut reader = Yielding::new(&data[..]);
        let mut out = Vec::new();
        let mut pendings = 0;
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut buf = [0u8; 4096];
        loop {
            match Pin::new(&mut reader).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => pendings += 1,
            }
        }
        assert_eq!(out, data);
        assert_eq!(pendings, 3);
        // Through an executor, a yield is only a pause.
        let mut again = Vec::new();
        smol::block_on(Yielding::new(&data[..]).read_to_end(&mut again)).unwrap();
        assert_eq!(again, data);
    }
}
