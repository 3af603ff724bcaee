//! Writing a whole buffer (a response, the `101`) within a time limit, so a client that
//! does not read cannot hold a task forever. Almost always the socket takes everything
//! at once; then no timer is set up at all.

use std::time::Duration;

use async_net::TcpStream;
use smol::future::{poll_once, FutureExt as _};
use smol::io::AsyncWriteExt as _;
use smol::Timer;

/// Writes all of `bytes` to `tcp`; false if the socket failed or `limit` passed first.
pub(crate) async fn write_within(tcp: &mut TcpStream, bytes: &[u8], limit: Duration) -> bool {
    let written = match poll_once(tcp.write(bytes)).await {
        Some(Ok(n)) => n,
        Some(Err(_)) => return false,
        // The socket is full: wait for it below.
        None => 0,
    };
    let rest = &bytes[written..];
    if rest.is_empty() {
        return true;
    }
    let write = async { tcp.write_all(rest).await.is_ok() };
    write
        .or(async {
            Timer::after(limit).await;
            false
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn writes_everything_or_gives_up_in_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut server = TcpStream::try_from(server).unwrap();
        smol::block_on(async {
            assert!(write_within(&mut server, b"hello", Duration::from_secs(5)).await);
            // A client that never reads: the kernel buffers fill and the limit ends it.
            let big = vec![0u8; 64 << 20];
            assert!(!write_within(&mut server, &big, Duration::from_millis(200)).await);
        });
        let mut first = [0u8; 5];
        (&client).read_exact(&mut first).unwrap();
        assert_eq!(&first, b"hello");
    }
}
