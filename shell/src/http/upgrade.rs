//! What a WebSocket opening handshake must carry (RFC 6455 §4.2.1) before the server
//! switches protocols.

use super::RequestHead;

/// Why an upgrade request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpgradeRefusal {
    /// `400 Bad Request`, with the reason.
    BadRequest(&'static str),
    /// `426 Upgrade Required`: `Sec-WebSocket-Version` is missing or not 13.
    VersionRequired,
}

/// The `Sec-WebSocket-Key` of a valid opening handshake (the request is a `GET` to the
/// WebSocket path with `Upgrade: websocket`; the caller checked that), or why it is
/// refused: HTTP/1.0, no `Host` (or two), no `Upgrade` in `Connection` or a `close` in
/// it, a body, a key that is not the base64 of 16 bytes, or a version other than 13.
pub(crate) fn check_upgrade(head: &RequestHead) -> Result<&str, UpgradeRefusal> {
    use UpgradeRefusal::BadRequest;
    if head.minor_version < 1 {
        return Err(BadRequest("a WebSocket upgrade needs HTTP/1.1"));
    }
    if head.header_count("host") != 1 {
        return Err(BadRequest("a WebSocket upgrade needs exactly one Host header"));
    }
    if !head.header_has_token("connection", "upgrade") {
        return Err(BadRequest("a WebSocket upgrade needs Connection: Upgrade"));
    }
    if head.header_has_token("connection", "close") {
        return Err(BadRequest("a WebSocket upgrade cannot have Connection: close"));
    }
    if head.has_body() {
        return Err(BadRequest("a WebSocket upgrade cannot have a body"));
    }
    let key = match head.header_count("sec-websocket-key") {
        0 => return Err(BadRequest("Sec-WebSocket-Key header missing")),
        1 => head.header("sec-websocket-key").unwrap_or_default().trim(),
        _ => return Err(BadRequest("more than one Sec-WebSocket-Key header")),
    };
    if !is_base64_of_16_bytes(key) {
        return Err(BadRequest("Sec-WebSocket-Key is not the base64 of 16 bytes"));
    }
    if head.header_count("sec-websocket-version") != 1
        || head.header("sec-websocket-version").map(str::trim) != Some("13")
    {
        return Err(UpgradeRefusal::VersionRequired);
    }
    Ok(key)
}

/// Whether `key` is the canonical base64 (with padding) of 16 bytes: 22 characters of
/// the alphabet, the last of which carries 2 bits and 4 zero bits, then `==`.
fn is_base64_of_16_bytes(key: &str) -> bool {
    let bytes = key.as_bytes();
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    bytes.len() == 24
        && bytes[..22].iter().all(alphabet)
        && b"AQgw".contains(&bytes[21])
        && &bytes[22..] == b"=="
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    fn check(head: &str) -> Result<String, UpgradeRefusal> {
        let mut buf = format!("{head}\r\n").into_bytes();
        let head = super::super::take_head(&mut buf, 8192).unwrap().unwrap();
        check_upgrade(&head).map(str::to_owned)
    }

    fn bad_request(head: &str) -> &'static str {
        match check(head) {
            Err(UpgradeRefusal::BadRequest(reason)) => reason,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn a_proper_handshake_gives_its_key() {
        assert_eq!(check(GOOD), Ok("dGhlIHNhbXBsZSBub25jZQ==".to_owned()));
        assert!(check(&format!("{GOOD}Content-Length: 0\r\n")).is_ok());
    }

    #[test]
    fn what_rfc_6455_refuses_is_a_bad_request() {
        assert!(bad_request(&GOOD.replace("HTTP/1.1", "HTTP/1.0")).contains("HTTP/1.1"));
        assert!(bad_request(&GOOD.replace("Host: x\r\n", "")).contains("Host"));
        assert!(bad_request(&GOOD.replace("Host: x\r\n", "Host: x\r\nHost: y\r\n")).contains("Host"));
        assert!(bad_request(&GOOD.replace("Connection: keep-alive, Upgrade", "Connection: keep-alive"))
            .contains("Connection: Upgrade"));
        assert!(bad_request(&GOOD.replace("Connection: keep-alive, Upgrade\r\n", "")).contains("Upgrade"));
        assert!(bad_request(&format!("{GOOD}Connection: close\r\n")).contains("close"));
        assert!(bad_request(&format!("{GOOD}Content-Length: 4\r\n")).contains("body"));
        assert!(bad_request(&format!("{GOOD}Transfer-Encoding: chunked\r\n")).contains("body"));
        assert!(bad_request(&format!("{GOOD}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"))
            .contains("more than one"));
        let thousand = "A".repeat(1000);
        for key in [
            "x",
            "",
            thousand.as_str(),
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25j*Q==",
            "dGhlIHNhbXBsZSBub25jZQ=x",
            "ZGF0YQ==",
        ] {
            let head = GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", key);
            assert!(bad_request(&head).contains("Sec-WebSocket-Key"), "{key:?}");
        }
    }

    #[test]
    fn a_wrong_or_missing_version_asks_for_13() {
        for head in [
            GOOD.replace("Version: 13", "Version: 8"),
            GOOD.replace("Sec-WebSocket-Version: 13\r\n", ""),
            format!("{GOOD}Sec-WebSocket-Version: 8\r\n"),
        ] {
            assert_eq!(check(&head), Err(UpgradeRefusal::VersionRequired), "{head:?}");
        }
    }
}
