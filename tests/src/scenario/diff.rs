//! A readable line diff between a stanza's expected and actual output, pointing at file
//! lines.
//!
//! Whether they differ is decided on whole output lines (continuation lines joined), byte
//! for byte; how they differ is shown line by line as written in the file, the actual
//! output laid out the way `REWRITE=1` would write it, so a difference in one field of a
//! long value points at that field's own line.

use std::path::Path;

use super::layout::{join, lay_out};

/// Longest stanza output compared line by line with LCS (beyond it, a plain listing).
const MAX_LCS_LINES: usize = 4000;

#[derive(Debug, PartialEq, Eq)]
enum Edit {
    Same(usize, usize),
    Removed(usize),
    Added(usize),
}

fn edits(a: &[&str], b: &[&str]) -> Vec<Edit> {
    let (n, m) = (a.len(), b.len());
    if n > MAX_LCS_LINES || m > MAX_LCS_LINES {
        let mut out: Vec<Edit> = (0..n).map(Edit::Removed).collect();
        out.extend((0..m).map(Edit::Added));
        return out;
    }
    // lcs[i][j] = LCS length of a[i..], b[j..]
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Edit::Same(i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Edit::Removed(i));
            i += 1;
        } else {
            out.push(Edit::Added(j));
            j += 1;
        }
    }
    out
}

/// Describes how `actual` (output lines) differs from `expected` (lines as written in the
/// file, with 1-based file numbers), or `None` if they are equal. `anchor` is the file
/// line where output for an empty expectation would go.
pub fn diff(path: &Path, anchor: usize, expected: &[(usize, String)], actual: &[String]) -> Option<String> {
    let joined: Vec<String> = join(expected).into_iter().map(|(_, l)| l).collect();
    if joined == actual {
        return None;
    }
    let laid_out: Vec<String> = actual.iter().flat_map(|l| lay_out(l)).collect();
    let a: Vec<&str> = expected.iter().map(|(_, l)| l.as_str()).collect();
    let b: Vec<&str> = laid_out.iter().map(String::as_str).collect();
    let script = edits(&a, &b);
    let first_line = script
        .iter()
        .find_map(|e| match e {
            Edit::Removed(i) => Some(expected[*i].0),
            Edit::Added(_) => None,
            Edit::Same(..) => None,
        })
        .or_else(|| {
            // Only additions: point at the line after the last common one.
            let mut line = anchor;
            for e in &script {
                match e {
                    Edit::Same(i, _) => line = expected[*i].0 + 1,
                    Edit::Added(_) => break,
                    Edit::Removed(_) => {}
                }
            }
            Some(line)
        })
        .unwrap_or(anchor);
    let mut out = format!("{}:{first_line}: output differs (- expected, + actual):\n", path.display());
    let changed: Vec<bool> = script.iter().map(|e| !matches!(e, Edit::Same(..))).collect();
    let near = |k: usize| changed[k.saturating_sub(1)..(k + 2).min(changed.len())].iter().any(|c| *c);
    let mut skipped = false;
    let mut last_removed: Option<&str> = None;
    for (k, e) in script.iter().enumerate() {
        match e {
            Edit::Same(i, _) if near(k) => {
                out.push_str(&format!("  {:>5}   {}\n", expected[*i].0, a[*i]));
                skipped = false;
            }
            Edit::Same(..) => {
                if !skipped {
                    out.push_str("    ...\n");
                    skipped = true;
                }
            }
            Edit::Removed(i) => {
                out.push_str(&format!("  {:>5} - {}\n", expected[*i].0, a[*i]));
                last_removed = Some(a[*i]);
            }
            Edit::Added(j) => {
                out.push_str(&format!("        + {}\n", b[*j]));
                if let Some(removed) = last_removed.take() {
                    out.push_str(&column_hint(removed, b[*j]));
                }
            }
        }
    }
    Some(out)
}

/// Where two long lines first differ, with a little context.
fn column_hint(expected: &str, actual: &str) -> String {
    if expected.len() < 60 {
        return String::new();
    }
    let at = expected.bytes().zip(actual.bytes()).take_while(|(x, y)| x == y).count();
    let start = floor_char(expected, at.saturating_sub(20));
    let excerpt = |s: &str| {
        let from = floor_char(s, start);
        let to = floor_char(s, (at + 30).min(s.len()));
        s.get(from..to).unwrap_or("").to_owned()
    };
    format!(
        "          first difference at column {}: expected `…{}…`, actual `…{}…`\n",
        at + 1,
        excerpt(expected),
        excerpt(actual)
    )
}

fn floor_char(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(lines: &[&str]) -> Vec<(usize, String)> {
        lines.iter().enumerate().map(|(i, l)| (10 + i, (*l).to_owned())).collect()
    }

    #[test]
    fn equal_is_none() {
        assert_eq!(diff(Path::new("a.scn"), 9, &exp(&["x"]), &["x".into()]), None);
    }

    #[test]
    fn points_at_the_changed_line() {
        let d = diff(Path::new("a.scn"), 9, &exp(&["x", "y", "z"]), &["x".into(), "Y".into(), "z".into()])
            .unwrap();
        assert!(d.starts_with("a.scn:11: output differs"), "{d}");
        assert!(d.contains("     11 - y\n        + Y\n"), "{d}");
    }

    #[test]
    fn one_field_of_a_long_value_is_pointed_at() {
        let actual = r#"alice <- {"type":"PlayerJoined","data":{"player":{"id":"$bob","name":"Bob","is_authority":false,"is_ready":false,"connected_at":"$t2"}}}"#;
        let mut expected: Vec<(usize, String)> =
            lay_out(actual).into_iter().enumerate().map(|(i, l)| (10 + i, l)).collect();
        assert_eq!(diff(Path::new("a.scn"), 9, &expected, &[actual.to_owned()]), None);
        expected[3].1 = expected[3].1.replace("false", "true");
        let d = diff(Path::new("a.scn"), 9, &expected, &[actual.to_owned()]).unwrap();
        assert!(d.starts_with("a.scn:13: output differs"), "{d}");
        assert!(
            d.contains("     13 -     \"is_authority\":true,\n        +     \"is_authority\":false,\n"),
            "{d}"
        );
    }

    #[test]
    fn a_layout_other_than_the_canonical_one_is_equal() {
        let expected = exp(&["alice <- {\"a\":1,", "      \"b\":2}", "bob closed 1000 \"\""]);
        let actual = vec!["alice <- {\"a\":1,\"b\":2}".to_owned(), "bob closed 1000 \"\"".to_owned()];
        assert_eq!(diff(Path::new("a.scn"), 9, &expected, &actual), None);
        let spaced = vec!["alice <- {\"a\":1, \"b\":2}".to_owned(), actual[1].clone()];
        assert!(diff(Path::new("a.scn"), 9, &expected, &spaced).is_some());
    }

    #[test]
    fn additions_point_after_common_lines() {
        let d = diff(Path::new("a.scn"), 9, &exp(&["x"]), &["x".into(), "new".into()]).unwrap();
        assert!(d.starts_with("a.scn:11:"), "{d}");
    }
}
