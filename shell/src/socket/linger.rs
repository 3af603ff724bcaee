//! Closing a TCP connection without losing the last bytes written: half-close, then
//! discard the peer's unread input for a moment. Closing a socket with unread input
//! sends a reset, and a reset can destroy data the peer has not read yet (a close
//! frame, an error response).

use std::net::Shutdown;
use std::time::Duration;

use async_net::TcpStream;
use smol::future::FutureExt as _;
use smol::Timer;

use super::scratch::read_with;

/// Longest we keep discarding input.
const LINGER_TIME: Duration = Duration::from_secs(1);
/// Most input we discard.
const LINGER_BYTES: usize = 2 << 20;

/// Half-closes `tcp` and reads until the peer closes, `LINGER_BYTES` were discarded or
/// `LINGER_TIME` passed.
pub(crate) async fn linger(tcp: &mut TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let drain = async {
        let mut total = 0;
        while total < LINGER_BYTES {
            match read_with(tcp, LINGER_BYTES - total, |_| {}).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    drain
        .or(async {
            Timer::after(LINGER_TIME).await;
        })
        .await;
}
