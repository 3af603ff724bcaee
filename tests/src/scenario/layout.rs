//! How long expected lines are written in a file: a JSON value that does not fit in
//! [`WIDTH`] columns continues over the following lines, each indented by four or more
//! spaces. Reading joins them back (a continuation line loses its indentation and is
//! appended to the line above), and comparison is on the joined text, byte for byte, so
//! the layout changes nothing about what is checked: only the breaks between JSON tokens
//! and the indentation are free, and the frame itself is never reformatted.
//!
//! The canonical layout, which `REWRITE=1` writes, breaks a too-long object or array
//! after its opening bracket and puts each member on its own line, two spaces deeper
//! than its parent (an array of scalars fills its lines instead); a member that fits
//! stays compact on its line; closing brackets end the last member's line. An object whose members are all short scalars but the last
//! keeps them on the opening line and opens the last one there too, so a message keeps
//! its `type` on its first line:
//!
//! ```text
//! alice <- {"type":"PlayerJoined","data":{"player":{
//!     "id":"$bob",
//!     "name":"Bob",
//!     "is_authority":false,
//!     "is_ready":false,
//!     "connected_at":"$t2"}}}
//! ```

/// Lines longer than this (in characters) are broken when they hold a JSON value.
pub const WIDTH: usize = 100;

/// Indentation that marks a continuation line.
pub const CONTINUATION: &str = "    ";

/// Whether a line of expected output continues the one above it.
pub fn is_continuation(line: &str) -> bool {
    line.starts_with(CONTINUATION)
}

/// Joins physical lines (with their 1-based line numbers) into logical ones, each
/// numbered by its first line. A continuation line with nothing above it stays a line of
/// its own, indentation included (no output line starts with it, so it never matches).
pub fn join(physical: &[(usize, String)]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::with_capacity(physical.len());
    for (number, line) in physical {
        match out.last_mut() {
            Some((_, last)) if is_continuation(line) => last.push_str(line.trim_start()),
            _ => out.push((*number, line.clone())),
        }
    }
    out
}

/// The canonical physical lines of one logical output line. Lines that fit, and lines
/// that hold no JSON value (`closed`, `http`, headers, text bodies, `state`, …), are
/// returned as they are; `join` of the result is always `line` itself.
pub fn lay_out(line: &str) -> Vec<String> {
    if line.chars().count() <= WIDTH || is_continuation(line) {
        return vec![line.to_owned()];
    }
    let Some(start) = json_start(line) else { return vec![line.to_owned()] };
    let json = &line[start..];
    let Some(root) = Parser::parse(json) else { return vec![line.to_owned()] };
    let indent = line.len() - line.trim_start().len() + CONTINUATION.len();
    let mut out = Vec::new();
    Writer { text: json }.put(&root, line[..start].to_owned(), indent, "", &mut out);
    let rejoined = join(&out.iter().cloned().enumerate().collect::<Vec<_>>());
    if rejoined.len() == 1 && rejoined[0].1 == line && out[1..].iter().all(|l| is_continuation(l)) {
        out
    } else {
        vec![line.to_owned()]
    }
}

/// Where the JSON value of an output line starts: after `NAME <- ` for a text frame,
/// after `  | ` for an HTTP body.
fn json_start(line: &str) -> Option<usize> {
    let at = if let Some(body) = line.strip_prefix("  | ") {
        line.len() - body.len()
    } else {
        let (name, _) = line.split_once(" <- ")?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        name.len() + 4
    };
    matches!(line.as_bytes().get(at), Some(b'{' | b'[')).then_some(at)
}

/// A JSON value of compact text, by byte ranges.
#[derive(Debug)]
enum Node {
    Scalar(usize, usize),
    Object(usize, usize, Vec<((usize, usize), Node)>),
    Array(usize, usize, Vec<Node>),
}

impl Node {
    fn span(&self) -> (usize, usize) {
        match self {
            Node::Scalar(a, b) | Node::Object(a, b, _) | Node::Array(a, b, _) => (*a, *b),
        }
    }

    fn is_container(&self) -> bool {
        match self {
            Node::Scalar(..) => false,
            Node::Object(_, _, members) => !members.is_empty(),
            Node::Array(_, _, items) => !items.is_empty(),
        }
    }
}

/// Reads compact JSON (no whitespace between tokens); `None` for anything else.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn parse(text: &'a str) -> Option<Node> {
        let mut p = Parser { bytes: text.as_bytes(), at: 0 };
        let node = p.value(0)?;
        (p.at == p.bytes.len()).then_some(node)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > 512 {
            return None;
        }
        let start = self.at;
        match *self.bytes.get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Some(Node::Object(start, self.at, members));
                }
                loop {
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Some(Node::Object(start, self.at, members));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Node::Array(start, self.at, items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Node::Array(start, self.at, items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => {
                let (a, b) = self.string()?;
                Some(Node::Scalar(a, b))
            }
            _ => {
                while self.at < self.bytes.len() && !b",:]}{[\" \t\r\n".contains(&self.bytes[self.at]) {
                    self.at += 1;
                }
                (self.at > start).then_some(Node::Scalar(start, self.at))
            }
        }
    }

    /// A string token, quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.at;
        if !self.eat(b'"') {
            return None;
        }
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some((start, self.at));
                }
                _ => self.at += 1,
            }
        }
        None
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }
}

struct Writer<'a> {
    text: &'a str,
}

impl Writer<'_> {
    fn compact(&self, node: &Node) -> &str {
        let (a, b) = node.span();
        &self.text[a..b]
    }

    /// Appends `node` to the line begun by `prefix`, then `suffix` (what closes or
    /// follows it); member lines of a broken container are indented by `indent`.
    fn put(&self, node: &Node, prefix: String, indent: usize, suffix: &str, out: &mut Vec<String>) {
        let compact = self.compact(node);
        let width = prefix.chars().count() + compact.chars().count() + suffix.chars().count();
        if width <= WIDTH || !node.is_container() {
            out.push(format!("{prefix}{compact}{suffix}"));
            return;
        }
        let (open, close, children): (char, char, Vec<(Option<&str>, &Node)>) = match node {
            Node::Object(_, _, members) => {
                ('{', '}', members.iter().map(|((a, b), v)| (Some(&self.text[*a..*b]), v)).collect())
            }
            Node::Array(_, _, items) => ('[', ']', items.iter().map(|v| (None, v)).collect()),
            Node::Scalar(..) => unreachable!("scalars are written whole"),
        };
        let closing = format!("{close}{suffix}");
        let member = |key: Option<&str>| key.map_or(String::new(), |k| format!("{k}:"));
        let (last_key, last) = children[children.len() - 1];
        let hug = match node {
            Node::Object(..) => {
                last.is_container() && children[..children.len() - 1].iter().all(|(_, v)| !v.is_container())
            }
            _ => children.len() == 1 && matches!(last, Node::Array(..)) && last.is_container(),
        };
        if hug {
            let mut head = format!("{prefix}{open}");
            for (key, value) in &children[..children.len() - 1] {
                head.push_str(&member(*key));
                head.push_str(self.compact(value));
                head.push(',');
            }
            head.push_str(&member(last_key));
            if head.chars().count() < WIDTH {
                self.put(last, head, indent, &closing, out);
                return;
            }
        }
        out.push(format!("{prefix}{open}"));
        let pad = " ".repeat(indent);
        if open == '[' && children.iter().all(|(_, v)| !v.is_container()) {
            // Scalars fill their lines.
            let mut line = pad.clone();
            for (k, (_, value)) in children.iter().enumerate() {
                let piece = format!(
                    "{}{}",
                    self.compact(value),
                    if k + 1 == children.len() { &closing } else { "," }
                );
                if line.len() > pad.len() && line.chars().count() + piece.chars().count() > WIDTH {
                    out.push(std::mem::replace(&mut line, pad.clone()));
                }
                line.push_str(&piece);
            }
            out.push(line);
            return;
        }
        for (k, (key, value)) in children.iter().enumerate() {
            let suffix = if k + 1 == children.len() { closing.as_str() } else { "," };
            self.put(value, format!("{pad}{}", member(*key)), indent + 2, suffix, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(line: &str) -> Vec<String> {
        let lines = lay_out(line);
        let numbered: Vec<(usize, String)> = lines.iter().cloned().enumerate().collect();
        assert_eq!(join(&numbered), vec![(0, line.to_owned())], "{lines:#?}");
        lines
    }

    #[test]
    fn short_lines_and_non_json_stay() {
        assert_eq!(round_trips(r#"alice <- {"type":"Pong"}"#), vec![r#"alice <- {"type":"Pong"}"#]);
        let long = format!("alice closed 1008 \"{}\"", "x".repeat(200));
        assert_eq!(round_trips(&long), vec![long.clone()]);
        let text = format!("  | {}", "y ".repeat(100));
        assert_eq!(lay_out(&text), vec![text.clone()]);
    }

    #[test]
    fn a_message_keeps_its_type_on_the_first_line() {
        let line = r#"alice <- {"type":"PlayerJoined","data":{"player":{"id":"$bob","name":"Bob","is_authority":false,"is_ready":false,"connected_at":"$t2"}}}"#;
        assert_eq!(
            round_trips(line),
            vec![
                r#"alice <- {"type":"PlayerJoined","data":{"player":{"#,
                r#"    "id":"$bob","#,
                r#"    "name":"Bob","#,
                r#"    "is_authority":false,"#,
                r#"    "is_ready":false,"#,
                r#"    "connected_at":"$t2"}}}"#,
            ]
        );
    }

    #[test]
    fn members_that_fit_stay_compact_and_the_rest_break_deeper() {
        let player = |n: &str| {
            format!(
                r#"{{"id":"${n}","name":"{n}","is_authority":false,"is_ready":false,"connected_at":"$t1"}}"#
            )
        };
        let line = format!(
            r#"bob <- {{"type":"RoomJoined","data":{{"room_id":"$room1","current_players":[{},{}],"lobby_state":"waiting","ready_players":[]}}}}"#,
            player("alice"),
            player("bob")
        );
        assert_eq!(
            round_trips(&line),
            vec![
                r#"bob <- {"type":"RoomJoined","data":{"#.to_owned(),
                r#"    "room_id":"$room1","#.to_owned(),
                r#"    "current_players":["#.to_owned(),
                format!("      {},", player("alice")),
                format!("      {}],", player("bob")),
                r#"    "lobby_state":"waiting","#.to_owned(),
                r#"    "ready_players":[]}}"#.to_owned(),
            ]
        );
    }

    #[test]
    fn http_bodies_break_under_their_bar() {
        let line = format!(r#"  | {{"a":{{"b":"{}","c":1}},"d":2}}"#, "x".repeat(90));
        assert_eq!(
            round_trips(&line),
            vec![
                "  | {".to_owned(),
                "      \"a\":{".to_owned(),
                format!("        \"b\":\"{}\",", "x".repeat(90)),
                "        \"c\":1},".to_owned(),
                "      \"d\":2}".to_owned(),
            ]
        );
    }

    #[test]
    fn scalars_of_an_array_fill_their_lines() {
        let line = format!(
            r#"carol <- {{"type":"GameData","data":{{"from_player":"$alice","data":[{}1]}}}}"#,
            "1,".repeat(59)
        );
        let lines = round_trips(&line);
        assert_eq!(lines[0], r#"carol <- {"type":"GameData","data":{"from_player":"$alice","data":["#);
        assert_eq!(lines[1], format!("    {}", "1,".repeat(48)));
        assert_eq!(lines[2], format!("    {}1]}}}}", "1,".repeat(11)));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn deep_nesting_stays_on_few_lines() {
        let depth = 150;
        let line = format!("bob <- {{\"data\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
        let lines = round_trips(&line);
        assert!(lines.len() <= 4, "{lines:#?}");
    }

    #[test]
    fn text_that_is_not_compact_json_is_left_alone() {
        let line = format!(r#"alice <- {{"a": "{}"}}"#, "x".repeat(120));
        assert_eq!(lay_out(&line), vec![line.clone()]);
        let line = format!(r#"alice <- {{"a":"{}"}} trailing"#, "x".repeat(120));
        assert_eq!(lay_out(&line), vec![line.clone()]);
    }

    #[test]
    fn strings_with_brackets_and_escapes_are_tokens() {
        let line = format!(r#"alice <- {{"a":"{{[\"]}}","b":"{}","c":{{"d":"\\"}}}}"#, "z".repeat(100));
        let lines = round_trips(&line);
        assert!(lines.len() > 1, "{lines:#?}");
    }

    #[test]
    fn orphan_continuations_stay_apart() {
        let joined = join(&[(1, "    \"a\":1}".to_owned()), (2, "x".to_owned()), (3, "    y".to_owned())]);
        assert_eq!(joined, vec![(1, "    \"a\":1}".to_owned()), (2, "xy".to_owned())]);
    }
}
