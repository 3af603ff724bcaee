//! Client sockets: loopback targets only, each socket bound to a chosen 127.N.x.y
//! source address (so a server's per-IP connection cap holds without raising it), and
//! the WebSocket handshake on `/v2/ws`, over TLS when [`use_tls`] was called.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::WebSocketStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smol::io::{AsyncRead, AsyncWrite};
use smol::Async;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::BenchError;

/// A client's WebSocket.
pub type Ws = WebSocketStream<ClientStream>;

/// The name clients ask the server's certificate for (`--tls-ca` runs).
const TLS_SERVER_NAME: &str = "localhost";

/// Set once by [`use_tls`]: every client then speaks TLS.
static TLS: OnceLock<TlsConnector> = OnceLock::new();

/// From now on, clients connect with TLS (`wss://`), trusting the CA certificates in
/// the PEM file `ca` for the name `localhost`.
pub fn use_tls(ca: &Path) -> Result<(), BenchError> {
    let problem = |e: &dyn std::fmt::Display| BenchError::new(format!("--tls-ca {}: {e}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| problem(&e))? {
        roots.add(certificate.map_err(|e| problem(&e))?).map_err(|e| problem(&e))?;
    }
    if roots.is_empty() {
        return Err(problem(&"no CERTIFICATE block in the file"));
    }
    // ring, as the server uses; see shell/src/tls/load.rs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let _ = TLS.set(TlsConnector::from(Arc::new(config)));
    Ok(())
}

/// The URL scheme clients use: `wss` after [`use_tls`], else `ws`.
pub fn scheme() -> &'static str {
    if TLS.get().is_some() {
        "wss"
    } else {
        "ws"
    }
}

/// A client connection: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum ClientStream {
    /// `ws://`.
    Plain(Async<TcpStream>),
    /// `wss://`.
    Tls(Box<futures_rustls::client::TlsStream<Async<TcpStream>>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_close(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// `stream` as the run's clients speak: TLS after [`use_tls`], else plain.
async fn client_stream(stream: Async<TcpStream>) -> Result<(ClientStream, &'static str), String> {
    match TLS.get() {
        None => Ok((ClientStream::Plain(stream), "ws")),
        Some(connector) => {
            let name = ServerName::try_from(TLS_SERVER_NAME).expect("a valid name");
            let tls = connector.connect(name, stream).await.map_err(|_| "TLS_HANDSHAKE".to_owned())?;
            Ok((ClientStream::Tls(Box::new(tls)), "wss"))
        }
    }
}

/// `EINPROGRESS` on Linux: a non-blocking connect has started.
const EINPROGRESS: i32 = 115;
/// Source addresses per 127.N.0.0/16 block (third octet 0..=255, fourth 1..=254).
const ADDRESSES_PER_BLOCK: usize = 256 * 254;

/// Accepts only IPv4 loopback targets (127.0.0.0/8): the tool must never load a
/// machine other than the one it runs on. The error names `flag`, the option that gave
/// the address.
pub fn check_target(flag: &str, addr: SocketAddr) -> Result<(), BenchError> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(()),
        _ => Err(BenchError::new(format!(
            "{flag} {addr}: only IPv4 loopback targets (127.0.0.0/8) are allowed"
        ))),
    }
}

/// Which source address each client binds: `clients_per_ip` consecutive clients share
/// one address in 127.`net`.0.0/16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    net: u8,
    per_ip: usize,
}

impl Sources {
    /// Addresses in 127.`net`.0.0/16, `per_ip` clients each. `net` 0 is refused: it
    /// holds 127.0.0.1, which other local clients use.
    pub fn new(net: u8, per_ip: usize) -> Result<Sources, BenchError> {
        if net == 0 {
            return Err(BenchError::new("--source-net 0: use 1..=255 (127.0.x.y is left to other clients)"));
        }
        if per_ip == 0 {
            return Err(BenchError::new("--clients-per-ip 0: at least one client per address"));
        }
        Ok(Sources { net, per_ip })
    }

    /// The most clients these addresses can carry.
    pub fn capacity(&self) -> usize {
        ADDRESSES_PER_BLOCK.saturating_mul(self.per_ip)
    }

    /// Fails unless `clients` fit.
    pub fn check_capacity(&self, clients: usize) -> Result<(), BenchError> {
        if clients > self.capacity() {
            return Err(BenchError::new(format!(
                "{clients} clients need more than the {ADDRESSES_PER_BLOCK} addresses of 127.{}.0.0/16 at \
                 --clients-per-ip {}; raise --clients-per-ip",
                self.net, self.per_ip
            )));
        }
        Ok(())
    }

    /// The source address of client `index`.
    pub fn addr(&self, index: usize) -> Ipv4Addr {
        let slot = (index / self.per_ip) % ADDRESSES_PER_BLOCK;
        Ipv4Addr::new(127, self.net, (slot / 254) as u8, (slot % 254 + 1) as u8)
    }

    /// The `127.N` block, for reports.
    pub fn net(&self) -> u8 {
        self.net
    }

    /// Clients per address.
    pub fn per_ip(&self) -> usize {
        self.per_ip
    }
}

/// Opens a TCP connection from `source` (any port) to `target`, with TCP_NODELAY.
pub async fn connect_from(source: Ipv4Addr, target: SocketAddr) -> io::Result<Async<TcpStream>> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
    socket.set_nonblocking(true)?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let stream = Async::new(TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(error) = stream.get_ref().take_error()? {
        return Err(error);
    }
    // Fails with NotConnected if the handshake did not complete.
    stream.get_ref().peer_addr()?;
    Ok(stream)
}

/// Why a WebSocket could not be opened, as a short code for failure tables.
pub fn io_code(error: &io::Error) -> String {
    format!("CONNECT_{:?}", error.kind()).to_uppercase()
}

/// Connects from `source` and completes the WebSocket handshake on `/v2/ws`.
pub async fn open(source: Ipv4Addr, target: SocketAddr, read_buffer: usize) -> Result<Ws, String> {
    open_path(source, target, read_buffer, "/v2/ws").await
}

/// Like [`open`], on `path` (which may carry a query, such as
/// `/v2/ws?reconnection_token=true`).
pub async fn open_path(
    source: Ipv4Addr,
    target: SocketAddr,
    read_buffer: usize,
    path: &str,
) -> Result<Ws, String> {
    let stream = connect_from(source, target).await.map_err(|e| io_code(&e))?;
    let (stream, scheme) = client_stream(stream).await?;
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let url = format!("{scheme}://{target}{path}");
    match async_tungstenite::client_async_with_config(url, stream, Some(config)).await {
        Ok((ws, _response)) => Ok(ws),
        Err(async_tungstenite::tungstenite::Error::Http(response)) => {
            Err(format!("HTTP_{}", response.status().as_u16()))
        }
        Err(_) => Err("HANDSHAKE".to_owned()),
    }
}

/// Largest HTTP answer [`http_get`] reads.
const MAX_HTTP_ANSWER: usize = 4 * 1024 * 1024;

/// `GET path` over HTTP/1.1 from 127.0.0.1, `Connection: close`: the status and the
/// body (read up to its `Content-Length`, or to the end of the stream). The caller
/// bounds the time (with a timer): the server may be slow to answer.
pub async fn http_get(target: SocketAddr, path: &str) -> Result<(u16, String), String> {
    use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = connect_from(Ipv4Addr::LOCALHOST, target).await.map_err(|e| io_code(&e))?;
    let (mut stream, _) = client_stream(stream).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| io_code(&e))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Bounded by MAX_HTTP_ANSWER: every pass adds at least one byte or ends.
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| io_code(&e))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MAX_HTTP_ANSWER {
            return Err("HTTP_ANSWER_TOO_LARGE".to_owned());
        }
        if let Some((head, body)) = split_head(&answer) {
            if content_length(head).is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let (head, body) = split_head(&answer).ok_or_else(|| "HTTP_NO_HEAD".to_owned())?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "HTTP_BAD_STATUS".to_owned())?;
    let body = &body[..content_length(head).unwrap_or(body.len()).min(body.len())];
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

/// The head (as text) and the bytes after its blank line.
fn split_head(answer: &[u8]) -> Option<(&str, &[u8])> {
    let at = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&answer[..at]).ok()?, &answer[at + 4..]))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })
}

/// Fails unless the soft open-files limit leaves room for `sockets` more descriptors.
pub fn check_fd_limit(sockets: usize) -> Result<(), BenchError> {
    let Some(limit) = soft_fd_limit() else { return Ok(()) };
    let needed = sockets as u64 + 64;
    if needed > limit {
        return Err(BenchError::new(format!(
            "{sockets} sockets need about {needed} open files but the soft limit is {limit}; \
             raise it (ulimit -n {needed}) in the shell that runs the tool"
        )));
    }
    Ok(())
}

/// The soft `Max open files` of this process, from `/proc/self/limits`.
fn soft_fd_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(check_target("--server", "127.0.0.1:3536".parse().unwrap()).is_ok());
        assert!(check_target("--server", "127.9.8.7:1".parse().unwrap()).is_ok());
        for bad in ["10.0.0.1:3536", "0.0.0.0:3536", "[::1]:3536", "192.168.1.1:80"] {
            let error = check_target("--also-server", bad.parse().unwrap()).unwrap_err();
            assert!(error.0.contains("loopback"), "{error}");
            assert!(error.0.starts_with(&format!("--also-server {bad}:")), "{error}");
        }
    }

    #[test]
    fn sources_spread_clients_over_addresses() {
        let s = Sources::new(7, 3).unwrap();
        assert_eq!(s.addr(0), Ipv4Addr::new(127, 7, 0, 1));
        assert_eq!(s.addr(2), Ipv4Addr::new(127, 7, 0, 1));
        assert_eq!(s.addr(3), Ipv4Addr::new(127, 7, 0, 2));
        assert_eq!(s.addr(3 * 254), Ipv4Addr::new(127, 7, 1, 1));
        assert!(Sources::new(0, 3).is_err());
        assert!(Sources::new(7, 0).is_err());
        assert!(s.check_capacity(s.capacity()).is_ok());
        assert!(s.check_capacity(s.capacity() + 1).is_err());
    }

    #[test]
    fn fd_limit_is_read() {
        assert!(soft_fd_limit().is_some());
        assert!(check_fd_limit(1).is_ok());
        assert!(check_fd_limit(usize::MAX / 2).unwrap_err().0.contains("ulimit -n"));
    }

    #[test]
    fn http_answers_are_read_to_their_length() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /metrics HTTP/1.1\r\n"));
            // Keeps the connection open: the client must stop at Content-Length.
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
        let (status, body) = smol::block_on(http_get(target, "/metrics")).expect("answer");
        assert_eq!((status, body.as_str()), (200, r#"{"a":1}"#));
        server.join().unwrap();
    }

    #[test]
    fn connects_from_a_chosen_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let source = Ipv4Addr::new(127, 3, 0, 9);
        let stream = smol::block_on(connect_from(source, target)).expect("connect");
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), IpAddr::V4(source));
        assert_eq!(stream.get_ref().local_addr().unwrap().ip(), IpAddr::V4(source));
        drop(listener);
        let refused = smol::block_on(connect_from(source, target)).unwrap_err();
        assert_eq!(io_code(&refused), "CONNECT_CONNECTIONREFUSED");
    }
}
