//! Serialising an engine [`HttpResponse`] (or a transport-level error) as HTTP/1.1.

use std::fmt::Write;

use bytes::Bytes;
use http_types::StatusCode;
use signal_fish_core::http::HttpResponse;

/// The response bytes. For `HEAD` (`head_only`) the body is left out but its length is
/// still announced.
pub(crate) fn encode_response(response: &HttpResponse, head_only: bool, keep_alive: bool) -> Vec<u8> {
    let reason = StatusCode::try_from(response.status).map_or("Unknown", |s| s.canonical_reason());
    let mut head = String::with_capacity(256);
    let _ = write!(head, "HTTP/1.1 {} {}\r\n", response.status, reason);
    for (name, value) in &response.headers {
        // The engine's headers are fixed strings; never let a value break the framing.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            continue;
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "content-length: {}\r\n", response.body.len());
    head.push_str(if keep_alive { "connection: keep-alive\r\n\r\n" } else { "connection: close\r\n\r\n" });
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(&response.body);
    }
    out
}

/// A plain-text response produced by the transport itself (malformed request, timeout,
/// server stopping).
pub(crate) fn simple_response(status: u16, text: &str) -> HttpResponse {
    HttpResponse {
        id: 0,
        status,
        headers: vec![("content-type".to_owned(), "text/plain; charset=utf-8".to_owned())],
        body: Bytes::copy_from_slice(text.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_headers_and_length() {
        let response = simple_response(404, "nope");
        let text = String::from_utf8(encode_response(&response, false, true)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\nnope"
        );
        let head = String::from_utf8(encode_response(&response, true, false)).unwrap();
        assert!(head.ends_with("content-length: 4\r\nconnection: close\r\n\r\n"), "{head}");
    }
}
