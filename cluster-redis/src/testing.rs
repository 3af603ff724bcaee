//! Test support: a throwaway `redis-server` child process on a free loopback port.
//!
//! For tests only (this crate's and the server's cluster tests). It panics on failure,
//! as a test helper should.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server has to answer (with its own pid).
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A `redis-server` child process bound to 127.0.0.1 on a free port, without
/// persistence. Killed (by its PID, through `Child::kill`) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server and waits (bounded) until it answers.
    ///
    /// If `redis-server` is not installed: with `CI=true` this panics, saying how to
    /// install it; otherwise it prints one `SKIPPED` line and returns `None` (the test
    /// then returns early).
    pub fn start() -> Option<RedisServer> {
        if !installed() {
            let how = "apt-get install redis-server";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed and CI=true: install it ({how}; .ci/run does)");
            }
            // Straight to stderr: the test harness captures `eprintln!`, not this.
            let _ = writeln!(std::io::stderr(), "SKIPPED: redis-server not installed; {how}");
            return None;
        }
        // A port picked by binding :0 can be taken before redis binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer { child: None, port };
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (an outage); [`restart_same_port`] brings it back, empty.
    ///
    /// [`restart_same_port`]: RedisServer::restart_same_port
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence) and waits until
    /// it answers.
    pub fn restart_same_port(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("redis-server restart on port {} failed ({e}), retrying", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("could not restart redis-server on port {}: {e}", self.port),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = std::env::temp_dir();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            // The pid, not a PONG: another test's server may have won the port, and
            // two tests sharing one Redis would see each other's keys.
            match server_pid(self.port) {
                Some(pid) if pid == child.id() => {
                    self.child = Some(child);
                    return Ok(());
                }
                Some(other) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("port {} is held by another redis-server (pid {other})", self.port));
                }
                None => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited at start ({status}), port {} taken?", self.port));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("redis-server did not answer within {READY_WITHIN:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

/// The process id the Redis server on `port` reports (`INFO server`), when one answers.
fn server_pid(port: u16) -> Option<u32> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    // The section is about 1 KiB; read until the pid's line is complete, at most 16 KiB.
    let mut reply = Vec::new();
    let mut chunk = [0u8; 2048];
    while reply.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(rest) = text.split("process_id:").nth(1) {
            if let Some((pid, _)) = rest.split_once("\r\n") {
                return pid.trim().parse().ok();
            }
        }
    }
    None
}
