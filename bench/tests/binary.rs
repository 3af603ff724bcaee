//! The binary end to end: flags, exit codes, and a short relay run whose last output
//! line is the JSON summary.

use std::process::Command;

use serde_json::Value;
use signal_fish_server::{Config, Server};

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_signal-fish-bench"))
}

#[test]
fn short_relay_run_prints_lines_then_json() {
    let server = Server::bind(Config::default(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || smol::block_on(server.run()));
    let output = bench()
        .args(["--server", &addr.to_string(), "--server-pid", &std::process::id().to_string()])
        .args(["relay", "--rooms", "3", "--room-size", "3", "--warmup-secs", "0.2", "--secs", "0.5"])
        .output()
        .expect("the binary runs");
    stop.shutdown();
    thread.join().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("relay: 3 rooms × 3 players"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("deliveries ")), "{stdout}");
    let json: Value = serde_json::from_str(lines.last().unwrap()).expect("JSON last");
    assert_eq!(json["scenario"], "relay");
    assert_eq!(json["lost"], 0, "{json}");
    assert!(json["deliveries_per_server_cpu_sec"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn usage_errors_exit_2_and_refusals_exit_1() {
    let usage = bench().args(["relay", "--rooms", "many"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--rooms"));
    let refused = bench().args(["--server", "192.168.1.1:3536", "relay"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));
    // Counting system calls needs a process to count them in.
    let refused = bench().args(["--count-syscalls", "relay"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--count-syscalls needs --server-pid"));
    let help = bench().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["join-storm", "relay", "fixed-rate", "idle", "soak", "mesh", "--server-pid"] {
        assert!(text.contains(word), "help lacks {word}:\n{text}");
    }
}
