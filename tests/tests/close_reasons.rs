//! Every close reason written in the engine's sources is in `close_code::REASONS`, so a
//! close decided on another node of a cluster reaches the client with its own text
//! (DECISIONS D58). The sources are read here, outside the core, which touches no files.

use std::path::Path;

use signal_fish_core::close_code;

/// The string literal at the start of `text`, if it starts with one.
fn literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

#[test]
fn every_close_reason_of_the_engine_is_listed() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").join("core/src/engine");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("core/src/engine is readable") {
        let path = entry.expect("a directory entry").path();
        let text = std::fs::read_to_string(&path).expect("a source file");
        // A close code's name, a comma, then the reason (`close(conn, close_code::X, "…")`
        // and `Err((close_code::X, "…"))`), and `reason: "…"` in an `Action::Close`.
        let after_code = text.match_indices("close_code::").filter_map(|(i, _)| {
            let rest = &text[i + "close_code::".len()..];
            let name_end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_'))?;
            rest[name_end..].strip_prefix(',').and_then(literal)
        });
        let after_field =
            text.match_indices("reason: ").filter_map(|(i, _)| literal(&text[i + "reason: ".len()..]));
        for reason in after_code.chain(after_field) {
            found.push((path.display().to_string(), reason.to_owned()));
        }
    }
    for (path, reason) in &found {
        assert!(
            close_code::REASONS.contains(&reason.as_str()),
            "{path}: close reason {reason:?} is not in close_code::REASONS"
        );
    }
    assert!(found.len() >= 15, "the scan found only {} close reasons: {found:?}", found.len());
}
