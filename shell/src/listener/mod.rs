//! The listening socket: binding it with its backlog, the options every accepted
//! connection gets, and the accept loop that hands each connection to its own task
//! (`connection::serve`).
//!
//! This folder serves accepted connections until they are WebSocket connections or
//! answered requests: the listening socket here, each connection's first task (PROXY
//! header, request heads, the client's address) in `connection.rs`, and with built-in
//! TLS (feature `tls`) the TLS front in `tls_front.rs`.

mod connection;
#[cfg(feature = "tls")]
mod tls_front;

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use signal_fish_core::Endpoint;
use smol::future::FutureExt as _;
use smol::{Async, Timer};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::driver::shared::{LiveGuard, Shared};
use crate::limits::TransportLimits;
use crate::tls::Acceptor;

/// Pause after a failed `accept` (for example, out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Connections the kernel may hold, handshake done, until they are accepted (it caps
/// this at `net.core.somaxconn`). A storm of connects beyond the backlog loses SYNs, and
/// a client retries a lost SYN only after a second.
const LISTEN_BACKLOG: i32 = 4096;

/// A listener bound to `addr`, and the address it got (port 0 picks a free port).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::try_from(listen(addr)?)?;
    let local_addr = listener.local_addr()?;
    Ok((listener, local_addr))
}

/// A listening socket on `addr` with a backlog of [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's `TcpListener::bind` does: a restarted server may bind while connections
    // of the previous one are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Socket options every accepted connection gets: no Nagle delay for small frames
/// (batching is done above TCP), and the fixed kernel send buffer of
/// [`TransportLimits::send_buffer_bytes`]. Linux copies both from the listener to each
/// accepted socket, so they are set once here instead of twice per connection; other
/// systems get them per connection (`accepted_socket_options`).
pub(crate) fn configure_accepted(listener: &TcpListener, limits: &TransportLimits) {
    if cfg!(target_os = "linux") {
        let socket = SockRef::from(listener);
        if let Err(error) = socket.set_tcp_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY on the listener");
        }
        if let Some(bytes) = limits.send_buffer_bytes {
            if let Err(error) = socket.set_send_buffer_size(bytes) {
                tracing::warn!(%error, "cannot set SO_SNDBUF on the listener");
            }
        }
    }
}

/// Sets the options of [`configure_accepted`] on an accepted connection, where the
/// system does not copy them from the listener.
fn accepted_socket_options(stream: &TcpStream, send_buffer_bytes: Option<usize>) {
    if cfg!(target_os = "linux") {
        return;
    }
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = send_buffer_bytes {
        let _ = SockRef::from(stream).set_send_buffer_size(bytes);
    }
}

/// What accepted connections speak first: HTTP, or TLS (feature `tls`).
pub(crate) enum Front {
    /// Plain HTTP and WebSocket.
    Plain,
    /// TLS, terminated by the TLS front, whose private listener comes along.
    #[cfg(feature = "tls")]
    Tls {
        /// The front.
        front: Arc<tls_front::TlsFront>,
        /// Its private listener.
        private: TcpListener,
    },
}

impl Front {
    /// Plain without an acceptor; with one, a TLS front and its private listener.
    pub(crate) fn new(acceptor: Option<Acceptor>) -> io::Result<Front> {
        match acceptor {
            None => Ok(Front::Plain),
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let (front, private) = tls_front::TlsFront::bind(acceptor)?;
                Ok(Front::Tls { front: Arc::new(front), private })
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }
}

/// Accepts connections until shutdown, then closes the listener (by dropping it).
pub(crate) async fn accept_loop(listener: TcpListener, front: Front, shared: Arc<Shared>) {
    #[cfg(feature = "tls")]
    let tls = match front {
        Front::Plain => None,
        Front::Tls { front, private } => {
            if let Some(task) =
                shared.spawn(tls_front::accept_private(private, front.clone(), shared.clone()))
            {
                task.detach();
            }
            Some(front)
        }
    };
    #[cfg(not(feature = "tls"))]
    let Front::Plain = front;
    accept_each(listener, &shared, "accept failed", |stream, peer| {
        let Some(live) = LiveGuard::try_new(&shared) else {
            tracing::debug!(%peer, "refusing a TCP connection: too many open");
            return;
        };
        accepted_socket_options(&stream, shared.send_buffer_bytes);
        #[cfg(feature = "tls")]
        if let Some(front) = &tls {
            if let Some(task) =
                shared.spawn(tls_front::serve(front.clone(), stream, peer, shared.clone(), live))
            {
                task.detach();
            }
            return;
        }
        if let Some(task) = shared.spawn(connection::serve(stream, peer, shared.clone(), live, Endpoint::V2))
        {
            task.detach();
        }
    })
    .await;
}

/// Accepts on the matchbox full-mesh port until shutdown (`mesh.enabled`; DECISIONS
/// D50). Plain WebSocket only: the built-in TLS front serves the main port. Every
/// connection counts against the same open-connection bound as the main port's.
pub(crate) async fn mesh_accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    accept_each(listener, &shared, "accept failed on the mesh port", |stream, peer| {
        let Some(live) = LiveGuard::try_new(&shared) else {
            tracing::debug!(%peer, "refusing a TCP connection on the mesh port: too many open");
            return;
        };
        accepted_socket_options(&stream, shared.send_buffer_bytes);
        let serve = connection::serve(stream, peer, shared.clone(), live, Endpoint::Mesh);
        if let Some(task) = shared.spawn(serve) {
            task.detach();
        }
    })
    .await;
}

/// Accepts on `listener` until shutdown, handing each connection to `serve`, then
/// closes the listener (by dropping it). A failed accept (for example, out of file
/// descriptors) is logged with `failure` and retried after a pause.
pub(crate) async fn accept_each(
    listener: TcpListener,
    shared: &Shared,
    failure: &str,
    mut serve: impl FnMut(TcpStream, SocketAddr),
) {
    let listener: Arc<Async<std::net::TcpListener>> = listener.into();
    let mut stopping = pin!(async {
        shared.stopping.wait().await;
        None
    });
    loop {
        let accepted =
            async { Some(listener.read_with(accept_nonblocking).await) }.or(stopping.as_mut()).await;
        let Some(result) = accepted else { return };
        match result {
            Ok((stream, peer)) => serve(stream, peer),
            Err(error) => {
                tracing::warn!(%error, "{failure}");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Accepts one connection, already in non-blocking mode: on Linux `accept4` sets it,
/// saving the `ioctl` a separate switch costs per connection.
#[cfg(target_os = "linux")]
fn accept_nonblocking(listener: &std::net::TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (socket, addr) = SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    let peer = addr.as_socket().ok_or_else(|| io::Error::other("accepted a connection that is not IP"))?;
    let stream = Async::new_nonblocking(std::net::TcpStream::from(socket))?;
    Ok((TcpStream::from(stream), peer))
}

/// Accepts one connection and puts it in non-blocking mode.
#[cfg(not(target_os = "linux"))]
fn accept_nonblocking(listener: &std::net::TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    Ok((TcpStream::try_from(stream)?, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `configure_accepted` relies on: accepted sockets inherit the listener's
    /// options (checked on the systems where it is relied on).
    #[test]
    fn accepted_connections_are_non_blocking_with_nodelay_and_the_fixed_send_buffer() {
        let listener = TcpListener::try_from(listen("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
        let config = signal_fish_core::Config::default();
        let limits = TransportLimits::for_config(&config);
        configure_accepted(&listener, &limits);
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let listener: Arc<Async<std::net::TcpListener>> = listener.into();
        let (accepted, peer) = smol::block_on(listener.read_with(accept_nonblocking)).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        accepted_socket_options(&accepted, limits.send_buffer_bytes);
        assert!(accepted.nodelay().unwrap());
        let sndbuf = SockRef::from(&accepted).send_buffer_size().unwrap();
        // Linux doubles the value for its bookkeeping; autotuning would give megabytes.
        let wanted = limits.send_buffer_bytes.unwrap();
        assert!((wanted..=2 * wanted).contains(&sndbuf), "{sndbuf}");
        // Non-blocking: with nothing sent, a read returns at once.
        let raw: Arc<Async<std::net::TcpStream>> = accepted.into();
        let mut byte = [0u8; 1];
        let read = std::io::Read::read(&mut raw.get_ref(), &mut byte);
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(client);
    }
}
