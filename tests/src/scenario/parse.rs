//! Reading `.scn` files: a header, then stanzas of commands each followed by `----` and
//! the expected output up to a blank line. `#` starts a comment line (outside output).
//! An expected line indented by four or more spaces continues the line above it (see
//! [`super::layout`]).

use std::path::{Path, PathBuf};

use super::command::{parse_command, Command};
use super::layout::{join, lay_out};

/// Wall-clock time at the start of a scenario unless it says otherwise:
/// 2026-03-01T12:00:00Z.
pub const DEFAULT_UNIX_MS: u64 = 1_772_366_400_000;

/// The header of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Seed of the engine's randomness.
    pub seed: u64,
    /// JSON merge patches over `Config::default()`, in order, with their lines.
    pub config: Vec<(usize, serde_json::Value)>,
    /// Wall-clock time at the start, in Unix milliseconds.
    pub unix_ms: u64,
    /// Why the scenario runs only in the simulator, when it says so itself.
    pub sim_only: Option<String>,
    /// Topics the scenario declares it covers (`D9`, `timer:liveness`, …).
    pub covers: Vec<String>,
    /// Virtual time between consecutive inputs.
    pub spacing: std::time::Duration,
}

/// Virtual time between consecutive inputs unless a scenario says otherwise.
pub const DEFAULT_SPACING: std::time::Duration = std::time::Duration::from_millis(1);

/// The expected output block of a stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// 0-based index of the `----` line.
    pub separator: usize,
    /// Output lines, continuation lines joined, each with the 1-based line number where it
    /// starts: what the actual output is compared with.
    pub lines: Vec<(usize, String)>,
    /// The output lines as written in the file, with their 1-based line numbers.
    pub text: Vec<(usize, String)>,
    /// 0-based index just past the last output line.
    pub end: usize,
}

/// Commands and their expected output.
#[derive(Clone, Debug, PartialEq)]
pub struct Stanza {
    /// Commands with their 1-based line numbers.
    pub commands: Vec<(usize, Command)>,
    /// Raw command text as written (for captures' literal check), parallel to `commands`.
    pub raw: Vec<String>,
    /// The expected output, if the stanza has a `----` section.
    pub expected: Option<Expected>,
}

impl Stanza {
    /// 1-based line of the first command.
    pub fn first_line(&self) -> usize {
        self.commands.first().map_or(0, |(l, _)| *l)
    }

    /// 1-based line of the last command.
    pub fn last_line(&self) -> usize {
        self.commands.last().map_or(0, |(l, _)| *l)
    }
}

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Where it came from.
    pub path: PathBuf,
    /// Its lines as read (without line terminators).
    pub lines: Vec<String>,
    /// The header.
    pub header: Header,
    /// The stanzas.
    pub stanzas: Vec<Stanza>,
}

impl Scenario {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Scenario::parse(path, &text)
    }

    /// Parses scenario text; errors name the file and line.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, String> {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let at = |i: usize, msg: String| format!("{}:{}: {msg}", path.display(), i + 1);
        let mut header = Header {
            seed: 0,
            config: Vec::new(),
            unix_ms: DEFAULT_UNIX_MS,
            sim_only: None,
            covers: Vec::new(),
            spacing: DEFAULT_SPACING,
        };
        let mut seen_seed = false;
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            if line.is_empty() || line.starts_with('#') {
                i += 1;
                continue;
            }
            let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match word {
                "seed" => {
                    header.seed =
                        rest.parse().map_err(|_| at(i, format!("seed `{rest}` is not a number")))?;
                    seen_seed = true;
                }
                "unix_ms" => {
                    header.unix_ms =
                        rest.parse().map_err(|_| at(i, format!("unix_ms `{rest}` is not a number")))?;
                }
                "config" => {
                    let patch: serde_json::Value = serde_json::from_str(rest)
                        .map_err(|e| at(i, format!("config is not valid JSON: {e}")))?;
                    if !patch.is_object() {
                        return Err(at(i, "config must be a JSON object".to_owned()));
                    }
                    header.config.push((i + 1, patch));
                }
                "sim-only" => {
                    if rest.is_empty() {
                        return Err(at(i, "sim-only needs a reason".to_owned()));
                    }
                    header.sim_only = Some(rest.to_owned());
                }
                "covers" => header.covers.extend(rest.split_whitespace().map(str::to_owned)),
                "spacing" => header.spacing = crate::duration::parse_duration(rest).map_err(|e| at(i, e))?,
                _ => break,
            }
            i += 1;
        }
        if !seen_seed {
            return Err(at(0, "the header must give a `seed N`".to_owned()));
        }

        let mut stanzas = Vec::new();
        while i < lines.len() {
            let line = lines[i].trim();
            if line.is_empty() || line.starts_with('#') {
                i += 1;
                continue;
            }
            let mut stanza = Stanza { commands: Vec::new(), raw: Vec::new(), expected: None };
            while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
                let line = lines[i].trim();
                if !line.starts_with('#') {
                    if ["seed", "config", "unix_ms", "sim-only", "covers", "spacing"]
                        .contains(&line.split_whitespace().next().unwrap_or(""))
                    {
                        return Err(at(i, "header lines must come before the first command".to_owned()));
                    }
                    let command = parse_command(line).map_err(|e| at(i, e))?;
                    stanza.commands.push((i + 1, command));
                    stanza.raw.push(line.to_owned());
                }
                i += 1;
            }
            if i < lines.len() && lines[i].trim() == "----" {
                if stanza.commands.is_empty() {
                    return Err(at(i, "`----` without commands before it".to_owned()));
                }
                let separator = i;
                i += 1;
                let mut out = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    out.push((i + 1, lines[i].trim_end().to_owned()));
                    i += 1;
                }
                stanza.expected = Some(Expected { separator, lines: join(&out), text: out, end: i });
            }
            if !stanza.commands.is_empty() {
                stanzas.push(stanza);
            }
        }
        Ok(Scenario { path: path.to_owned(), lines, header, stanzas })
    }

    /// Why the scenario runs only in the simulator, if it does: it says so, or a command
    /// or an expected line needs time travel or engine internals.
    pub fn sim_only_reason(&self) -> Option<String> {
        if let Some(reason) = &self.header.sim_only {
            return Some(reason.clone());
        }
        if self.header.spacing != DEFAULT_SPACING {
            return Some("it sets the virtual time between inputs (`spacing`)".to_owned());
        }
        for stanza in &self.stanzas {
            for (line, command) in &stanza.commands {
                if command.sim_only() {
                    return Some(format!("line {line} uses a simulator-only command"));
                }
            }
            if let Some(expected) = &stanza.expected {
                if let Some((line, _)) = expected.lines.iter().find(|(_, l)| l.starts_with("wake ")) {
                    return Some(format!("line {line} expects a timer wake-up"));
                }
            }
        }
        None
    }

    /// The file's text with each stanza's expected output replaced by `outputs`
    /// (one entry per stanza; stanzas without a `----` section get one), each output line
    /// in its canonical layout.
    pub fn rewritten(&self, outputs: &[Vec<String>]) -> String {
        let mut out: Vec<String> = Vec::with_capacity(self.lines.len());
        let mut i = 0;
        for (stanza, output) in self.stanzas.iter().zip(outputs) {
            let (copy_to, resume) = match &stanza.expected {
                Some(e) => (e.separator, e.end),
                None => (stanza.last_line(), stanza.last_line()),
            };
            out.extend(self.lines[i..copy_to].iter().cloned());
            out.push("----".to_owned());
            out.extend(output.iter().flat_map(|line| lay_out(line)));
            i = resume;
            // Keep exactly one blank line between a stanza's output and what follows.
            if i < self.lines.len() && !self.lines[i].trim().is_empty() {
                out.push(String::new());
            }
        }
        out.extend(self.lines[i..].iter().cloned());
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# demo\nseed 7\nconfig {\"server\":{\"ping_timeout\":5}}\n\nconnect alice\nsend alice {\"type\":\"Ping\"}\n----\nalice <- {\"type\":\"Pong\"}\n\n# second\nclose alice\n";

    #[test]
    fn parses_header_and_stanzas() {
        let s = Scenario::parse(Path::new("x.scn"), TEXT).unwrap();
        assert_eq!(s.header.seed, 7);
        assert_eq!(s.header.config.len(), 1);
        assert_eq!(s.stanzas.len(), 2);
        assert_eq!(s.stanzas[0].commands.len(), 2);
        assert_eq!(
            s.stanzas[0].expected.as_ref().unwrap().lines,
            vec![(8, "alice <- {\"type\":\"Pong\"}".into())]
        );
        assert_eq!(s.stanzas[1].expected, None);
        assert_eq!(s.sim_only_reason(), None);
    }

    #[test]
    fn rewrite_replaces_and_inserts_outputs() {
        let s = Scenario::parse(Path::new("x.scn"), TEXT).unwrap();
        let text = s.rewritten(&[vec!["alice <- X".into()], vec![]]);
        assert_eq!(
            text,
            "# demo\nseed 7\nconfig {\"server\":{\"ping_timeout\":5}}\n\nconnect alice\nsend alice {\"type\":\"Ping\"}\n----\nalice <- X\n\n# second\nclose alice\n----\n"
        );
        let again = Scenario::parse(Path::new("x.scn"), &text).unwrap();
        assert_eq!(again.rewritten(&[vec!["alice <- X".into()], vec![]]), text);
    }

    #[test]
    fn errors_name_the_line() {
        let err = Scenario::parse(Path::new("x.scn"), "seed 1\nconnect alice\nsned alice x\n").unwrap_err();
        assert!(err.starts_with("x.scn:3: unknown command"), "{err}");
        let err = Scenario::parse(Path::new("x.scn"), "connect alice\n").unwrap_err();
        assert!(err.contains("seed"), "{err}");
    }
}
