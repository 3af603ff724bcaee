//! [`TransportLimits`]: bounds the transport enforces before the engine hears of a
//! connection (the engine's own limits live in [`Config`]).

use std::time::Duration;

use signal_fish_core::Config;

/// Default [`TransportLimits::head_timeout`].
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds of the default [`TransportLimits::max_pending_heads`].
const PENDING_HEADS_MIN: usize = 64;
const PENDING_HEADS_MAX: usize = 1024;
/// Default [`TransportLimits::send_buffer_bytes`].
const SEND_BUFFER: usize = 256 * 1024;

/// How long, and how many, TCP connections may wait without a complete HTTP request head
/// (half-open connections, slow-loris clients, idle keep-alive connections), and how much
/// the kernel may buffer for each connection.
///
/// ```
/// use std::time::Duration;
/// use signal_fish_server::{Config, Server, TransportLimits};
///
/// let config = Config::default();
/// let limits = TransportLimits { head_timeout: Duration::from_secs(5), ..TransportLimits::for_config(&config) };
/// let server = Server::bind(config, "127.0.0.1:0".parse().unwrap()).unwrap().with_limits(limits);
/// # drop(server);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportLimits {
    /// Time a connection has to send a complete request head, counted from its first
    /// byte of wait however slowly bytes trickle in; also how long an idle keep-alive
    /// connection may wait before its next request. A connection that sent part of a
    /// head is answered `408`; a silent one is closed. Default 10 s.
    pub head_timeout: Duration,
    /// Most connections waiting for a request head at once. One more closes the one that
    /// has waited longest, so half-open connections can neither exhaust the TCP
    /// connection budget nor lock new clients out. At least 1 (0 is taken as 1).
    /// Default: `server.max_connections`, clamped to 64..=1024.
    pub max_pending_heads: usize,
    /// The kernel send buffer of every accepted connection (`SO_SNDBUF`; Linux doubles
    /// it for its bookkeeping), on top of the outbound queue
    /// (`websocket.max_outbound_queue_bytes`). A fixed size turns off the kernel's
    /// autotuning, under which each client that stops reading would hold up to
    /// `net.ipv4.tcp_wmem`'s maximum (4 MiB by default) of kernel memory, and a few
    /// hundred of them would put every TCP connection of the host under memory pressure.
    /// `None` keeps the system's autotuning. Default 256 KiB: 2.5 MB/s per client at a
    /// 200 ms round trip, far above what signaling needs.
    pub send_buffer_bytes: Option<usize>,
}

impl TransportLimits {
    /// The defaults for a configuration.
    pub fn for_config(config: &Config) -> TransportLimits {
        TransportLimits {
            head_timeout: HEAD_TIMEOUT,
            max_pending_heads: config.server.max_connections.clamp(PENDING_HEADS_MIN, PENDING_HEADS_MAX),
            send_buffer_bytes: Some(SEND_BUFFER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_heads_follow_max_connections_within_bounds() {
        let mut config = Config::default();
        assert_eq!(TransportLimits::for_config(&config).max_pending_heads, 1024);
        assert_eq!(TransportLimits::for_config(&config).send_buffer_bytes, Some(256 * 1024));
        config.server.max_connections = 200;
        assert_eq!(TransportLimits::for_config(&config).max_pending_heads, 200);
        config.server.max_connections = 3;
        assert_eq!(TransportLimits::for_config(&config).max_pending_heads, 64);
    }
}
