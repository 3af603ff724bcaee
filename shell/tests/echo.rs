//! The echo server (`signal_fish_server::echo`): the server's WebSocket transport with
//! an echo in the engine's place, as the Autobahn|Testsuite drives it
//! (`shell/autobahn/run.sh`). Each test here pins a behaviour the suite checks, with
//! hand-built frames sent the way the suite sends them (several frames in one write).

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_fish_server::echo::EchoServer;
use signal_fish_server::ShutdownHandle;
use support::frames::{self, BINARY, CONTINUATION, PING, TEXT};
use support::{test_config, Client, IO_TIMEOUT};
use tungstenite::Message;

/// An echo server on its own thread; shut down and joined on drop.
struct Echo {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(max_message_bytes: usize) -> Echo {
        let server = EchoServer::bind(test_config(), "127.0.0.1:0".parse().unwrap())
            .expect("bind")
            .with_max_message_bytes(max_message_bytes);
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || smol::block_on(server.run()));
        Echo { addr, handle, thread: Some(thread) }
    }

    fn connect(&self) -> Client {
        Client::connect_from(self.addr, "/v2/ws", None)
    }

    fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("echo server thread panicked");
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_raw(client: &mut Client, bytes: &[u8]) {
    client.ws.get_mut().write_all(bytes).expect("write raw bytes");
}

/// The next frame of any kind, pings and pongs included.
fn read(client: &mut Client) -> Message {
    client.ws.read().unwrap_or_else(|e| panic!("read failed: {e}"))
}

fn close_code(message: &Message) -> Option<u16> {
    match message {
        Message::Close(Some(frame)) => Some(u16::from(frame.code)),
        _ => None,
    }
}

#[test]
fn messages_come_back_unchanged_whatever_their_fragmentation() {
    let echo = Echo::start(1 << 20);
    let mut client = echo.connect();
    client.send(Message::text("héllo"));
    assert_eq!(client.recv_message(), Message::text("héllo"));
    client.send(Message::binary(vec![0u8, 255, 7]));
    assert_eq!(client.recv_message(), Message::binary(vec![0u8, 255, 7]));
    // A text message in three fragments, a character cut between two of them, and a
    // ping among them: the ping is answered, the message comes back whole.
    let mut input = frames::frame(false, TEXT, b"ab\xe2");
    input.extend(frames::frame(true, PING, b"mid"));
    input.extend(frames::frame(false, CONTINUATION, b"\x82"));
    input.extend(frames::frame(true, CONTINUATION, b"\xac!"));
    write_raw(&mut client, &input);
    assert_eq!(read(&mut client), Message::Pong(b"mid".to_vec().into()));
    assert_eq!(read(&mut client), Message::text("ab€!"));
    // A large binary message (several reads and writes on the way).
    let large: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
    client.send(Message::binary(large.clone()));
    assert_eq!(client.recv_message(), Message::binary(large));
    client.ws.close(None).unwrap();
    assert!(matches!(read(&mut client), Message::Close(None)));
}

#[test]
fn every_ping_sent_at_once_gets_its_pong_in_order() {
    // Autobahn 2.10: ten pings in one write. Only the last was answered before.
    let echo = Echo::start(1 << 20);
    let mut client = echo.connect();
    let payloads: Vec<String> = (0..10).map(|i| format!("payload-{i}")).collect();
    let input: Vec<u8> = payloads.iter().flat_map(|p| frames::frame(true, PING, p.as_bytes())).collect();
    write_raw(&mut client, &input);
    for payload in &payloads {
        assert_eq!(read(&mut client), Message::Pong(payload.as_bytes().to_vec().into()));
    }
}

#[test]
fn a_message_before_a_protocol_violation_is_answered_before_the_close() {
    // Autobahn 3.2, 4.1.3, 5.15: a message, then a faulty frame, then a ping, in one
    // write. The echo of the message used to be lost: the close was requested before
    // the echo task (the engine, in the server) had answered the message.
    let echo = Echo::start(1 << 20);
    let reserved_bits = {
        let mut frame = frames::frame(true, TEXT, b"Hello, world!");
        frame[0] |= 0x20;
        frame
    };
    let reserved_opcode = frames::frame(true, 0x5, b"");
    let stray_continuation = frames::frame(false, CONTINUATION, b"fragment3");
    for faulty in [reserved_bits, reserved_opcode, stray_continuation] {
        let mut client = echo.connect();
        let mut input = frames::frame(true, TEXT, b"Hello, world!");
        input.extend(faulty);
        input.extend(frames::frame(true, PING, b""));
        write_raw(&mut client, &input);
        assert_eq!(read(&mut client), Message::text("Hello, world!"));
        let close = read(&mut client);
        assert_eq!(close_code(&close), Some(1002), "{close:?}");
    }
}

#[test]
fn invalid_utf8_closes_the_connection_before_the_message_ends() {
    // Autobahn 6.4.1: a valid first fragment, then a fragment that makes the message
    // invalid, then nothing. The close (1007) comes at once, not after the last
    // fragment (which never comes here).
    let echo = Echo::start(1 << 20);
    let mut client = echo.connect();
    let mut input = frames::frame(false, TEXT, "κόσμε".as_bytes());
    input.extend(frames::frame(false, CONTINUATION, b"\xf4\x90\x80\x80"));
    write_raw(&mut client, &input);
    let started = Instant::now();
    let close = read(&mut client);
    assert_eq!(close_code(&close), Some(1007), "{close:?}");
    assert!(started.elapsed() < IO_TIMEOUT);
    // The same inside one frame whose end never comes (Autobahn 6.4.3).
    let mut client = echo.connect();
    let payload = b"\xce\xba\xe1\xbd\xb9\xf4\x90\x80\x80edited";
    let whole = frames::frame(true, TEXT, payload);
    write_raw(&mut client, &whole[..whole.len() - payload.len() + 7]);
    let close = read(&mut client);
    assert_eq!(close_code(&close), Some(1007), "{close:?}");
}

#[test]
fn the_message_cap_is_the_echo_servers_own_and_above_it_is_1009() {
    let cap = 256 * 1024;
    let echo = Echo::start(cap);
    let mut client = echo.connect();
    client.send(Message::binary(vec![1u8; cap]));
    assert_eq!(client.recv_message(), Message::binary(vec![1u8; cap]));
    // Announced above the cap: refused from the header alone.
    write_raw(&mut client, &frames::header(true, BINARY, cap as u64 + 1, true));
    let close = read(&mut client);
    assert_eq!(close_code(&close), Some(1009), "{close:?}");
}

#[test]
fn plain_http_is_not_found_and_shutdown_closes_with_1001() {
    let mut echo = Echo::start(1 << 20);
    let reply = support::http_raw(echo.addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(reply.status, 404);
    let mut client = echo.connect();
    client.send(Message::text("still here"));
    assert_eq!(client.recv_message(), Message::text("still here"));
    let started = Instant::now();
    let stopper = {
        let handle = echo.handle.clone();
        std::thread::spawn(move || handle.shutdown())
    };
    let close = read(&mut client);
    assert_eq!(close_code(&close), Some(1001), "{close:?}");
    let _ = client.ws.flush();
    stopper.join().unwrap();
    echo.stop();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(TcpStream::connect(echo.addr).is_err(), "still listening after shutdown");
}
