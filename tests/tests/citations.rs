//! Every citation of the reference documentation resolves to something in `docs/`.
//!
//! Code comments, tests, scenarios and the README cite the documents by name
//! (`PROTOCOL`, `BEHAVIOUR`, `OPERATIONS`, `DECISIONS`, `ARCHITECTURE`, optionally with
//! `.md`), sections after a name (`PROTOCOL §4.4`, `OPERATIONS §4–5`,
//! `BEHAVIOUR §1, §14`, `BEHAVIOUR §4.1/§5`; a `§` later on the same line without a name
//! belongs to the last name on that line, unless `RFC` comes between), and decisions by
//! id (`DECISIONS D16`, a bare `D16`, ranges `D12–D13`, `D1..D23`). Scenario `covers`
//! lines carry decision ids and `timer:<name>` tokens. Each must resolve:
//!
//! * a document name to `docs/<NAME>.md`;
//! * a section to a heading of that document containing `§<section>`;
//! * a decision to a heading `D<n> …` of `docs/DECISIONS.md`;
//! * a timer to a heading or list item of any document containing the token.
//!
//! Inside `docs/<NAME>.md` a `§` that does not directly follow a document name refers to
//! that document itself. Scenario files are read only in their `#` comment lines and `covers`
//! lines (their commands and expected output are data). A comment may wrap a citation
//! onto its next line (`DECISIONS D7,` / `//! D8`).
//!
//! Files read: every `.rs`, `.scn`, `.md`, `.toml` and `.sh` file under `core/`,
//! `shell/`, `tests/`, `scenarios/`, `bench/`, `fuzz/` and `docs/` (not `target/`,
//! `fuzz/corpus/`, `fuzz/artifacts/` or hidden folders), and `README.md`. This file is
//! left out: it spells out names that must not resolve.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Document names a citation may use. A name is resolved by the existence of
/// `docs/<NAME>.md`, so a retired name fails like a misspelt one. The retired design
/// document's name is assembled, so that no search of the tree finds it cited here.
const DOC_NAMES: [&str; 6] =
    ["ARCHITECTURE", "BEHAVIOUR", "DECISIONS", concat!("DES", "IGN"), "OPERATIONS", "PROTOCOL"];

/// Folders searched, relative to the workspace root.
const ROOTS: [&str; 7] = ["core", "shell", "tests", "scenarios", "bench", "fuzz", "docs"];

/// Single files searched.
const FILES: [&str; 1] = ["README.md"];

/// Folders never searched (besides hidden ones).
const SKIPPED_DIRS: [&str; 4] = ["target", "fuzz/corpus", "fuzz/artifacts", "fuzz/coverage"];

/// File extensions searched.
const EXTENSIONS: [&str; 5] = ["rs", "scn", "md", "toml", "sh"];

/// This file, which is not searched.
const SELF: &str = "tests/tests/citations.rs";

/// A range like `D1..D23` or `§2–5` is expanded when it spans at most this many ids.
const MAX_RANGE: u32 = 100;

/// What a citation points at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// `docs/<NAME>.md`.
    Doc(String),
    /// A `§` heading of a document.
    Section { doc: String, section: String },
    /// A decision heading of `docs/DECISIONS.md`.
    Decision(u32),
    /// A `timer:<name>` heading or list item.
    Timer(String),
    /// A word on a `covers` line that is neither a decision nor a timer.
    CoversToken(String),
}

/// One citation found in a file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Citation {
    /// 1-based line of its start.
    line: usize,
    /// What points at it, as written (newlines folded).
    text: String,
    target: Target,
}

/// What `docs/` defines.
#[derive(Debug, Default)]
struct Index {
    docs: BTreeSet<String>,
    sections: BTreeMap<String, BTreeSet<String>>,
    decisions: BTreeSet<u32>,
    timers: BTreeSet<String>,
}

impl Index {
    /// Reads every `docs/*.md`.
    fn load(docs_dir: &Path) -> Index {
        let mut docs = Vec::new();
        let entries = std::fs::read_dir(docs_dir).unwrap_or_else(|e| panic!("{}: {e}", docs_dir.display()));
        for entry in entries {
            let path = entry.expect("docs/ is readable").path();
            if path.extension().is_some_and(|e| e == "md") {
                let name = path.file_stem().expect("a file name").to_string_lossy().into_owned();
                let text =
                    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                docs.push((name, text));
            }
        }
        Index::from_docs(&docs)
    }

    /// Builds the index from `(file stem, text)` pairs.
    fn from_docs(docs: &[(String, String)]) -> Index {
        let mut index = Index::default();
        for (name, text) in docs {
            index.docs.insert(name.clone());
            let sections = index.sections.entry(name.clone()).or_default();
            for line in text.lines() {
                let line = line.trim_start();
                let heading = line.starts_with('#');
                if heading {
                    for (at, _) in line.match_indices('§') {
                        if let Some((section, _)) = parse_section(line, at + '§'.len_utf8()) {
                            sections.insert(section);
                        }
                    }
                    let title = line.trim_start_matches('#').trim_start();
                    if name == "DECISIONS" {
                        if let Some((id, _)) = parse_decision(title, 0) {
                            index.decisions.insert(id);
                        }
                    }
                }
                if heading || line.starts_with("- ") || line.starts_with("* ") {
                    for (at, _) in line.match_indices("timer:") {
                        let token: String = line[at..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-' || *c == '_')
                            .collect();
                        index.timers.insert(token);
                    }
                }
            }
        }
        index
    }

    /// Why `target` does not resolve, if it does not.
    fn problem(&self, target: &Target) -> Option<String> {
        match target {
            Target::Doc(name) => (!self.docs.contains(name)).then(|| format!("there is no docs/{name}.md")),
            Target::Section { doc, section } => match self.sections.get(doc) {
                None => Some(format!("there is no docs/{doc}.md")),
                Some(sections) if !sections.contains(section) => {
                    Some(format!("docs/{doc}.md has no heading for §{section}"))
                }
                Some(_) => None,
            },
            Target::Decision(id) => {
                (!self.decisions.contains(id)).then(|| format!("docs/DECISIONS.md has no heading for D{id}"))
            }
            Target::Timer(name) => (!self.timers.contains(name))
                .then(|| format!("no heading or list item of docs/ names `{name}`")),
            Target::CoversToken(token) => Some(format!(
                "`{token}` on a covers line is neither a decision id (D<n>) nor a timer (timer:<name>)"
            )),
        }
    }
}

/// How a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Scenario: only `#` comment lines and `covers` lines.
    Scenario,
    /// Everything else: every line.
    Text,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn char_at(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|rest| rest.chars().next())
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|before| before.chars().next_back())
}

/// A section number (`4`, `4.4`, `2.1`) starting at `at`, and where it ends. A trailing
/// dot that is not followed by a digit ends the sentence, not the number.
fn parse_section(text: &str, at: usize) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let mut end = at;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end == at {
        return None;
    }
    while end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    Some((text[at..end].to_owned(), end))
}

/// A decision id `D<digits>` at `at`, as a whole word, and where it ends.
fn parse_decision(text: &str, at: usize) -> Option<(u32, usize)> {
    if char_at(text, at) != Some('D') || char_before(text, at).is_some_and(is_word_char) {
        return None;
    }
    let digits: String = text[at + 1..].chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let end = at + 1 + digits.len();
    if char_at(text, end).is_some_and(is_word_char) {
        return None;
    }
    Some((digits.parse().ok()?, end))
}

fn skip_spaces(text: &str, mut at: usize) -> usize {
    while let Some(c) = char_at(text, at) {
        if c == ' ' || c == '\t' || c == '\n' {
            at += c.len_utf8();
        } else {
            break;
        }
    }
    at
}

/// The dash of a range at `at` (`–`, `—`, `-`, `..`, `…`), and where it ends.
fn range_dash(text: &str, at: usize) -> Option<usize> {
    ["–", "—", "..", "…", "-"].iter().find(|d| text[at..].starts_with(**d)).map(|d| at + d.len())
}

/// The ids of a range, or just its ends when it is not a small increasing range.
fn expand(from: u32, to: u32) -> Vec<u32> {
    if from <= to && to - from <= MAX_RANGE {
        (from..=to).collect()
    } else {
        vec![from, to]
    }
}

/// Sections of a range: every one between two plain numbers, else both ends.
fn expand_sections(from: &str, to: &str) -> Vec<String> {
    match (from.parse::<u32>(), to.parse::<u32>()) {
        (Ok(a), Ok(b)) => expand(a, b).into_iter().map(|n| n.to_string()).collect(),
        _ => vec![from.to_owned(), to.to_owned()],
    }
}

/// The sections cited right after a document name (`§4`, `§4–5`, `§1, §14`,
/// `§4.1/§5`, `§5 and §6`), starting at `at`; returns them and where the chain ends.
fn section_chain(text: &str, at: usize) -> (Vec<String>, usize) {
    let mut sections = Vec::new();
    let mut at = skip_spaces(text, at);
    let mut end = at;
    while text[at..].starts_with('§') {
        let Some((first, after)) = parse_section(text, at + '§'.len_utf8()) else { break };
        end = after;
        let mut last = vec![first.clone()];
        // A range: `§4–5`, `§5–§6`.
        let dash_at = skip_spaces(text, after);
        if let Some(next) = range_dash(text, dash_at) {
            let mut to_at = skip_spaces(text, next);
            if text[to_at..].starts_with('§') {
                to_at += '§'.len_utf8();
            }
            if let Some((to, after_to)) = parse_section(text, to_at) {
                last = expand_sections(&first, &to);
                end = after_to;
            }
        }
        sections.extend(last);
        // A list: `, §14`, `/§5`, ` and §6`, ` or §7`.
        let sep_at = skip_spaces(text, end);
        let rest = &text[sep_at..];
        let next = if rest.starts_with(',') || rest.starts_with('/') {
            Some(sep_at + 1)
        } else if rest.starts_with("and ") || rest.starts_with("or ") {
            Some(sep_at + rest.find(' ').expect("checked"))
        } else {
            None
        };
        match next.map(|n| skip_spaces(text, n)) {
            Some(n) if text[n..].starts_with('§') => at = n,
            _ => break,
        }
    }
    (sections, end)
}

/// Every citation in a file's text. `self_doc` is the document's own name when the
/// file is `docs/<NAME>.md` (its bare `§` refer to itself).
fn scan(text: &str, kind: Kind, self_doc: Option<&str>) -> Vec<Citation> {
    // Lines with their comment markers removed, so a citation wrapped onto the next
    // comment line reads as one; scenario data lines are blanked.
    let mut cleaned = Vec::new();
    let mut covers_lines = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let keep = match kind {
            Kind::Scenario => line.starts_with('#') || line.starts_with("covers"),
            Kind::Text => true,
        };
        if !keep {
            cleaned.push(String::new());
            continue;
        }
        let stripped = ["//!", "///", "//"]
            .iter()
            .find_map(|marker| line.strip_prefix(marker))
            .unwrap_or_else(|| line.trim_start_matches('#'))
            .trim_start();
        if kind == Kind::Scenario && line.starts_with("covers") {
            covers_lines.push((number + 1, line.to_owned()));
        }
        cleaned.push(stripped.to_owned());
    }
    let mut starts = Vec::with_capacity(cleaned.len());
    let mut joined = String::new();
    for line in &cleaned {
        starts.push(joined.len());
        joined.push_str(line);
        joined.push('\n');
    }
    let line_of = |at: usize| starts.partition_point(|&s| s <= at);
    let shown = |from: usize, to: usize| joined[from..to].split_whitespace().collect::<Vec<_>>().join(" ");

    let mut found = Vec::new();
    // The last document named on the current line: (name, line).
    let mut current: Option<(&str, usize)> = None;
    let mut at = 0;
    while at < joined.len() {
        let c = char_at(&joined, at).expect("in bounds");
        let word_start = !char_before(&joined, at).is_some_and(is_word_char);
        if word_start && c.is_ascii_uppercase() {
            if let Some(name) = DOC_NAMES.iter().find(|n| joined[at..].starts_with(**n)) {
                let mut end = at + name.len();
                if joined[end..].starts_with(".md") {
                    end += 3;
                }
                if !char_at(&joined, end).is_some_and(is_word_char) {
                    let line = line_of(at);
                    found.push(Citation {
                        line,
                        text: shown(at, end),
                        target: Target::Doc((*name).to_owned()),
                    });
                    let (sections, chain_end) = section_chain(&joined, end);
                    let end = if sections.is_empty() { end } else { chain_end };
                    for section in sections {
                        found.push(Citation {
                            line,
                            text: shown(at, end),
                            target: Target::Section { doc: (*name).to_owned(), section },
                        });
                    }
                    current = Some((name, line));
                    at = end;
                    continue;
                }
            }
            if joined[at..].starts_with("RFC") && !char_at(&joined, at + 3).is_some_and(is_word_char) {
                current = None;
            }
            if let Some((id, end)) = parse_decision(&joined, at) {
                let mut ids = vec![id];
                let mut text_end = end;
                let mut next = end;
                if joined[next..].starts_with('`') {
                    next += 1;
                }
                if let Some(mut to_at) = range_dash(&joined, next) {
                    if joined[to_at..].starts_with('`') {
                        to_at += 1;
                    }
                    if let Some((to, to_end)) = parse_decision(&joined, to_at) {
                        ids = expand(id, to);
                        text_end = to_end;
                    }
                }
                let line = line_of(at);
                for id in ids {
                    found.push(Citation { line, text: shown(at, text_end), target: Target::Decision(id) });
                }
                at = end;
                continue;
            }
        }
        if c == '§' {
            if let Some((section, end)) = parse_section(&joined, at + c.len_utf8()) {
                let line = line_of(at);
                let doc = self_doc.or(match current {
                    Some((name, doc_line)) if doc_line == line => Some(name),
                    _ => None,
                });
                if let Some(doc) = doc {
                    found.push(Citation {
                        line,
                        text: format!("{} (in {doc})", shown(at, end)),
                        target: Target::Section { doc: doc.to_owned(), section },
                    });
                }
                at = end;
                continue;
            }
        }
        at += c.len_utf8();
    }

    for (line, text) in covers_lines {
        for token in text.split_whitespace().skip(1) {
            let target = if token.starts_with("timer:") {
                Target::Timer(token.to_owned())
            } else if parse_decision(token, 0).is_some_and(|(_, end)| end == token.len()) {
                continue; // found by the scan above
            } else {
                Target::CoversToken(token.to_owned())
            };
            found.push(Citation { line, text: token.to_owned(), target });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The unresolved citations of one file's text, as `path:line: ...` lines.
fn check_text(index: &Index, path: &str, text: &str) -> Vec<String> {
    let kind = if path.ends_with(".scn") { Kind::Scenario } else { Kind::Text };
    let self_doc = path
        .strip_prefix("docs/")
        .and_then(|name| name.strip_suffix(".md"))
        .and_then(|name| DOC_NAMES.iter().copied().find(|n| *n == name));
    scan(text, kind, self_doc)
        .into_iter()
        .filter_map(|c| index.problem(&c.target).map(|why| format!("{path}:{}: `{}`: {why}", c.line, c.text)))
        .collect()
}

/// Every file to read, relative to `root`, sorted.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = relative(root, &path);
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRS.iter().any(|s| relative == *s || name == *s) {
                    walk(root, &path, out);
                }
            } else if path.extension().is_some_and(|e| EXTENSIONS.iter().any(|x| e == *x)) && relative != SELF
            {
                out.push(relative);
            }
        }
    }
    let mut out = Vec::new();
    for dir in ROOTS {
        walk(root, &root.join(dir), &mut out);
    }
    out.extend(FILES.iter().filter(|f| root.join(f).is_file()).map(|f| (*f).to_owned()));
    out.sort();
    out
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

#[test]
fn every_citation_resolves_to_a_heading_in_docs() {
    let root = workspace_root();
    let index = Index::load(&root.join("docs"));
    let files = files(&root);
    let mut problems = Vec::new();
    let mut citations = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else { continue };
        let kind = if file.ends_with(".scn") { Kind::Scenario } else { Kind::Text };
        citations += scan(&text, kind, None).len();
        problems.extend(check_text(&index, file, &text));
    }
    println!("citations: {citations} in {} files, {} unresolved", files.len(), problems.len());
    assert!(files.len() > 100, "expected the whole tree, found {} files", files.len());
    assert!(citations > 100, "expected many citations, found {citations}");
    assert!(
        problems.is_empty(),
        "{} citation(s) do not resolve to a heading in docs/:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A small set of documents for the checker's own tests.
fn sample_index() -> Index {
    let doc = |name: &str, text: &str| (name.to_owned(), text.to_owned());
    Index::from_docs(&[
        doc("DECISIONS", "# Decisions\n### D1 — One\n### D2 — Two\n### D3 — Three\n"),
        doc("BEHAVIOUR", "## §1 One\n### §1.1 Sub\n## §2 Two\n- `timer:liveness` — closes\n"),
        doc("ARCHITECTURE", "# Architecture\n"),
    ])
}

#[test]
fn an_unresolved_decision_is_reported_with_its_file_and_line() {
    let index = sample_index();
    // Built at run time, so the scan of the tree never sees the id in this file.
    let text = format!("fn main() {{}}\n// The rule of DECISIONS D{} applies.\n", 999);
    let problems = check_text(&index, "core/src/x.rs", &text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("core/src/x.rs:2: `D999`:"), "{}", problems[0]);
    assert!(problems[0].contains("no heading for D999"), "{}", problems[0]);
}

#[test]
fn chains_ranges_wrapped_lines_and_bare_sections_are_all_checked() {
    let index = sample_index();
    let ok = "//! (BEHAVIOUR §1, §1.1; DECISIONS D1–D3, D2).\n//! See ARCHITECTURE and BEHAVIOUR.md §2.\n";
    assert_eq!(check_text(&index, "a.rs", ok), Vec::<String>::new());
    let bad = concat!(
        "//! BEHAVIOUR §1, §7 and DECISIONS D2,\n",
        "//! D4. Also BEHAVIOUR §1–3, then the rules of §9, not RFC 6455 §5.\n",
        "//! PROTOCOL §1.\n",
    );
    let problems = check_text(&index, "a.rs", bad);
    let lines: Vec<&str> = problems.iter().map(|p| p.split(": `").next().unwrap()).collect();
    assert_eq!(lines, ["a.rs:1", "a.rs:2", "a.rs:2", "a.rs:2", "a.rs:3", "a.rs:3"], "{problems:#?}");
    let all = problems.join("\n");
    for needle in ["§7", "D4", "§3", "§9", "no docs/PROTOCOL.md"] {
        assert!(all.contains(needle), "{needle} not reported:\n{all}");
    }
    assert!(!all.contains("§5"), "an RFC section was taken for a citation:\n{all}");
}

#[test]
fn scenario_covers_lines_and_comments_are_checked_but_not_their_data() {
    let index = sample_index();
    let scn = concat!(
        "# Liveness (BEHAVIOUR §2, D1).\n",
        "seed 1\n",
        "covers D1 D5 timer:liveness timer:nap stuff\n",
        "\n",
        "send alice {\"type\":\"GameData\",\"data\":{\"data\":\"D77 BEHAVIOUR §9\"}}\n",
    );
    let problems = check_text(&index, "scenarios/x.scn", scn);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems.iter().all(|p| p.starts_with("scenarios/x.scn:3: ")), "{problems:#?}");
    let all = problems.join("\n");
    assert!(all.contains("D5") && all.contains("timer:nap") && all.contains("`stuff`"), "{all}");
}

#[test]
fn a_retired_document_name_does_not_resolve() {
    let index = sample_index();
    let name = ["DES", "IGN"].concat();
    let problems = check_text(&index, "shell/src/y.rs", &format!("// ({name}: transport limits)\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&format!("there is no docs/{name}.md")), "{}", problems[0]);
}

#[test]
fn inside_a_document_a_bare_section_refers_to_itself() {
    let index = sample_index();
    let text = "## §1 One\nSee §2 and §4; DECISIONS D1 says why (§1.1).\n";
    let problems = check_text(&index, "docs/BEHAVIOUR.md", text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("docs/BEHAVIOUR.md:2: `§4 (in BEHAVIOUR)`"), "{}", problems[0]);
}
