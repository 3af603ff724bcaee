//! Hostile input over real sockets: whatever one client sends (or does not send), the
//! server keeps serving everyone else, its memory stays bounded, and the offender gets
//! the specified error or close code.

mod support;

use std::io::Write;

use support::frames::{self, BINARY, CONTINUATION, PING, TEXT};
use support::{assert_service, test_config, Client, TestServer};

/// Sends raw bytes on an upgraded connection, then expects the server's close frame.
fn send_raw_expect_close(server: &TestServer, bytes: &[u8]) -> u16 {
    let mut client = Client::connect(server);
    client.ws.get_mut().write_all(bytes).expect("write raw bytes");
    client.expect_close().0
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = TestServer::start(test_config());
    // A lone continuation byte, an overlong encoding, a UTF-16 surrogate.
    for bad in [&b"{\"type\":\"Ping\",\"x\":\"\x80\"}"[..], b"\xc0\xaf", b"\xed\xa0\x80"] {
        assert_eq!(send_raw_expect_close(&server, &frames::text_bytes(bad)), 1007, "{bad:?}");
    }
    // The same check applies to a text message split over several frames.
    let mut split = frames::frame(false, TEXT, b"ab\xe2");
    split.extend(frames::frame(true, CONTINUATION, b"\x28\xa1"));
    assert_eq!(send_raw_expect_close(&server, &split), 1007);
    assert_service(server.addr);
}

#[test]
fn websocket_protocol_violations_close_with_1002() {
    let server = TestServer::start(test_config());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked frame", frames::unmasked(TEXT, br#"{"type":"Ping"}"#)),
        ("reserved bits", {
            let mut f = frames::text_bytes(br#"{"type":"Ping"}"#);
            f[0] |= 0x40;
            f
        }),
        ("reserved data opcode", frames::frame(true, 0x3, b"x")),
        ("reserved control opcode", frames::frame(true, 0xb, b"")),
        ("continuation with nothing to continue", frames::frame(true, CONTINUATION, b"x")),
        ("new message inside a fragmented one", {
            let mut f = frames::frame(false, TEXT, b"{");
            f.extend(frames::frame(true, BINARY, b"x"));
            f
        }),
        ("fragmented ping", frames::frame(false, PING, b"")),
        ("ping above 125 bytes", frames::frame(true, PING, &[0u8; 126])),
        ("close frame with a one-byte payload", frames::frame(true, 0x8, b"x")),
    ];
    for (name, bytes) in cases {
        assert_eq!(send_raw_expect_close(&server, &bytes), 1002, "{name}");
    }
    assert_service(server.addr);
}
