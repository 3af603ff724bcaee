//! Observations as transcript lines.
//!
//! Output is grouped so that it does not depend on how a transport interleaves
//! connections: within each segment, connections come in the order they were opened,
//! each with its frames and close in order; then HTTP replies and state lines in order.
//! A timer that fired with visible effects starts a new segment `wake <time>`.
//!
//! ```text
//! alice <- {"type":"RoomJoined","data":{…}}
//! bob <- binary from_player=$alice encoding=message_pack payload=81a178
//! alice closed 1008 "authentication required"
//! http 200
//!   content-type: text/plain; charset=utf-8
//!   | OK
//! wake 30.001s
//! state now=30.001s connections=0 rooms=1 players=0 away=0 spectators=0
//! ```

use signal_fish_core::http::HttpResponse;
use signal_fish_core::Outbound;

use super::capture::Captures;
use crate::duration::format_secs;
use crate::frames::{parse_binary_game_data, to_hex};
use crate::observe::Observation;

/// Headers a transport adds on its own; left out so transcripts match on any transport.
const TRANSPORT_HEADERS: [&str; 6] =
    ["content-length", "date", "connection", "transfer-encoding", "server", "keep-alive"];

/// Renders one stanza's observations. `conn_order` lists connection names in opening order.
pub fn render(observations: &[Observation], conn_order: &[String], captures: &mut Captures) -> Vec<String> {
    // Own ids first, so `$bob` is named after bob even if alice sees it first.
    for o in observations {
        if let Observation::Message { conn, message: Outbound::Text(bytes) } = o {
            captures.bind_from_frame(conn, &String::from_utf8_lossy(bytes));
        }
    }
    let mut segments: Vec<(Option<String>, Vec<&Observation>)> = vec![(None, Vec::new())];
    for o in observations {
        match o {
            Observation::Wake { at } => {
                segments.push((Some(format!("wake {}", format_secs(*at))), Vec::new()))
            }
            Observation::Input => {
                // Wake-ups with nothing to show do not split the effects of inputs.
                while segments.len() > 1
                    && segments.last().is_some_and(|(h, items)| h.is_some() && items.is_empty())
                {
                    segments.pop();
                }
                if segments.last().is_some_and(|(h, _)| h.is_some()) {
                    segments.push((None, Vec::new()));
                }
            }
            other => segments.last_mut().expect("never empty").1.push(other),
        }
    }
    let mut lines = Vec::new();
    for (header, items) in segments {
        if items.is_empty() {
            continue;
        }
        lines.extend(header);
        for name in conn_order {
            for o in &items {
                match o {
                    Observation::Message { conn, message: frame } if conn == name => {
                        lines.push(format!("{conn} <- {}", render_frame(frame, captures)));
                    }
                    Observation::Closed { conn, code, reason } if conn == name => {
                        lines.push(format!("{conn} closed {code} {}", quote(reason)));
                    }
                    _ => {}
                }
            }
        }
        for o in &items {
            match o {
                Observation::Http { method, response } => render_http(method, response, captures, &mut lines),
                Observation::State(line) => lines.push(line.clone()),
                _ => {}
            }
        }
    }
    lines
}

fn render_frame(frame: &Outbound, captures: &mut Captures) -> String {
    match frame {
        Outbound::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let rendered = captures.render_json(&text);
            if rendered.contains(['\n', '\r']) {
                format!("text {}", quote(&rendered))
            } else {
                rendered
            }
        }
        Outbound::Binary(bytes) => match parse_binary_game_data(bytes) {
            Some(g) => {
                let stamp =
                    g.stamp.map(|(seq, epoch)| format!(" seq={seq} epoch={epoch}")).unwrap_or_default();
                format!(
                    "binary from_player={} encoding={} payload={}{stamp}",
                    captures.render_value("from_player", &g.from_player),
                    g.encoding,
                    to_hex(&g.payload)
                )
            }
            None => format!("binary {}", to_hex(bytes)),
        },
    }
}

fn render_http(method: &str, response: &HttpResponse, captures: &mut Captures, lines: &mut Vec<String>) {
    lines.push(format!("http {}", response.status));
    for (name, value) in &response.headers {
        if !TRANSPORT_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            lines.push(format!("  {}: {value}", name.to_ascii_lowercase()));
        }
    }
    if method == "HEAD" || response.body.is_empty() {
        return;
    }
    match std::str::from_utf8(&response.body) {
        Ok(text) if text.trim_start().starts_with('{') => {
            lines.push(format!("  | {}", captures.render_json(text.trim_end())));
        }
        Ok(text) => {
            for line in text.lines() {
                lines.push(if line.is_empty() { "  |".to_owned() } else { format!("  | {line}") });
            }
        }
        Err(_) => lines.push(format!("  | hex {}", to_hex(&response.body))),
    }
}

/// A string in double quotes with `"`, `\` and control characters escaped.
pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn groups_by_connection_and_segments_by_wake() {
        let f = |conn: &str, t: &str| Observation::Message {
            conn: conn.into(),
            message: Outbound::Text(Bytes::from(t.to_owned())),
        };
        let obs = vec![
            f("bob", r#"{"type":"Pong"}"#),
            f("alice", r#"{"type":"RoomLeft"}"#),
            Observation::Wake { at: Duration::from_secs(5) },
            Observation::Wake { at: Duration::from_millis(30_001) },
            Observation::Closed { conn: "alice".into(), code: 1001, reason: "ping timeout".into() },
        ];
        let mut c = Captures::new();
        let lines = render(&obs, &["alice".into(), "bob".into()], &mut c);
        assert_eq!(
            lines,
            vec![
                r#"alice <- {"type":"RoomLeft"}"#,
                r#"bob <- {"type":"Pong"}"#,
                "wake 30.001s",
                r#"alice closed 1001 "ping timeout""#,
            ]
        );
    }
}
