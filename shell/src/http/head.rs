//! Reading one HTTP/1.x request head with a size bound (the caller adds the time bound).

use std::io;

use smol::io::AsyncRead;

use crate::socket::scratch::read_with;

/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 64;

/// A parsed request line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestHead {
    /// Method as sent (`GET`, `HEAD`, …).
    pub method: String,
    /// Request target, path and query.
    pub target: String,
    /// Minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names and values in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (`Connection`, `Upgrade`) lists `token`.
    pub(crate) fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    /// Whether the client may send another request on this connection.
    pub(crate) fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.header_has_token("connection", "keep-alive")
    }

    /// Whether a body follows the head (this server never reads request bodies). The
    /// framing headers were checked when the head was parsed ([`check_body_framing`]).
    pub(crate) fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self.header("content-length").is_some_and(|v| v.trim() != "0")
    }

    /// How many header lines have this name (case-insensitive).
    pub(crate) fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }
}

/// Refuses heads whose body length is ambiguous (RFC 9112 §6.3), which a server and a
/// proxy in front of it could read differently (request smuggling): more than one
/// `Content-Length` line (even with equal values), a value that is not a decimal
/// number, or `Content-Length` together with `Transfer-Encoding`.
fn check_body_framing(head: &RequestHead) -> Result<(), String> {
    let lengths = head.header_count("content-length");
    if lengths > 1 {
        return Err(format!("{lengths} Content-Length headers (send one)"));
    }
    if let Some(value) = head.header("content-length") {
        let value = value.trim_matches([' ', '\t']);
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        if !digits || value.len() > 19 {
            return Err(format!("Content-Length {value:?} is not a decimal number of bytes"));
        }
        if head.header("transfer-encoding").is_some() {
            return Err("both Content-Length and Transfer-Encoding".to_owned());
        }
    }
    Ok(())
}

/// Why no request head could be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed the connection before sending anything.
    Closed,
    /// The head is larger than the bound, or has too many header lines.
    TooLarge,
    /// Not an HTTP/1.x request head.
    Malformed(String),
    /// The socket failed.
    Io(io::Error),
}

/// Reads until a complete head is in `buf` (which may already hold bytes from a
/// previous read), parses it and removes it from `buf`; bytes after the head stay in
/// `buf`. At most `max` bytes are buffered.
pub(crate) async fn read_head<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<RequestHead, HeadError> {
    loop {
        if let Some(head) = take_head(buf, max)? {
            return Ok(head);
        }
        read_more(reader, buf, max).await?;
    }
}

/// The head complete in `buf`, removed from it (what follows stays); `None` while it is
/// incomplete and under `max` bytes.
pub(crate) fn take_head(buf: &mut Vec<u8>, max: usize) -> Result<Option<RequestHead>, HeadError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if let Some((head, len)) = parse(buf)? {
        buf.drain(..len);
        return Ok(Some(head));
    }
    if buf.len() >= max {
        return Err(HeadError::TooLarge);
    }
    Ok(None)
}

/// One read (waiting for data) appended to `buf`, up to `max` bytes in all. The end of
/// the stream is an error: `Closed` if nothing of a head came, else `Malformed`.
pub(crate) async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), HeadError> {
    // Through the per-thread buffer: a waiting connection holds only what it received.
    let room = max.saturating_sub(buf.len());
    let n = read_with(reader, room, |bytes| buf.extend_from_slice(bytes)).await.map_err(HeadError::Io)?;
    if n == 0 {
        return Err(if buf.is_empty() {
            HeadError::Closed
        } else {
            HeadError::Malformed("connection closed in the middle of the request head".into())
        });
    }
    Ok(())
}

fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let head = RequestHead {
                method: request.method.unwrap_or_default().to_owned(),
                target: request.path.unwrap_or_default().to_owned(),
                minor_version: request.version.unwrap_or(1),
                headers: request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect(),
            };
            check_body_framing(&head).map_err(HeadError::Malformed)?;
            Ok(Some((head, len)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(format!("invalid HTTP request head: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize) -> (Result<RequestHead, HeadError>, Vec<u8>) {
        let mut reader = input;
        let mut buf = Vec::new();
        let result = smol::block_on(read_head(&mut reader, &mut buf, max));
        (result, buf)
    }

    #[test]
    fn parses_a_head_and_keeps_what_follows() {
        let (head, rest) =
            read(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nOrigin: http://o\r\n\r\nNEXT", 8192);
        let head = head.unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/metrics?x=1");
        assert_eq!(head.path(), "/metrics");
        assert_eq!(head.header("origin"), Some("http://o"));
        assert!(head.keep_alive());
        assert!(!head.has_body());
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn connection_tokens_and_versions() {
        let (head, _) = read(b"GET / HTTP/1.0\r\nConnection: Upgrade, keep-alive\r\n\r\n", 8192);
        let head = head.unwrap();
        assert!(head.header_has_token("connection", "upgrade"));
        assert!(head.keep_alive());
        let (head, _) = read(b"GET / HTTP/1.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\n", 8192);
        let head = head.unwrap();
        assert!(!head.keep_alive());
        assert!(head.has_body());
    }

    #[test]
    fn bounds_and_garbage() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(100));
        assert!(matches!(read(big.as_bytes(), 64).0, Err(HeadError::TooLarge)));
        assert!(matches!(read(b"\x16\x03\x01garbage\r\n\r\n", 8192).0, Err(HeadError::Malformed(_))));
        assert!(matches!(read(b"", 8192).0, Err(HeadError::Closed)));
        assert!(matches!(read(b"GET / HT", 8192).0, Err(HeadError::Malformed(_))));
        let many: String = (0..70).map(|i| format!("H{i}: v\r\n")).collect();
        let request = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(read(request.as_bytes(), 8192).0, Err(HeadError::TooLarge)));
    }

    #[test]
    fn ambiguous_body_lengths_are_malformed() {
        let framing =
            |headers: &str| read(format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes(), 8192).0;
        for bad in [
            "Content-Length: 0\r\nContent-Length: 39\r\n",
            "Content-Length: 5\r\ncontent-length: 5\r\n",
            "Content-Length: 5, 5\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: \r\n",
            "Content-Length: 99999999999999999999\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
        ] {
            match framing(bad) {
                Err(HeadError::Malformed(problem)) => assert!(!problem.is_empty()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(!framing("Content-Length: 0\r\n").unwrap().has_body());
        assert!(framing("Content-Length: 12\r\n").unwrap().has_body());
        assert!(framing("Transfer-Encoding: chunked\r\n").unwrap().has_body());
    }
}
