//! Scenario input commands, one per line.
//!
//! ```text
//! connect NAME [mesh] [ip=IP] [path=TARGET]
//!                                         open a WebSocket (default 127.0.0.1, /v2/ws);
//!                                         `mesh`: a matchbox peer on the mesh port (path /ROOM)
//! send NAME JSON                          a text frame (the rest of the line, verbatim)
//! send-binary NAME HEX | msgpack JSON     a binary frame (hex, or JSON encoded as MessagePack)
//! pong NAME                               a WebSocket-level Pong frame
//! close NAME                              the client closes cleanly
//! drop NAME                               the connection drops abruptly
//! stall NAME                              the client stops reading: frames for it are held
//! backlog NAME                            the connection's writer backs up (slow reader);
//!                                         held frames go back to the engine as unsent
//! advance DURATION | advance next         move the virtual clock (fires due timers)
//! stabilize                               let every pending timeout play out
//! http METHOD TARGET [{"header":"value"}] an HTTP request on the server port
//! state                                   print a summary of the engine's state
//! shutdown                                the server is told to shut down
//! ```

use std::net::IpAddr;
use std::time::Duration;

use signal_fish_core::Endpoint;

use crate::duration::parse_duration;

/// A binary payload as written in a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinarySpec {
    /// Hex digits (spaces allowed).
    Hex(String),
    /// JSON text to encode as MessagePack.
    MsgPack(String),
}

/// One input command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Open a connection.
    Connect {
        /// Connection name.
        name: String,
        /// Client IP.
        ip: IpAddr,
        /// Upgrade target (path and query).
        target: String,
        /// The main port's `/v2/ws`, or the matchbox full-mesh port.
        endpoint: Endpoint,
    },
    /// Text frame (may contain `$captures`).
    Send {
        /// Connection name.
        name: String,
        /// Outbound text as written.
        text: String,
    },
    /// Binary frame.
    SendBinary {
        /// Connection name.
        name: String,
        /// Payload.
        data: BinarySpec,
    },
    /// WebSocket Pong frame.
    Pong(String),
    /// Clean close by the client.
    Close(String),
    /// Abrupt drop.
    Drop(String),
    /// Client stops reading.
    Stall(String),
    /// Writer backed up.
    Backlog(String),
    /// Move the clock.
    Advance(Duration),
    /// Jump to the next deadline.
    AdvanceNext,
    /// Let pending timeouts play out.
    Stabilize,
    /// HTTP request.
    Http {
        /// Method.
        method: String,
        /// Target (may contain `$captures`).
        target: String,
        /// Headers.
        headers: Vec<(String, String)>,
    },
    /// State summary.
    State,
    /// Server shutdown.
    Shutdown,
}

impl Command {
    /// Whether only the simulator can run this command (it travels in time, peeks at
    /// state, or fakes a transport condition).
    pub fn sim_only(&self) -> bool {
        matches!(
            self,
            Command::Advance(_)
                | Command::AdvanceNext
                | Command::Stabilize
                | Command::State
                | Command::Shutdown
                | Command::Backlog(_)
                | Command::Stall(_)
                // The real-socket replayer's barrier is a JSON `Pong`, which a mesh peer
                // never gets; shell/tests/mesh.rs covers the mesh over real sockets.
                | Command::Connect { endpoint: Endpoint::Mesh, .. }
        )
    }

    /// The connection a command is about, if any.
    pub fn conn(&self) -> Option<&str> {
        match self {
            Command::Connect { name, .. } | Command::Send { name, .. } | Command::SendBinary { name, .. } => {
                Some(name)
            }
            Command::Pong(n)
            | Command::Close(n)
            | Command::Drop(n)
            | Command::Backlog(n)
            | Command::Stall(n) => Some(n),
            _ => None,
        }
    }
}

/// The default client address.
pub const DEFAULT_IP: &str = "127.0.0.1";
/// The default upgrade target.
pub const DEFAULT_TARGET: &str = "/v2/ws";

/// Parses one command line.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let one_name = |what: &str| -> Result<String, String> {
        let name =
            rest.split_whitespace().next().ok_or_else(|| format!("`{what}` needs a connection name"))?;
        if rest.split_whitespace().count() > 1 {
            return Err(format!("`{what}` takes only a connection name, got `{rest}`"));
        }
        check_name(name)?;
        Ok(name.to_owned())
    };
    match verb {
        "connect" => {
            let mut words = rest.split_whitespace();
            let name = words.next().ok_or("`connect` needs a connection name")?;
            check_name(name)?;
            let mut ip: IpAddr = DEFAULT_IP.parse().expect("valid default");
            let mut target = None;
            let mut endpoint = Endpoint::V2;
            for word in words {
                if word == "mesh" {
                    endpoint = Endpoint::Mesh;
                } else if let Some(v) = word.strip_prefix("ip=") {
                    ip = v.parse().map_err(|_| format!("`{v}` is not an IP address"))?;
                } else if let Some(v) = word.strip_prefix("path=") {
                    if !v.starts_with('/') {
                        return Err(format!("path `{v}` must start with `/`"));
                    }
                    target = Some(v.to_owned());
                } else {
                    return Err(format!("unknown `connect` option `{word}` (use mesh, ip=… or path=…)"));
                }
            }
            let default = if endpoint == Endpoint::Mesh { "/" } else { DEFAULT_TARGET };
            let target = target.unwrap_or_else(|| default.to_owned());
            Ok(Command::Connect { name: name.to_owned(), ip, target, endpoint })
        }
        "send" => {
            let (name, text) = split_name(rest, "send")?;
            Ok(Command::Send { name, text: text.to_owned() })
        }
        "send-binary" => {
            let (name, payload) = split_name(rest, "send-binary")?;
            let data = match payload.strip_prefix("msgpack") {
                Some(json) if json.starts_with(char::is_whitespace) => {
                    BinarySpec::MsgPack(json.trim().to_owned())
                }
                _ => {
                    crate::frames::from_hex(payload)?;
                    BinarySpec::Hex(payload.to_owned())
                }
            };
            Ok(Command::SendBinary { name, data })
        }
        "pong" => Ok(Command::Pong(one_name("pong")?)),
        "close" => Ok(Command::Close(one_name("close")?)),
        "drop" => Ok(Command::Drop(one_name("drop")?)),
        "backlog" => Ok(Command::Backlog(one_name("backlog")?)),
        "stall" => Ok(Command::Stall(one_name("stall")?)),
        "advance" if rest == "next" => Ok(Command::AdvanceNext),
        "advance" => Ok(Command::Advance(parse_duration(rest)?)),
        "stabilize" | "state" | "shutdown" if !rest.is_empty() => Err(format!("`{verb}` takes no arguments")),
        "stabilize" => Ok(Command::Stabilize),
        "state" => Ok(Command::State),
        "shutdown" => Ok(Command::Shutdown),
        "http" => {
            let mut parts = rest.splitn(3, char::is_whitespace);
            let method =
                parts.next().filter(|m| !m.is_empty()).ok_or("`http` needs a method and a target")?;
            if !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("HTTP method `{method}` must be uppercase (GET, HEAD, OPTIONS, …)"));
            }
            let target = parts.next().ok_or("`http` needs a target such as /v2/health")?;
            if !target.starts_with('/') {
                return Err(format!("HTTP target `{target}` must start with `/`"));
            }
            let headers = match parts.next().map(str::trim).filter(|h| !h.is_empty()) {
                None => Vec::new(),
                Some(json) => {
                    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
                        .map_err(|e| format!("HTTP headers must be a JSON object of strings: {e}"))?;
                    map.into_iter()
                        .map(|(k, v)| match v {
                            serde_json::Value::String(s) => Ok((k, s)),
                            other => Err(format!("header `{k}` must be a string, got {other}")),
                        })
                        .collect::<Result<_, _>>()?
                }
            };
            Ok(Command::Http { method: method.to_owned(), target: target.to_owned(), headers })
        }
        "" => Err("empty command".to_owned()),
        other => Err(format!(
            "unknown command `{other}` (expected connect, send, send-binary, pong, close, drop, stall, backlog, \
             advance, stabilize, http, state or shutdown)"
        )),
    }
}

fn split_name<'a>(rest: &'a str, verb: &str) -> Result<(String, &'a str), String> {
    let (name, payload) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("`{verb}` needs a connection name and a payload"))?;
    check_name(name)?;
    Ok((name.to_owned(), payload.trim()))
}

/// Connection names: lowercase letters, digits and `_`, starting with a letter, and not
/// shaped like a capture name (`room1`, `code2`, `token3`, `t4`, `id5`).
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!("connection name `{name}` must be lowercase letters, digits and `_`"));
    }
    if crate::scenario::capture::is_reserved_name(name) {
        return Err(format!("connection name `{name}` looks like a capture name; choose another"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_verb() {
        assert_eq!(
            parse_command("connect alice ip=10.0.0.2 path=/v2/ws?reconnection_token=true").unwrap(),
            Command::Connect {
                name: "alice".into(),
                ip: "10.0.0.2".parse().unwrap(),
                target: "/v2/ws?reconnection_token=true".into(),
                endpoint: Endpoint::V2,
            }
        );
        assert_eq!(
            parse_command("connect alice mesh path=/room?next=2").unwrap(),
            Command::Connect {
                name: "alice".into(),
                ip: "127.0.0.1".parse().unwrap(),
                target: "/room?next=2".into(),
                endpoint: Endpoint::Mesh,
            }
        );
        assert_eq!(
            parse_command(r#"send bob {"type":"Ping"}"#).unwrap(),
            Command::Send { name: "bob".into(), text: r#"{"type":"Ping"}"#.into() }
        );
        assert_eq!(
            parse_command("send-binary bob msgpack {\"a\":1}").unwrap(),
            Command::SendBinary { name: "bob".into(), data: BinarySpec::MsgPack("{\"a\":1}".into()) }
        );
        assert_eq!(
            parse_command("send-binary bob 81 a1").unwrap(),
            Command::SendBinary { name: "bob".into(), data: BinarySpec::Hex("81 a1".into()) }
        );
        assert_eq!(parse_command("advance 30s").unwrap(), Command::Advance(Duration::from_secs(30)));
        assert_eq!(parse_command("advance next").unwrap(), Command::AdvanceNext);
        assert_eq!(
            parse_command(r#"http GET /metrics {"authorization":"Bearer x"}"#).unwrap(),
            Command::Http {
                method: "GET".into(),
                target: "/metrics".into(),
                headers: vec![("authorization".into(), "Bearer x".into())]
            }
        );
        assert!(parse_command("connect Alice").is_err());
        assert!(parse_command("connect room1").is_err());
        assert!(parse_command("sned alice {}").unwrap_err().contains("unknown command"));
        assert!(parse_command("close alice bob").is_err());
        assert!(parse_command("http get /").is_err());
    }
}
