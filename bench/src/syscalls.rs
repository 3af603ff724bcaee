//! The server's system calls over a measured window, counted by `perf stat` on the
//! `raw_syscalls:sys_enter` tracepoint (Linux, where `perf` is installed and allowed to
//! trace the process: root, or `kernel.perf_event_paranoid` low enough). Socket sends
//! and receives are included, which `/proc/PID/io` does not count.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for `perf` to write its count after it is told to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `perf stat` attached to the server.
#[derive(Debug)]
pub struct SyscallCounter {
    child: Child,
    output: PathBuf,
}

impl SyscallCounter {
    /// Starts counting the system calls of process `pid`; `None` when `perf` cannot run.
    pub fn start(pid: u32) -> Option<SyscallCounter> {
        let output = std::env::temp_dir().join(format!(
            "signal-fish-bench-syscalls-{}-{pid}-{}.csv",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", &pid.to_string(), "-o"])
            .arg(&output)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(SyscallCounter { child, output })
    }

    /// Stops counting; the number of system calls since [`SyscallCounter::start`], or
    /// `None` when `perf` failed or did not report within a few seconds.
    pub fn stop(mut self) -> Option<u64> {
        // perf stat writes its count when interrupted.
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exited = interrupted
            && loop {
                match self.child.try_wait() {
                    Ok(Some(_)) => break true,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    _ => break false,
                }
            };
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let text = std::fs::read_to_string(&self.output).ok();
        let _ = std::fs::remove_file(&self.output);
        exited.then_some(())?;
        parse_count(&text?)
    }
}

/// The count of the `raw_syscalls:sys_enter` line of `perf stat -x ,` output.
fn parse_count(text: &str) -> Option<u64> {
    text.lines()
        .find(|line| line.contains("raw_syscalls:sys_enter"))
        .and_then(|line| line.split(',').next())
        .and_then(|count| count.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perf_csv_output() {
        let text = "# started on Mon Dec  7 13:20:00 2026\n\n1234,,raw_syscalls:sys_enter,100.00,,\n";
        assert_eq!(parse_count(text), Some(1234));
        assert_eq!(parse_count("<not counted>,,raw_syscalls:sys_enter,0,,\n"), None);
        assert_eq!(parse_count(""), None);
    }
}
