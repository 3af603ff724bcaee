//! The flight recorder in the binary (`--record DIR`, `recorder.*`): files and folder
//! are private, the metrics show it recording, a SIGTERM ends the last file with an end
//! record, a SIGKILL leaves a file that still replays up to the cut, and a folder that
//! cannot be created stops the start with the key named.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signal_fish_core::recording::{Record, RecordingFile, Replayer};
use support::child::{command, wait_for_listening, Scratch};
use support::{http, Client};

const ENV: &[(&str, &str)] = &[
    ("SIGNAL_FISH_PORT", "0"),
    ("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false"),
    ("SIGNAL_FISH_LOGGING__FORMAT", "text"),
];

fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, std::net::SocketAddr) {
    let all: Vec<(&str, &str)> = ENV.iter().chain(env).copied().collect();
    let mut child = command(dir, args, &all).stdout(Stdio::piped()).spawn().expect("spawn server");
    let (addr, lines) = wait_for_listening(&mut child);
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// A room of two with game data and a metrics request; returns the metrics document.
fn session(addr: std::net::SocketAddr) -> serde_json::Value {
    let mut a = Client::connect_from(addr, "/v2/ws", None);
    let mut b = Client::connect_from(addr, "/v2/ws", None);
    a.join("g", "A", Some("REC001"));
    b.join("g", "B", Some("REC001"));
    a.expect("PlayerJoined");
    for i in 0..20 {
        a.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{{"i":{i}}}}}}}"#));
        b.expect("GameData");
    }
    let reply = http(addr, "GET", "/metrics", &[]);
    assert_eq!(reply.status, 200);
    serde_json::from_str(&reply.body).unwrap()
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// How many recorded steps are game data a client sent.
fn game_data_steps(file: &RecordingFile) -> usize {
    file.records
        .iter()
        .filter(|r| matches!(r, Record::Step { event: signal_fish_core::Event::Text { text, .. }, .. } if text.contains("GameData")))
        .count()
}

/// Replays `file` verifying its digests; returns how many steps it replayed.
fn replay(file: &RecordingFile) -> u64 {
    let mut replayer = Replayer::start(file, true).unwrap_or_else(|e| panic!("{e}"));
    replayer.replay_file(file, |_, _, _| true).unwrap_or_else(|e| panic!("{e}"));
    replayer.steps()
}

#[test]
fn a_recorded_run_leaves_private_files_that_replay() {
    let scratch = Scratch::new("recorder-flag");
    let (mut child, addr) = start(&scratch.0, &["--record", "rec"], &[]);
    let metrics = session(addr);
    let recorder = find(&metrics, "recorder");
    assert_eq!(recorder["recording"], 1, "{recorder}");
    assert_eq!(recorder["files"], 1, "{recorder}");
    assert_eq!(recorder["stops"], 0, "{recorder}");
    let prom = http(addr, "GET", "/metrics/prom", &[]).body;
    assert!(prom.contains("signal_fish_recorder_recording 1"), "{prom}");

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(wait_exit(&mut child), 0);
    let dir = scratch.0.join("rec");
    assert_eq!(mode(&dir), 0o700, "the recording folder is private");
    let files = files_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600, "recording files are private");
    let file = RecordingFile::read(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(file.end.as_deref(), Some("shutdown"));
    assert_eq!(file.header.server_version, env!("CARGO_PKG_VERSION"));
    let game_data = game_data_steps(&file);
    assert_eq!(game_data, 20);
    assert!(replay(&file) > 20);
}

/// The `recorder` object wherever the metrics document has it.
fn find(value: &serde_json::Value, key: &str) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(found) = map.get(key) {
                return found.clone();
            }
            map.values().map(|v| find(v, key)).find(|v| !v.is_null()).unwrap_or(serde_json::Value::Null)
        }
        _ => serde_json::Value::Null,
    }
}

#[test]
fn a_killed_server_leaves_a_file_that_replays_up_to_the_cut() {
    let scratch = Scratch::new("recorder-kill");
    let (mut child, addr) = start(&scratch.0, &[], &[("SIGNAL_FISH_RECORDER__ENABLED", "true")]);
    session(addr);
    // Recorded bytes reach the writer within the hand-over interval (10 ms) and its
    // `write` right after; a kill before that would lose them, as a crash does.
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    wait_exit(&mut child);
    let files = files_in(&scratch.0.join("recordings"));
    assert_eq!(files.len(), 1, "{files:?}");
    let file = RecordingFile::read(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(file.end, None, "a killed server writes no end record");
    // Everything the writer had put on disk replays: the whole session.
    let game_data = game_data_steps(&file);
    assert_eq!(game_data, 20);
    assert!(replay(&file) > 20);
}

#[test]
fn a_folder_that_cannot_be_created_stops_the_start() {
    let scratch = Scratch::new("recorder-bad-dir");
    std::fs::write(scratch.0.join("taken"), b"a file, not a folder").unwrap();
    let output = command(&scratch.0, &["--record", "taken/rec"], ENV).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("recorder.dir") && stderr.contains("taken/rec"), "{stderr}");
}
