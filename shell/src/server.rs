//! [`Server`]: bind a listener, then run the driver, the accept loop and every
//! connection on one smol executor until shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_net::TcpListener;
use signal_fish_core::config::ConfigErrors;
use signal_fish_core::{Config, Engine};
use smol::channel::Receiver;
use smol::Executor;

use crate::cluster::ClusterLink;
use crate::driver::clock::Clock;
use crate::driver::inbox::Inbound;
use crate::driver::seed::os_seed;
use crate::driver::shared::Shared;
use crate::driver::Driver;
use crate::limits::TransportLimits;
use crate::listener::{self, accept_loop, configure_accepted, mesh_accept_loop, Front};
use crate::recorder::Recorder;
use crate::sync::latch::Latch;

/// Messages connection tasks may have in flight to the driver before they wait.
const INBOX_CAPACITY: usize = 4096;

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
    front: Front,
    local_addr: SocketAddr,
    /// The matchbox full-mesh port's listener and address (`mesh.enabled`).
    mesh: Option<(TcpListener, SocketAddr)>,
    engine: Engine,
    clock: Clock,
    config: Config,
    limits: TransportLimits,
    stopping: Latch,
    /// The flight recorder (`recorder.enabled`), started with the server.
    recorder: Option<Recorder>,
    /// Cluster mode's link to Redis (`cluster.redis_url`), started with the server.
    cluster: Option<ClusterLink>,
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
    /// The flight recorder could not start (its folder cannot be created, …).
    Recorder(String),
    /// Cluster mode could not start (Redis unreachable, the node id taken, …).
    Cluster(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(errors) => write!(f, "invalid configuration:\n{errors}"),
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::Randomness(e) => write!(f, "no OS randomness for the engine seed: {e}"),
            ServerError::Recorder(e) => write!(f, "cannot record: {e}"),
            ServerError::Cluster(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Config(errors) => Some(errors),
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Randomness(_) | ServerError::Recorder(_) | ServerError::Cluster(_) => None,
        }
    }
}

impl Server {
    /// Validates `config`, seeds a new engine from OS randomness and binds `addr`
    /// (port 0 picks a free port; see [`Server::local_addr`]). The config's own `port`
    /// is not used here: the binary passes `0.0.0.0:<port>`. With `mesh.enabled` it also
    /// binds the mesh port on the same address ([`Server::mesh_addr`]): `mesh.port`, else
    /// the port after `addr`'s (a free port too when `addr`'s port is 0).
    pub fn bind(config: Config, addr: SocketAddr) -> Result<Server, ServerError> {
        // TLS first: in a build without it, saying how to get it matters more than the
        // missing paths.
        let acceptor = crate::tls::acceptor(&config).map_err(ServerError::Config)?;
        let clock = Clock::start();
        let seed = os_seed().map_err(|e| ServerError::Randomness(e.to_string()))?;
        let engine = Engine::try_new(config.clone(), seed, clock.now(), clock.unix_ms_at_origin())
            .map_err(ServerError::Config)?;
        let (listener, local_addr) = bind_listener(addr)?;
        let mesh = match mesh_addr(&config, addr) {
            Some(mesh_addr) => Some(bind_listener(mesh_addr)?),
            None => None,
        };
        let front = Front::new(acceptor).map_err(|source| ServerError::Bind { addr, source })?;
        let limits = TransportLimits::for_config(&config);
        let stopping = Latch::new();
        let recorder = if config.recorder.enabled {
            let recorder = Recorder::start(&config.recorder, clock.unix_ms_at_origin())
                .map_err(|e| ServerError::Recorder(e.0))?;
            Some(recorder)
        } else {
            None
        };
        let cluster = if config.cluster.enabled() {
            let generated = format!("node-{:08x}", u32::from_le_bytes([seed[0], seed[1], seed[2], seed[3]]));
            Some(ClusterLink::start(&config.cluster, generated).map_err(|e| ServerError::Cluster(e.0))?)
        } else {
            None
        };
        Ok(Server {
            listener,
            front,
            local_addr,
            mesh,
            engine,
            clock,
            config,
            limits,
            stopping,
            recorder,
            cluster,
        })
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

    /// The address of the matchbox full-mesh port, when `mesh.enabled`.
    pub fn mesh_addr(&self) -> Option<SocketAddr> {
        self.mesh.as_ref().map(|(_, addr)| *addr)
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
        let Server {
            listener, front, mesh, engine, clock, config, limits, stopping, recorder, cluster, ..
        } = self;
        let cap = config.hard_message_cap();
        let driver = |inbox, shared| Driver::new(engine, clock, inbox, shared, recorder, cluster).run();
        let mesh = mesh.map(|(listener, _)| listener);
        run_transport(listener, front, mesh, &config, &limits, cap, stopping, driver).await;
    }
}

/// Runs the accept loop, every connection and the task `driver` makes (the one that
/// receives what connections send: the engine's [`Driver`], or `echo`'s) on one
/// executor, until that task returns. `message_cap` is the hard cap on a message.
/// `mesh` is the matchbox full-mesh port's listener, if it is served.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_transport<D, F>(
    listener: TcpListener,
    front: Front,
    mesh: Option<TcpListener>,
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
    executor.spawn(accept_loop(listener, front, shared.clone())).detach();
    if let Some(mesh) = mesh {
        configure_accepted(&mesh, limits);
        executor.spawn(mesh_accept_loop(mesh, shared.clone())).detach();
    }
    let driver = executor.spawn(driver(inbox_rx, shared));
    executor.run(driver).await;
    // Dropping the executor here cancels whatever is left after the grace period.
}

/// Where the mesh port listens, if `mesh.enabled` (see [`Server::bind`]).
fn mesh_addr(config: &Config, addr: SocketAddr) -> Option<SocketAddr> {
    if !config.mesh.enabled {
        return None;
    }
    let port = match config.mesh.port {
        Some(port) => port,
        // A server on a free port (tests, embedders) gets a free mesh port too.
        None if addr.port() == 0 => 0,
        // Validation refuses `port` 65535 without `mesh.port`; an embedder's own
        // address at 65535 gets a free port rather than a wrapped one.
        None => addr.port().checked_add(1).unwrap_or(0),
    };
    Some(SocketAddr::new(addr.ip(), port))
}

/// Binds `addr` for a server (see [`Server::bind`]).
pub(crate) fn bind_listener(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    listener::bind(addr).map_err(|source| ServerError::Bind { addr, source })
}
