//! The forwarding headers a proxy adds to a request: `Forwarded` (RFC 7239) and
//! `X-Forwarded-For`, split into their hops, each read as an IP address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The hops of `Forwarded` header values (the lines in arrival order), left (the
/// farthest) to right (the proxy nearest to the server): the `for=` value of each
/// element, still to be read with [`forwarded_node`]. Empty elements are skipped, as the
/// list syntax allows; an element without `for=`, or broken syntax anywhere, is an error.
pub(crate) fn forwarded_hops<'a>(values: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let mut hops = Vec::new();
    for value in values {
        let mut rest = *value;
        loop {
            let (element, tail) = forwarded_element(rest)?;
            match element {
                Element::Empty => {}
                Element::Pairs { for_value: Some(node) } => hops.push(node),
                Element::Pairs { for_value: None } => {
                    return Err("a Forwarded element without for=".to_owned());
                }
            }
            match tail {
                Some(tail) => rest = tail,
                None => break,
            }
        }
    }
    Ok(hops)
}

enum Element<'a> {
    Empty,
    Pairs { for_value: Option<&'a str> },
}

/// One element at the start of `text`: its `for=` value, and what follows its comma
/// (`None` at the end).
fn forwarded_element(text: &str) -> Result<(Element<'_>, Option<&str>), String> {
    let mut rest = trim_ows_start(text);
    let mut for_value = None;
    let mut any_pair = false;
    loop {
        match rest.as_bytes().first() {
            None => return Ok((finish(any_pair, for_value), None)),
            Some(b',') => return Ok((finish(any_pair, for_value), Some(&rest[1..]))),
            Some(b';') => {
                rest = trim_ows_start(&rest[1..]);
                continue;
            }
            Some(_) => {}
        }
        let name_len = rest.bytes().take_while(|&b| is_tchar(b)).count();
        let (name, after_name) = rest.split_at(name_len);
        let Some(after_equals) = after_name.strip_prefix('=').filter(|_| !name.is_empty()) else {
            return Err(format!("Forwarded header syntax error at {:?}", preview(rest)));
        };
        let (value, after_value) = if let Some(quoted) = after_equals.strip_prefix('"') {
            let end = quoted_end(quoted).ok_or("Forwarded header with an unterminated quoted string")?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let len = after_equals.bytes().take_while(|&b| is_tchar(b)).count();
            if len == 0 {
                return Err(format!("Forwarded header without a value at {:?}", preview(rest)));
            }
            after_equals.split_at(len)
        };
        if value.contains('\\') {
            return Err("Forwarded header with an escaped character in a quoted string".to_owned());
        }
        if name.eq_ignore_ascii_case("for") {
            if for_value.is_some() {
                return Err("a Forwarded element with two for= parameters".to_owned());
            }
            for_value = Some(value);
        }
        any_pair = true;
        rest = trim_ows_start(after_value);
        if !matches!(rest.as_bytes().first(), None | Some(b',' | b';')) {
            return Err(format!("Forwarded header syntax error at {:?}", preview(rest)));
        }
    }
}

fn finish(any_pair: bool, for_value: Option<&str>) -> Element<'_> {
    if any_pair {
        Element::Pairs { for_value }
    } else {
        Element::Empty
    }
}

/// The index of the closing quote of a quoted string whose opening quote is cut off.
fn quoted_end(quoted: &str) -> Option<usize> {
    let bytes = quoted.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows_start(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

fn preview(text: &str) -> String {
    text.chars().take(24).collect()
}

/// The address of a `for=` value: `192.0.2.7`, `192.0.2.7:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`. `unknown` and obfuscated identifiers (`_hidden`) name no address
/// and are errors, as is anything else.
pub(crate) fn forwarded_node(node: &str) -> Result<IpAddr, String> {
    if node.eq_ignore_ascii_case("unknown") {
        return Err("Forwarded for=unknown: the proxy does not know the client's address".to_owned());
    }
    if node.starts_with('_') {
        return Err(format!("Forwarded for={node:?} is an obfuscated identifier, not an address"));
    }
    let bad = || format!("Forwarded for={node:?} is not an IP address");
    let (host, port) = split_port(node).ok_or_else(bad)?;
    if let Some(port) = port {
        let obfuscated = port.len() > 1 && port.starts_with('_') && port[1..].bytes().all(is_tchar);
        if !obfuscated && !is_port(port) {
            return Err(bad());
        }
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => IpAddr::V6(inner.parse::<Ipv6Addr>().map_err(|_| bad())?),
        None => IpAddr::V4(host.parse::<Ipv4Addr>().map_err(|_| bad())?),
    };
    Ok(ip.to_canonical())
}

/// The hops of `X-Forwarded-For` header values (the lines in arrival order, as if joined
/// with commas), left (the farthest) to right; empty elements are skipped.
pub(crate) fn x_forwarded_for_hops<'a>(values: &[&'a str]) -> Vec<&'a str> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(|hop| hop.trim_matches([' ', '\t']))
        .filter(|hop| !hop.is_empty())
        .collect()
}

/// The address of an `X-Forwarded-For` hop: an IPv4 or IPv6 address, optionally with a
/// port (`192.0.2.7:4711`, `[2001:db8::1]:4711`); IPv6 may be bracketed.
pub(crate) fn x_forwarded_for_node(node: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Ok(ip.to_canonical());
    }
    let bad = || format!("X-Forwarded-For entry {:?} is not an IP address", preview(node));
    let (host, port) = split_port(node).ok_or_else(bad)?;
    if port.is_some_and(|port| !is_port(port)) {
        return Err(bad());
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => IpAddr::V6(inner.parse::<Ipv6Addr>().map_err(|_| bad())?),
        None => IpAddr::V4(host.parse::<Ipv4Addr>().map_err(|_| bad())?),
    };
    Ok(ip.to_canonical())
}

/// `host` and the optional port of `host[:port]`, where an IPv6 host is bracketed.
fn split_port(node: &str) -> Option<(&str, Option<&str>)> {
    if node.starts_with('[') {
        let close = node.find(']')?;
        let (host, rest) = node.split_at(close + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match node.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((node, None)),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_elements_pairs_quotes_and_lines() {
        let hops = forwarded_hops(&[
            r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#,
            r#"For="198.51.100.17:8080" , ,proto=https;for=unknown"#,
        ])
        .unwrap();
        assert_eq!(hops, ["192.0.2.60", "[2001:db8:cafe::17]:4711", "198.51.100.17:8080", "unknown"]);
        assert_eq!(forwarded_hops(&[""]).unwrap(), Vec::<&str>::new());
        assert_eq!(forwarded_hops(&[r#"by="a,b";for=192.0.2.1"#]).unwrap(), ["192.0.2.1"]);
    }

    #[test]
    fn forwarded_syntax_errors() {
        for bad in [
            "for",
            "for=",
            "=192.0.2.1",
            "for=192.0.2.1 for=192.0.2.2",
            "for=192.0.2.1;for=192.0.2.2",
            r#"for="[2001:db8::1]"#,
            r#"for="192.0.2.\"1""#,
            "proto=https",
            "for=192.0.2.1, proto=https",
            "for=[2001:db8::1]",
            "for=192.0.2.1:80",
            "for=192.0.2.1\u{fffd}",
        ] {
            assert!(forwarded_hops(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_nodes() {
        assert_eq!(forwarded_node("192.0.2.60"), Ok(ip("192.0.2.60")));
        assert_eq!(forwarded_node("192.0.2.60:4711"), Ok(ip("192.0.2.60")));
        assert_eq!(forwarded_node("192.0.2.60:_abc"), Ok(ip("192.0.2.60")));
        assert_eq!(forwarded_node("[2001:db8:cafe::17]"), Ok(ip("2001:db8:cafe::17")));
        assert_eq!(forwarded_node("[2001:db8:cafe::17]:4711"), Ok(ip("2001:db8:cafe::17")));
        assert_eq!(forwarded_node("[::ffff:192.0.2.1]"), Ok(ip("192.0.2.1")));
        assert!(forwarded_node("unknown").unwrap_err().contains("unknown"));
        assert!(forwarded_node("UNKNOWN").is_err());
        assert!(forwarded_node("_hidden").unwrap_err().contains("obfuscated"));
        for bad in [
            "2001:db8::1",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[192.0.2.1]",
            "192.0.2.1:",
            "192.0.2.1:70000",
            "192.0.2.1:_",
            "host.example",
            "",
        ] {
            assert!(forwarded_node(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn x_forwarded_for_hops_and_nodes() {
        assert_eq!(
            x_forwarded_for_hops(&["203.0.113.9, 198.51.100.1", " 10.0.0.1 ,,", "\t10.0.0.2"]),
            ["203.0.113.9", "198.51.100.1", "10.0.0.1", "10.0.0.2"]
        );
        assert_eq!(x_forwarded_for_node("192.0.2.1"), Ok(ip("192.0.2.1")));
        assert_eq!(x_forwarded_for_node("192.0.2.1:4711"), Ok(ip("192.0.2.1")));
        assert_eq!(x_forwarded_for_node("2001:db8::1"), Ok(ip("2001:db8::1")));
        assert_eq!(x_forwarded_for_node("[2001:db8::1]"), Ok(ip("2001:db8::1")));
        assert_eq!(x_forwarded_for_node("[2001:db8::1]:443"), Ok(ip("2001:db8::1")));
        assert_eq!(x_forwarded_for_node("::ffff:192.0.2.1"), Ok(ip("192.0.2.1")));
        for bad in ["unknown", "garbage", "192.0.2.256", "192.0.2.1:x", "[192.0.2.1]", "2001:db8::1:", "_x"] {
            assert!(x_forwarded_for_node(bad).is_err(), "{bad:?}");
        }
    }
}
