//! The server binary as a child process: a scratch working directory, a clean
//! environment, the listening address from its start-up line, and its resident memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use signal_fish_bench::procfs::ServerProcess;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_signal-fish-server");

/// A scratch working directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sfs-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment (none of the caller's SIGNAL_FISH_* or RUST_LOG).
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for the start-up line on stdout and returns the listening address; the
/// receiver gets every later line.
pub fn wait_for_listening(child: &mut Child) -> (SocketAddr, mpsc::Receiver<String>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            let port: u16 = rest.split(' ').next().unwrap().rsplit(':').next().unwrap().parse().unwrap();
            return (SocketAddr::from(([127, 0, 0, 1], port)), rx);
        }
    }
    let _ = child.kill();
    panic!("no start-up line");
}

/// A server binary on a free port, configured by `SIGNAL_FISH_*` variables; killed (by
/// its PID) on drop.
pub struct ChildServer {
    pub addr: SocketAddr,
    child: Child,
    /// Kept so the reader thread keeps draining stdout (a full pipe would stall the server).
    _lines: mpsc::Receiver<String>,
    _scratch: Scratch,
}

impl ChildServer {
    /// Starts the binary with `env` on top of: port 0, text logs on stdout, no log file.
    pub fn start(name: &str, env: &[(&str, &str)]) -> ChildServer {
        let scratch = Scratch::new(name);
        let mut all = vec![
            ("SIGNAL_FISH_PORT", "0"),
            ("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false"),
            ("SIGNAL_FISH_LOGGING__FORMAT", "text"),
        ];
        all.extend_from_slice(env);
        let mut child = command(&scratch.0, &[], &all).stdout(Stdio::piped()).spawn().expect("spawn server");
        let (addr, lines) = wait_for_listening(&mut child);
        ChildServer { addr, child, _lines: lines, _scratch: scratch }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process, for `/proc` readings (memory, CPU time).
    pub fn process(&self) -> ServerProcess {
        ServerProcess::open("pid", self.pid()).expect("the server process is running")
    }

    /// Resident memory (`VmRSS`) in bytes.
    pub fn rss(&self) -> u64 {
        self.process().rss_bytes().expect("VmRSS of the server")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The highest resident memory of a process seen until stopped (sampled every 5 ms).
pub struct RssPeak {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssPeak {
    pub fn watch(process: ServerProcess) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            // Bounded: at most two minutes of samples; ends early if the process is gone.
            for _ in 0..24_000 {
                let Ok(rss) = process.rss_bytes() else { break };
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                peak = peak.max(rss);
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        });
        RssPeak { stop, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}
