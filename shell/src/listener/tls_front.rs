//! Built-in TLS in front of the server's own transport (feature `tls`).
//!
//! The WebSocket transport reads and writes its socket directly, readiness-based and
//! without a lock between a connection's reader and writer (`websocket/`). A TLS
//! session's state is shared by both directions, so instead of a second transport the
//! TLS connection is terminated here and its plaintext handed to the same transport over
//! a loopback connection: the TLS task completes the handshake (bounded like a request
//! head: the head timeout and the cap on connections waiting), connects to the server's
//! private loopback listener, introduces itself with the server's random secret and a
//! handoff number, and then copies bytes both ways. The private listener's side of that
//! connection is served by `connection::serve` with the TLS client's own address and the
//! client's place among the live connections, exactly like a plain connection. Anything
//! else that connects to the private listener without the secret is closed.
//!
//! What this costs (a loopback hop per message) is measured by `signal-fish-bench
//! --tls` and reported in the README's Performance section.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use signal_fish_core::Endpoint;
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::Timer;

use super::{accept_each, connection, listen};
use crate::driver::shared::{LiveGuard, Shared};
use crate::tls::Acceptor;

/// Length of the secret a TLS task proves itself with on the private listener.
const SECRET_LEN: usize = 32;
/// Length of the introduction: the secret, then the handoff number.
const INTRODUCTION_LEN: usize = SECRET_LEN + 8;
/// Time the private listener's side waits for the introduction.
const INTRODUCTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Time the client has to finish after the server's side of a connection ended.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The TLS front of one server.
pub(crate) struct TlsFront {
    acceptor: Acceptor,
    /// Where plaintext enters the server's transport (127.0.0.1, a port chosen at start).
    private: SocketAddr,
    secret: [u8; SECRET_LEN],
    /// Connections on their way to the private listener: their client's address and
    /// place among the live connections, by handoff number.
    handoffs: Mutex<HashMap<u64, Handoff>>,
    next_handoff: AtomicU64,
}

struct Handoff {
    client: SocketAddr,
    live: LiveGuard,
}

impl TlsFront {
    /// Binds the private listener; returns the front and the listener for
    /// [`accept_private`].
    pub(crate) fn bind(acceptor: Acceptor) -> io::Result<(TlsFront, TcpListener)> {
        let listener = TcpListener::try_from(listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?)?;
        let private = listener.local_addr()?;
        let mut secret = [0; SECRET_LEN];
        getrandom::fill(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        let front = TlsFront {
            acceptor,
            private,
            secret,
            handoffs: Mutex::new(HashMap::new()),
            next_handoff: AtomicU64::new(1),
        };
        Ok((front, listener))
    }

    fn hand_off(&self, handoff: Handoff) -> u64 {
        let number = self.next_handoff.fetch_add(1, Ordering::Relaxed);
        self.handoffs.lock().expect("never poisoned").insert(number, handoff);
        number
    }

    fn claim(&self, introduction: &[u8; INTRODUCTION_LEN]) -> Option<Handoff> {
        let number = handoff_number(&self.secret, introduction)?;
        self.handoffs.lock().expect("never poisoned").remove(&number)
    }
}

/// The introduction a TLS task sends the private listener.
fn introduction(secret: &[u8; SECRET_LEN], number: u64) -> [u8; INTRODUCTION_LEN] {
    let mut bytes = [0; INTRODUCTION_LEN];
    bytes[..SECRET_LEN].copy_from_slice(secret);
    bytes[SECRET_LEN..].copy_from_slice(&number.to_be_bytes());
    bytes
}

/// The handoff number an introduction names, if it carries `secret`.
fn handoff_number(secret: &[u8; SECRET_LEN], introduction: &[u8; INTRODUCTION_LEN]) -> Option<u64> {
    let (claimed, number) = introduction.split_at(SECRET_LEN);
    // Compared in full whatever the first difference, so timing tells nothing.
    let differs = claimed.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    (differs == 0).then(|| u64::from_be_bytes(number.try_into().expect("8 bytes")))
}

/// Removes a handoff nobody claimed when its TLS task ends.
struct Unclaimed<'a>(&'a TlsFront, u64);

impl Drop for Unclaimed<'_> {
    fn drop(&mut self) {
        self.0.handoffs.lock().expect("never poisoned").remove(&self.1);
    }
}

/// Serves one TLS connection: handshake, handoff, then copying until either side ends.
pub(crate) async fn serve(
    front: Arc<TlsFront>,
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    live: LiveGuard,
) {
    let pending = shared.pending_heads.enter();
    let handshake = async { front.acceptor.accept(tcp).await.map_err(|e| e.to_string()) }
        .or(async {
            Timer::after(shared.head_timeout).await;
            Err("no handshake within the head timeout".to_owned())
        })
        .or(async {
            pending.evicted().await;
            Err("too many connections waiting".to_owned())
        })
        .or(async {
            shared.stopping.wait().await;
            Err("the server is stopping".to_owned())
        })
        .await;
    drop(pending);
    let tls = match handshake {
        Ok(tls) => tls,
        Err(error) => {
            shared.counters.tls_handshake(false);
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
    };
    shared.counters.tls_handshake(true);
    let number = front.hand_off(Handoff { client: peer, live });
    let _unclaimed = Unclaimed(&front, number);
    let Ok(mut plain) = TcpStream::connect(front.private).await else {
        tracing::warn!(%peer, "cannot reach the private listener for TLS connections");
        return;
    };
    let _ = plain.set_nodelay(true);
    if plain.write_all(&introduction(&front.secret, number)).await.is_err() {
        return;
    }
    let (mut tls_in, mut tls_out) = smol::io::split(tls);
    let mut plain_in = plain.clone();
    let to_server = async {
        let _ = smol::io::copy(&mut tls_in, &mut plain).await;
        let _ = plain.shutdown(std::net::Shutdown::Write);
    };
    let to_client = async {
        let _ = smol::io::copy(&mut plain_in, &mut tls_out).await;
        // close_notify, then the client has a moment to finish its side.
        let _ = tls_out.close().await;
        Timer::after(CLOSE_GRACE).await;
    };
    to_server.or(to_client).await;
}

/// Accepts the plaintext side of TLS connections on the private listener until
/// shutdown; each is served once it proved itself.
pub(crate) async fn accept_private(listener: TcpListener, front: Arc<TlsFront>, shared: Arc<Shared>) {
    let failure = "accept on the private TLS listener failed";
    accept_each(listener, &shared, failure, |stream, _| {
        if let Some(task) = shared.spawn(claim_and_serve(stream, front.clone(), shared.clone())) {
            task.detach();
        }
    })
    .await;
}

async fn claim_and_serve(mut stream: TcpStream, front: Arc<TlsFront>, shared: Arc<Shared>) {
    let mut introduction = [0; INTRODUCTION_LEN];
    // Waiting for the introduction takes a place among the connections waiting for a
    // head, so local connections that never introduce themselves stay bounded too.
    let pending = shared.pending_heads.enter();
    let read = async { stream.read_exact(&mut introduction).await.is_ok() }
        .or(async {
            Timer::after(INTRODUCTION_TIMEOUT).await;
            false
        })
        .or(async {
            pending.evicted().await;
            false
        })
        .await;
    drop(pending);
    if !read {
        return;
    }
    let Some(handoff) = front.claim(&introduction) else {
        tracing::warn!("closing a connection to the private TLS listener that did not prove itself");
        return;
    };
    connection::serve(stream, handoff.client, shared, handoff.live, Endpoint::V2).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_opens_a_handoff() {
        let secret = [7; SECRET_LEN];
        assert_eq!(handoff_number(&secret, &introduction(&secret, 42)), Some(42));
        let mut forged = introduction(&secret, 42);
        forged[SECRET_LEN - 1] ^= 1;
        assert_eq!(handoff_number(&secret, &forged), None);
        assert_eq!(handoff_number(&secret, &introduction(&[8; SECRET_LEN], 42)), None);
    }
}
