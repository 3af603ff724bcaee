//! Every client and server message type of PROTOCOL.md is exercised through the engine by
//! some test in this folder (serde-only tests in wire.rs do not count).

use signal_fish_core::protocol::{CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES};

fn engine_test_sources() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "rs") && name != "wire.rs" && name != "coverage.rs" {
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(files.len() >= 10, "engine tests found: {}", files.len());
    files
}

#[test]
fn every_client_message_is_sent_by_an_engine_test() {
    let sources = engine_test_sources();
    let missing: Vec<&str> = CLIENT_MESSAGE_TYPES
        .iter()
        .copied()
        .filter(|t| {
            let patterns =
                [format!(r#""type":"{t}""#), format!(r#"\"type\":\"{t}\""#), format!(r#""type\":\"{t}"#)];
            !sources.iter().any(|(_, src)| patterns.iter().any(|p| src.contains(p.as_str())))
        })
        .collect();
    assert!(missing.is_empty(), "client messages no engine test sends: {missing:?}");
}

#[test]
fn every_server_message_is_received_in_an_engine_test() {
    let sources = engine_test_sources();
    let missing: Vec<&str> = SERVER_MESSAGE_TYPES
        .iter()
        .copied()
        .filter(|t| {
            let quoted = format!("\"{t}\"");
            let typed = format!(r#""type":"{t}""#);
            !sources.iter().any(|(_, src)| src.contains(&quoted) || src.contains(&typed))
        })
        .collect();
    assert!(missing.is_empty(), "server messages no engine test receives: {missing:?}");
}

#[test]
fn every_emitted_error_code_is_produced_by_an_engine_test() {
    use signal_fish_core::protocol::ErrorCode;
    let sources = engine_test_sources();
    let emitted: Vec<ErrorCode> = ErrorCode::ALL.iter().copied().filter(|c| c.is_emitted()).collect();
    assert_eq!(emitted.len(), 32, "29 of v2 and the three of v3");
    let missing: Vec<&str> = emitted
        .iter()
        .map(|c| c.as_str())
        .filter(|code| !sources.iter().any(|(_, src)| src.contains(&format!("\"{code}\""))))
        .collect();
    assert!(missing.is_empty(), "error codes no engine test produces: {missing:?}");
}
