//! [`Server`]: bind a listener, then run the driver, the accept loop and every
//! connection on one smol executor until shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use signal_fish_core::config::ConfigErrors;
use signal_fish_core::{Config, Engine};
use smol::channel::Receiver;
use smol::future::FutureExt as _;
use smol::{Async, Executor, Timer};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::clock::Clock;
use crate::connection;
use crate::driver::{Driver, Inbound};
use crate::latch::Latch;
use crate::limits::TransportLimits;
use crate::seed::os_seed;
use crate::shared::{LiveGuard, Shared};

/// Messages connection tasks may have in flight to the driver before they wait.
const INBOX_CAPACITY: usize = 4096;
/// Pause after a failed `accept` (for example, out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Connections the kernel may hold, handshake done, until they are accepted (it caps
/// this at `net.core.somaxconn`). A storm of connects beyond the backlog loses SYNs, and
/// a client retries a lost SYN only after a second.
const LISTEN_BACKLOG: i32 = 4096;

/// A bound Signal Fish server, ready to [`run`](Server::run).
///
/// ```no_run
/// use signal_fish_server::{Config, Server};
///
/// let server = Server::bind(Config::default(), "127.0.0.1:3536".parse().unwrap()).unwrap();
/// let stop = server.shutdown_handle();
/// println!("listening on {}", server.local_addr());
/// // Call `stop.shutdown()` from anywhere (another task, a signal handler) to end `run`.
/// smol::block_on(server.run());
/// ```
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    engine: Engine,
    clock: Clock,
    config: Config,
    limits: TransportLimits,
    stopping: Latch,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// Ends a running [`Server`]: it stops accepting, closes every WebSocket with 1001
/// after what is queued for it, and `run` returns within a few seconds.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    pub(crate) stopping: Latch,
}

impl ShutdownHandle {
    /// Starts the shutdown. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.stopping.set();
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// The configuration is invalid (every problem, each naming its key).
    Config(ConfigErrors),
    /// The address could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The OS gave no randomness for the engine's seed.
    Randomness(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(errors) => write!(f, "invalid configuration:\n{errors}"),
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::Randomness(e) => write!(f, "no OS randomness for the engine seed: {e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Config(errors) => Some(errors),
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Randomness(_) => None,
        }
    }
}

impl Server {
    /// Validates `config`, seeds a new engine from OS randomness and binds `addr`
    /// (port 0 picks a free port; see [`Server::local_addr`]). The config's own `port`
    /// is not used here: the binary passes `0.0.0.0:<port>`.
    pub fn bind(config: Config, addr: SocketAddr) -> Result<Server, ServerError> {
        let clock = Clock::start();
        let seed = os_seed().map_err(|e| ServerError::Randomness(e.to_string()))?;
        let engine = Engine::try_new(config.clone(), seed, clock.now(), clock.unix_ms_at_origin())
            .map_err(ServerError::Config)?;
        let (listener, local_addr) = bind_listener(addr)?;
        let limits = TransportLimits::for_config(&config);
        Ok(Server { listener, local_addr, engine, clock, config, limits, stopping: Latch::new() })
    }

    /// Replaces the transport limits (default: [`TransportLimits::for_config`]).
    pub fn with_limits(mut self, limits: TransportLimits) -> Server {
        self.limits = limits;
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { stopping: self.stopping.clone() }
    }

    /// Serves until [`ShutdownHandle::shutdown`] is called and the shutdown completed.
    /// Every task of the server runs inside this future (on its own smol executor), so
    /// it can be awaited from any smol application or driven by `smol::block_on`.
    pub async fn run(self) {
        let Server { listener, engine, clock, config, limits, stopping, .. } = self;
        let cap = config.hard_message_cap();
        let driver = |inbox, shared| Driver::new(engine, clock, inbox, shared).run();
        run_transport(listener, &config, &limits, cap, stopping, driver).await;
    }
}

/// Runs the accept loop, every connection and the task `driver` makes (the one that
/// receives what connections send: the engine's [`Driver`], or `echo`'s) on one
/// executor, until that task returns. `message_cap` is the hard cap on a message.
pub(crate) async fn run_transport<D, F>(
    listener: TcpListener,
    config: &Config,
    limits: &TransportLimits,
    message_cap: usize,
    stopping: Latch,
    driver: D,
) where
    D: FnOnce(Receiver<Inbound>, Arc<Shared>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    configure_accepted(&listener, limits);
    let executor = Arc::new(Executor::new());
    let (inbox_tx, inbox_rx) = smol::channel::bounded(INBOX_CAPACITY);
    let shared = Shared::new(config, limits, message_cap, inbox_tx, stopping, Arc::downgrade(&executor));
    let shared = Arc::new(shared);
    // The accept loop and the driver are tasks of their own, like every connection: a
    // task is polled only when it was woken, so no wake-up polls the listener.
    executor.spawn(accept_loop(listener, shared.clone())).detach();
    let driver = executor.spawn(driver(inbox_rx, shared));
    executor.run(driver).await;
    // Dropping the executor here cancels whatever is left after the grace period.
}

/// Binds `addr` for a server (see [`Server::bind`]).
pub(crate) fn bind_listener(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_error = |source| ServerError::Bind { addr, source };
    let listener = listen(addr).map_err(bind_error)?;
    let listener = TcpListener::try_from(listener).map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
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
fn configure_accepted(listener: &TcpListener, limits: &TransportLimits) {
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
pub(crate) fn accepted_socket_options(stream: &TcpStream, send_buffer_bytes: Option<usize>) {
    if cfg!(target_os = "linux") {
        return;
    }
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = send_buffer_bytes {
        let _ = SockRef::from(stream).set_send_buffer_size(bytes);
    }
}

/// Accepts connections until shutdown, then closes the listener (by dropping it).
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
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
            Ok((stream, peer)) => match LiveGuard::try_new(&shared) {
                Some(live) => {
                    if let Some(task) = shared.spawn(connection::serve(stream, peer, shared.clone(), live)) {
                        task.detach();
                    }
                }
                None => tracing::debug!(%peer, "refusing a TCP connection: too many open"),
            },
            Err(error) => {
                tracing::warn!(%error, "accept failed");
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
        let config = Config::default();
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
