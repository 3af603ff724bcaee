//! Real reverse proxies in front of a test server: nginx terminating TLS (certificate
//! made at test time) and adding `X-Forwarded-For`, and HAProxy in TCP mode sending the
//! PROXY protocol v2 header. Each runs unprivileged in the foreground on a free loopback
//! port, with its config and files in a temporary directory, and is killed by PID on
//! drop. Their site configs are the README's snippets (`tests/proxies/`), with the
//! test's ports and paths put in.
//!
//! A proxy that is not installed fails the test in CI (`CI=true`, where `.ci/run`
//! installs both); elsewhere the test is skipped with one loud line on stderr.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

use super::{connect_from_ip, Client, Refused, IO_TIMEOUT};

/// The README's nginx snippet.
pub const NGINX_SITE: &str = include_str!("../proxies/nginx.conf");
/// The README's HAProxy snippet.
pub const HAPROXY_SITE: &str = include_str!("../proxies/haproxy.cfg");

/// Longest a proxy may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS connection as the WebSocket client's stream.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// The proxy's executable, if installed (also looked for in the sbin directories, which
/// a normal user's `PATH` may leave out). When it is missing: a panic in CI, else one
/// line on stderr and `None` (the caller skips its test).
pub fn find_proxy(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    if let Some(found) = dirs.map(|dir| dir.join(name)).find(|candidate| candidate.is_file()) {
        return Some(found);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is not installed: CI must run the tests behind real proxies (.ci/run installs nginx and haproxy)");
    }
    // Straight to the process's stderr: the test harness captures eprintln!.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "########## SKIPPED: {name} is not installed, so the test behind {name} did not run \
         (apt-get install -y nginx haproxy) ##########"
    );
    None
}

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running proxy; killed (by its PID) and its directory removed on drop.
pub struct RunningProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// nginx's certificate, for the client's root store (none for HAProxy).
    pub certificate: Option<CertificateDer<'static>>,
    child: Child,
    name: &'static str,
    dir: TempDir,
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RunningProxy {
    /// nginx on a free loopback port: TLS with a fresh self-signed certificate for
    /// `localhost`, WebSocket upgrades and `X-Forwarded-For` to `upstream`. `None` when
    /// nginx is not installed (outside CI).
    pub fn nginx(upstream: SocketAddr) -> Option<RunningProxy> {
        let nginx = find_proxy("nginx")?;
        let dir = TempDir::new("signal-fish-nginx");
        let d = dir.path().display().to_string();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
        fs::write(dir.path().join("cert.pem"), key.cert.pem()).unwrap();
        fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
        let port = free_port();
        let site = substitute(NGINX_SITE, "server 127.0.0.1:3536;", &format!("server {upstream};"));
        let site = substitute(&site, "listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"));
        let site = substitute(&site, "/etc/ssl/signal-fish/fullchain.pem", &format!("{d}/cert.pem"));
        let site = substitute(&site, "/etc/ssl/signal-fish/privkey.pem", &format!("{d}/key.pem"));
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 512; }}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/client_body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             {site}\n}}\n"
        );
        let config_path = dir.path().join("nginx.conf");
        fs::write(&config_path, config).unwrap();
        let mut command = Command::new(nginx);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"));
        let certificate = CertificateDer::from(key.cert.der().to_vec());
        Some(RunningProxy::start(command, "nginx", dir, port, Some(certificate)))
    }

    /// HAProxy on a free loopback port: TCP mode, PROXY protocol v2 to `upstream`.
    /// `None` when HAProxy is not installed (outside CI).
    pub fn haproxy(upstream: SocketAddr) -> Option<RunningProxy> {
        let haproxy = find_proxy("haproxy")?;
        let dir = TempDir::new("signal-fish-haproxy");
        let port = free_port();
        let site = substitute(HAPROXY_SITE, "    bind :80\n", &format!("    bind 127.0.0.1:{port}\n"));
        let site = substitute(&site, "server node1 127.0.0.1:3536", &format!("server node1 {upstream}"));
        let config = format!("global\n    maxconn 512\n\n{site}");
        let config_path = dir.path().join("haproxy.cfg");
        fs::write(&config_path, config).unwrap();
        let mut command = Command::new(haproxy);
        command.arg("-f").arg(&config_path).arg("-db");
        Some(RunningProxy::start(command, "haproxy", dir, port, None))
    }

    fn start(
        mut command: Command,
        name: &'static str,
        dir: TempDir,
        port: u16,
        certificate: Option<CertificateDer<'static>>,
    ) -> RunningProxy {
        let output = fs::File::create(dir.path().join("output.log")).unwrap();
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut proxy = RunningProxy { addr, certificate, child, name, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("{name} exited with {status} at start:\n{}", proxy.logs());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return proxy;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen within {START_TIMEOUT:?}:\n{}",
                proxy.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The proxy's output and error log, for failure messages.
    pub fn logs(&self) -> String {
        let read = |file: &str| fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
        format!(
            "--- {} output ---\n{}--- error.log ---\n{}",
            self.name,
            read("output.log"),
            read("error.log")
        )
    }

    /// A plain WebSocket client through the proxy (HAProxy), from the loopback address
    /// `source`, with extra upgrade headers.
    pub fn connect(&self, source: &str, headers: &[(&str, &str)]) -> Result<Client, Refused> {
        Client::try_connect_with(self.addr, source, b"", headers)
    }

    /// A TLS WebSocket client through the proxy (nginx), from the loopback address
    /// `source`, with extra upgrade headers.
    pub fn connect_tls(&self, source: &str, headers: &[(&str, &str)]) -> Result<Client<TlsStream>, Refused> {
        let certificate = self.certificate.clone().expect("this proxy has no TLS");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate).expect("trust the test certificate");
        // ring builds without a C toolchain; the post-quantum key exchange it lacks (the
        // reason rustls deprecates this) does not matter on loopback.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
        let tcp = connect_from_ip(self.addr, source);
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let url = format!("wss://localhost:{}/v2/ws", self.addr.port());
        Client::handshake(rustls::StreamOwned::new(connection, tcp), &url, headers)
    }
}

/// A port nothing listens on now (bound and released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `text` with `from` replaced by `to`; `from` must be there (so the README's snippet
/// and the test cannot drift apart unnoticed).
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the proxy snippet lacks {from:?}");
    text.replace(from, to)
}

/// An HTTP request through a proxy's plain TCP port, read until it closes (unused with
/// TLS).
pub fn http_through(addr: SocketAddr, source: &str, request: &str) -> String {
    let mut stream = connect_from_ip(addr, source);
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}
