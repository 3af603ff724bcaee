//! The server's CPU time, resident memory and context switches, read from `/proc/PID`
//! (Linux).

use std::fs;
use std::io;

use crate::error::BenchError;

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ; 100 on Linux).
const USER_HZ: u64 = 100;

/// A process whose resources are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerProcess {
    pid: u32,
}

impl ServerProcess {
    /// Checks that `/proc/PID` can be read; the error names `flag`, the option that gave
    /// the pid.
    pub fn open(flag: &str, pid: u32) -> Result<ServerProcess, BenchError> {
        let process = ServerProcess { pid };
        process
            .cpu_ns()
            .map_err(|e| BenchError::new(format!("{flag} {pid}: cannot read /proc/{pid}: {e}")))?;
        Ok(process)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time used so far by all of its threads, in nanoseconds: the sum of each
    /// live thread's `schedstat` run time (nanosecond precision; threads that ended are
    /// not counted, which is fine for a server whose threads live as long as it does),
    /// or `stat` utime + stime (10 ms ticks) where schedstat is unavailable.
    pub fn cpu_ns(&self) -> io::Result<u64> {
        match self.schedstat_ns() {
            Ok(ns) => Ok(ns),
            Err(_) => self.stat_ns(),
        }
    }

    fn schedstat_ns(&self) -> io::Result<u64> {
        let mut total = 0u64;
        for entry in fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let path = entry?.path().join("schedstat");
            // A thread may end between listing and reading.
            let Ok(text) = fs::read_to_string(path) else { continue };
            let ns = text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok());
            total += ns.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad schedstat"))?;
        }
        Ok(total)
    }

    fn stat_ns(&self) -> io::Result<u64> {
        let text = fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may contain spaces) are space-separated.
        let after = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the full line, 12 and 13 here.
        let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        match (tick(11), tick(12)) {
            (Some(u), Some(s)) => Ok((u + s) * (1_000_000_000 / USER_HZ)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad /proc/PID/stat")),
        }
    }

    /// Context switches so far, voluntary and not, summed over its live threads.
    pub fn context_switches(&self) -> io::Result<u64> {
        let mut total = 0u64;
        for entry in fs::read_dir(format!("/proc/{}/task", self.pid))? {
            // A thread may end between listing and reading.
            let Ok(text) = fs::read_to_string(entry?.path().join("status")) else { continue };
            for line in text.lines() {
                let count = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"));
                if let Some(count) = count {
                    total += count.trim().parse::<u64>().map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            "bad ctxt_switches in /proc/PID/task/*/status",
                        )
                    })?;
                }
            }
        }
        Ok(total)
    }

    /// Open file descriptors: the entries of `/proc/PID/fd`.
    pub fn open_fds(&self) -> io::Result<u64> {
        let mut count = 0;
        for entry in fs::read_dir(format!("/proc/{}/fd", self.pid))? {
            // A descriptor that closes between listing and reading still counts.
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// Resident memory (`VmRSS`) in bytes.
    pub fn rss_bytes(&self) -> io::Result<u64> {
        let text = fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        text.lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/PID/status"))
    }
}

/// CPU time all processors spent busy so far (everything but idle and iowait in the
/// first line of `/proc/stat`), in nanoseconds at 10 ms resolution.
pub fn machine_busy_ns() -> Option<u64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: u64 =
        ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    Some(busy * (1_000_000_000 / USER_HZ))
}

/// CPU seconds between two `cpu_ns` readings.
pub fn cpu_secs(before: u64, after: u64) -> f64 {
    after.saturating_sub(before) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = ServerProcess::open("pid", std::process::id()).expect("own /proc entry");
        let before = me.cpu_ns().unwrap();
        // Spin (at most 2 s) until this thread's work shows; other test threads may end
        // meanwhile and take their time out of the sum.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while me.cpu_ns().unwrap() <= before {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "CPU time never grew");
        }
        assert!(me.stat_ns().is_ok());
        assert!(machine_busy_ns().unwrap() > 0);
        assert!(me.rss_bytes().unwrap() > 1024 * 1024);
        let switches = me.context_switches().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(me.context_switches().unwrap() > switches, "a sleep is a voluntary switch");
    }

    #[test]
    fn counts_open_descriptors() {
        use std::process::{Child, Command, Stdio};
        let spawn = |script: &str| {
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sh runs")
        };
        // Both children inherit the same descriptors from the test process; the second
        // opens three more before it sleeps.
        let mut plain = spawn("exec sleep 5");
        let mut more = spawn("exec 7</dev/null 8</dev/null 9</dev/null; exec sleep 5");
        let count = |child: &Child| {
            ServerProcess::open("pid", child.id())
                .and_then(|p| p.open_fds().map_err(|e| crate::error::BenchError::new(e.to_string())))
        };
        let started = std::time::Instant::now();
        let mut seen = (0, 0);
        // The shells need a moment to reach `sleep` (at most 2 s).
        while started.elapsed() < std::time::Duration::from_secs(2) {
            seen = (count(&plain).unwrap_or(0), count(&more).unwrap_or(0));
            if seen.0 >= 3 && seen.1 == seen.0 + 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for child in [&mut plain, &mut more] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(seen.0 >= 3, "stdin, stdout and stderr at least: {seen:?}");
        assert_eq!(seen.1, seen.0 + 3, "{seen:?}");
    }

    #[test]
    fn a_missing_process_is_named() {
        let error = ServerProcess::open("--server-pid", u32::MAX).unwrap_err();
        assert!(error.0.contains("--server-pid 4294967295"), "{error}");
        let error = ServerProcess::open("--also-pid", u32::MAX).unwrap_err();
        assert!(error.0.contains("--also-pid 4294967295: cannot read /proc/4294967295"), "{error}");
    }
}
