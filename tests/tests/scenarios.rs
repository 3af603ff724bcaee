//! Replays every scenario under `scenarios/` in the simulator (each twice; traces must be
//! identical) and checks that a changed expected line is caught and pointed at.
//!
//! `REWRITE=1 cargo test -p signal-fish-sim --test scenarios` regenerates expected output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use signal_fish_sim::scenario::{collect, run_file, Scenario, Status};

/// Runs from the workspace root so reports read `scenarios/rooms/x.scn:12`.
fn at_workspace_root() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent");
        std::env::set_current_dir(root).expect("workspace root exists");
    });
}

fn scenario_files() -> (Vec<PathBuf>, Vec<PathBuf>) {
    at_workspace_root();
    collect(&[PathBuf::from("scenarios")]).expect("scenarios/ is readable")
}

#[test]
fn every_scenario_replays_deterministically() {
    let (files, pending) = scenario_files();
    let rewrite = std::env::var("REWRITE").is_ok_and(|v| v == "1");
    let mut failed = Vec::new();
    let mut stanzas = 0;
    for file in &files {
        let outcome = run_file(file, rewrite);
        stanzas += outcome.stanzas;
        if outcome.status == Status::Failed {
            failed.push(outcome.report);
        }
    }
    for report in &failed {
        eprintln!("{report}\n");
    }
    // Written past the test harness's capture so `cargo test` always shows the count.
    let _ = writeln!(
        std::io::stdout(),
        "scenarios: {} run in the simulator ({stanzas} stanzas), {} passed, {} failed, {} pending (scenarios/pending)",
        files.len(),
        files.len() - failed.len(),
        failed.len(),
        pending.len()
    );
    assert!(files.len() >= 3, "expected the scenario library under scenarios/, found {}", files.len());
    assert!(failed.is_empty(), "{} scenario(s) failed; reports above", failed.len());
}

/// Every scenario, with one expected line changed (or one removed), must fail with a
/// report naming that file and line.
#[test]
fn a_changed_expected_line_is_reported_at_its_line() {
    let (files, _) = scenario_files();
    let scratch = std::env::temp_dir().join(format!("signal-fish-sim-mutations-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("temp dir");
    let mut checked = 0;
    for (n, file) in files.iter().enumerate() {
        let scenario = Scenario::load(file).expect("parses");
        let outputs: Vec<(usize, String)> = scenario
            .stanzas
            .iter()
            .filter_map(|s| s.expected.as_ref())
            .flat_map(|e| e.text.clone())
            .collect();
        if outputs.is_empty() {
            continue;
        }
        // A different line for each file, spread over the transcript.
        let (line, text) = &outputs[(n * 7919) % outputs.len()];
        for (kind, replacement) in [("changed", Some(format!("{text}x"))), ("removed", None)] {
            let mut lines = scenario.lines.clone();
            match &replacement {
                Some(r) => lines[line - 1] = r.clone(),
                None => {
                    lines.remove(line - 1);
                }
            }
            let copy = scratch.join(format!("{n}-{kind}.scn"));
            std::fs::write(&copy, lines.join("\n") + "\n").expect("write copy");
            let outcome = run_file(&copy, false);
            assert_eq!(
                outcome.status,
                Status::Failed,
                "{kind} line {line} of {} went unnoticed",
                file.display()
            );
            // Removing one of several identical neighbouring lines may be reported at any of them.
            let (mut first, mut last) = (*line, *line);
            if replacement.is_none() {
                while first > 1 && scenario.lines[first - 2] == *text {
                    first -= 1;
                }
                while last < scenario.lines.len() && scenario.lines[last] == *text {
                    last += 1;
                }
            }
            let pointed = (first..=last)
                .any(|l| outcome.report.contains(&format!("{}:{l}: output differs", copy.display())));
            assert!(
                pointed,
                "{kind} line {line} of {}: report does not point at it:\n{}",
                file.display(),
                outcome.report
            );
            checked += 1;
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    assert!(checked > 0);
    let _ = writeln!(
        std::io::stdout(),
        "mutations: {checked} changed or removed expected lines were each reported at their line"
    );
}

/// A hand-written scenario whose `RoomJoined` is written over several lines, in the
/// layout `REWRITE=1` writes.
const MULTI_LINE: &str = r#"seed 1

connect alice
send alice {"type":"JoinRoom","data":{"game_name":"space-race","player_name":"Alice"}}
----
alice <- {"type":"RoomJoined","data":{
    "room_id":"$room1",
    "room_code":"$code1",
    "player_id":"$alice",
    "game_name":"space-race",
    "max_players":8,
    "supports_authority":true,
    "current_players":[
      {"id":"$alice","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"$t1"}],
    "is_authority":true,
    "lobby_state":"waiting",
    "ready_players":[],
    "relay_type":"matchbox",
    "current_spectators":[]}}
"#;

/// A value written over several lines is compared whole, byte for byte; a difference in
/// one nested field fails, reported at that field's own line with a `-`/`+` diff.
#[test]
fn a_nested_field_of_a_multi_line_value_is_reported_at_its_line() {
    at_workspace_root();
    let scratch = std::env::temp_dir().join(format!("signal-fish-sim-multi-line-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("temp dir");
    let path = scratch.join("multi_line.scn");
    std::fs::write(&path, MULTI_LINE).expect("write");
    let outcome = run_file(&path, false);
    assert_eq!(outcome.status, Status::Passed, "{}", outcome.report);

    let cases = [
        // (line, expected text as changed, line as the server sent it)
        (11, r#"    "max_players":9,"#, r#"    "max_players":8,"#),
        (
            14,
            r#"      {"id":"$alice","name":"Alice","is_authority":false,"is_ready":false,"connected_at":"$t1"}],"#,
            r#"      {"id":"$alice","name":"Alice","is_authority":true,"is_ready":false,"connected_at":"$t1"}],"#,
        ),
        (19, r#"    "current_spectators":[]}}}"#, r#"    "current_spectators":[]}}"#),
    ];
    for (line, changed, actual) in cases {
        let mut lines: Vec<String> = MULTI_LINE.lines().map(str::to_owned).collect();
        assert_eq!(lines[line - 1], actual, "the test's own line {line}");
        lines[line - 1] = changed.to_owned();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let outcome = run_file(&path, false);
        assert_eq!(outcome.status, Status::Failed, "line {line} changed went unnoticed");
        let at = format!("{}:{line}: output differs", path.display());
        assert!(
            outcome.report.starts_with(&at),
            "line {line}: report does not point at it:\n{}",
            outcome.report
        );
        let shown = format!("  {line:>5} - {changed}\n        + {actual}\n");
        assert!(outcome.report.contains(&shown), "line {line}: no -/+ diff of it:\n{}", outcome.report);
    }

    // Joining is exact: a space where the compact frame has none is a difference.
    let spaced = MULTI_LINE.replace(r#""max_players":8,"#, r#""max_players": 8,"#);
    std::fs::write(&path, spaced).expect("write");
    assert_eq!(run_file(&path, false).status, Status::Failed, "a space inside a joined value went unnoticed");
    std::fs::remove_dir_all(&scratch).ok();
}

/// Every scenario's expected output is written in the layout `REWRITE=1` writes, so
/// long values stay reviewable line by line.
#[test]
fn every_scenario_is_in_the_canonical_layout() {
    let (files, _) = scenario_files();
    let mut off = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file).expect("parses");
        let Some(outputs) = scenario
            .stanzas
            .iter()
            .map(|s| s.expected.as_ref().map(|e| e.lines.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>()))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        if scenario.rewritten(&outputs) != scenario.lines.join("\n") + "\n" {
            off.push(file.display().to_string());
        }
    }
    assert!(
        off.is_empty(),
        "not in the layout REWRITE=1 writes (run `REWRITE=1 cargo run -p signal-fish-sim -- run FILE`):\n  {}",
        off.join("\n  ")
    );
}
