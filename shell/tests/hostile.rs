//! Hostile input over real sockets: whatever one client sends (or does not send), the
//! server keeps serving everyone else, its memory stays bounded, and the offender gets
//! the specified error or close code.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_fish_server::TransportLimits;
use support::child::{ChildServer, RssPeak};
use support::frames::{self, BINARY, CONTINUATION, PING, TEXT};
use support::{assert_service, eventually, prom_metric, test_config, Client, TestServer, IO_TIMEOUT};

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

#[test]
fn oversize_and_malformed_messages_get_errors_and_lying_lengths_close_1009() {
    let mut config = test_config();
    config.security.max_message_size = 1024;
    assert_eq!(config.hard_message_cap(), 4096);
    let server = TestServer::start(config);
    let mut client = Client::connect(&server);
    let error = |client: &mut Client, text: &str| {
        client.send_json(text);
        let error = client.expect("Error");
        client.send_json(r#"{"type":"Ping"}"#);
        client.expect("Pong");
        error
    };
    // Between the limit and the hard cap: an error, and the connection lives.
    let big = format!(r#"{{"type":"Ping","pad":"{}"}}"#, "x".repeat(3000));
    assert_eq!(error(&mut client, &big)["error_code"], "MESSAGE_TOO_LARGE");
    for bad in ["{not json", "", "[1,2]", r#"{"type":"ping"}"#, r#"{"type":"JoinRoom","data":7}"#, "\u{0}"] {
        let error = error(&mut client, bad);
        assert_eq!(
            (error["message"].as_str(), error["error_code"].as_str()),
            (Some("Invalid client message"), Some("INVALID_INPUT")),
            "{bad:?}"
        );
    }
    client.send(tungstenite::Message::binary(vec![0xc1, 0xff, 0x00]));
    assert_eq!(client.expect("Error")["message"], "Binary payloads are disabled for this connection");

    // A header announcing 2^62 bytes is refused before anything is buffered.
    let lying = frames::header(true, TEXT, 1 << 62, true);
    assert_eq!(send_raw_expect_close(&server, &lying), 1009);
    // Fragments each under the cap whose sum is above it.
    let mut fragments = frames::frame(false, TEXT, &[b'x'; 3000]);
    fragments.extend(frames::frame(true, CONTINUATION, &[b'x'; 3000]));
    assert_eq!(send_raw_expect_close(&server, &fragments), 1009);
    client.send_json(r#"{"type":"Ping"}"#);
    client.expect("Pong");
    assert_service(server.addr);
}

#[test]
fn truncated_frames_end_with_the_socket_or_the_liveness_timeout() {
    let mut config = test_config();
    config.server.ping_timeout = 1;
    let server = TestServer::start(config);
    // Half a frame, then the client goes away: the server forgets the connection.
    let mut gone = Client::connect(&server);
    let mut half = frames::header(true, TEXT, 3000, true);
    half.extend(frames::masked_payload(&[b'x'; 10]));
    gone.ws.get_mut().write_all(&half).unwrap();
    drop(gone);
    assert!(eventually(|| prom_metric(server.addr, "signal_fish_connections_active") == 0));
    // Half a frame, then silence: an incomplete frame is no sign of life (1001).
    let mut stalled = Client::connect(&server);
    stalled.ws.get_mut().write_all(&half).unwrap();
    assert_service(server.addr);
    assert_eq!(stalled.expect_close().0, 1001);
    assert_service(server.addr);
}

/// Whether the server closed `stream` (end of input or reset), without waiting.
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let closed = match (&*stream).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

#[test]
fn half_open_connections_are_bounded_by_evicting_the_oldest() {
    let config = test_config();
    let limits = TransportLimits {
        head_timeout: Duration::from_secs(60),
        max_pending_heads: 50,
        ..TransportLimits::for_config(&config)
    };
    let server = TestServer::start_with_limits(config, limits);
    // 80 connections that never send a byte: 30 too many.
    let silent: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    let count_closed = |silent: &[TcpStream]| silent.iter().filter(|s| is_closed(s)).count();
    // Long before the 60 s head timeout, the oldest 30 are closed and 50 stay.
    assert!(eventually(|| count_closed(&silent) == 30), "closed: {}", count_closed(&silent));
    // New clients still get in (each evicts one more silent connection while it waits
    // for its head, for a moment).
    assert_service(server.addr);
    let closed = count_closed(&silent);
    assert!((30..=34).contains(&closed), "closed: {closed}");
}

#[test]
fn slow_or_silent_request_heads_time_out() {
    let config = test_config();
    let limits =
        TransportLimits { head_timeout: Duration::from_millis(800), ..TransportLimits::for_config(&config) };
    let server = TestServer::start_with_limits(config, limits);
    let connect = || {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    };
    let mut silent: Vec<TcpStream> = (0..10).map(|_| connect()).collect();
    let mut dribblers: Vec<TcpStream> = (0..10).map(|_| connect()).collect();
    // Slow-loris: one more header byte every 50 ms, never a complete head. The bound is
    // on the whole head, so steady trickling does not extend it.
    let head = b"GET /v2/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for stream in &mut dribblers {
        stream.write_all(head).unwrap();
    }
    let mut timed_out = vec![false; dribblers.len()];
    for round in 0..200 {
        std::thread::sleep(Duration::from_millis(50));
        for (stream, done) in dribblers.iter_mut().zip(&mut timed_out) {
            // A write fails once the server has answered and closed.
            *done |= stream.write_all(b"a").is_err();
        }
        if round == 5 {
            assert_service(server.addr);
        }
        if timed_out.iter().all(|d| *d) {
            break;
        }
    }
    for stream in &mut dribblers {
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{text:?}");
    }
    // Connections that sent nothing are closed without a word.
    for stream in &mut silent {
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("closed, not reset");
        assert!(reply.is_empty(), "{:?}", String::from_utf8_lossy(&reply));
    }
    assert_service(server.addr);
}

/// Reads until the next `Pong`; returns how many game-data frames came before it.
fn game_data_before_pong(client: &mut Client, limit: usize) -> usize {
    for seen in 0..limit {
        match client.recv()["type"].as_str() {
            Some("Pong") => return seen,
            Some("GameData") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("no Pong within {limit} messages");
}

#[test]
fn a_flooding_client_does_not_monopolise_the_server() {
    const FLOOD: usize = 100_000;
    const PROBES: usize = 20;
    let mut config = test_config();
    // Room for the whole flood in the observer's queue: this test is about reading.
    config.websocket.max_outbound_queue_bytes = 16 << 20;
    let server = TestServer::start(config);
    let connect = || Client::connect_from(server.addr, "/v2/ws", Some(&support::fresh_ip()));
    let (mut flooder, mut legit) = (connect(), connect());
    let code = flooder.join("flood", "Flooder", None)["room_code"].as_str().unwrap().to_owned();
    legit.join("flood", "Legit", Some(&code));
    flooder.expect("PlayerJoined");
    // The flood goes out in as few writes as the socket allows.
    let flood = frames::text_bytes(br#"{"type":"GameData","data":{"data":0}}"#).repeat(FLOOD);
    let writer = std::thread::spawn(move || {
        flooder.ws.get_mut().write_all(&flood).unwrap();
        flooder
    });
    // The legitimate client sees the flood relayed in the order the server processed
    // it, and its own Pongs among it: the game data before each Pong is what the
    // server took from the flooder while the Ping waited.
    assert_eq!(legit.expect("GameData")["data"], 0);
    let waits: Vec<usize> = (0..PROBES)
        .map(|_| {
            legit.send_json(r#"{"type":"Ping"}"#);
            game_data_before_pong(&mut legit, FLOOD)
        })
        .collect();
    println!("flood messages processed while a Ping waited: {waits:?}");
    let _flooder = writer.join().unwrap();
    // Every Ping was answered while the flood went on. Before the fix the flooder's
    // reader refilled the inbox without yielding and the first Ping waited behind the
    // whole flood; now the flooder has at most 8 messages in the inbox at a time.
    let total: usize = waits.iter().sum();
    assert!(total < FLOOD / 4, "{total} of {FLOOD} flood messages went before {PROBES} Pings");
    assert_service(server.addr);
}

#[test]
fn an_endless_fragmented_message_does_not_stall_the_server() {
    // Empty continuation frames add nothing to the message (so no size limit trips) and
    // produce no event (so no inbox credit is used): only the read itself costs.
    const CHUNK_FRAMES: usize = 200_000;
    const CHUNKS: usize = 100;
    let server = TestServer::start(test_config());
    let mut attacker = Client::connect(&server);
    let mut legit = Client::connect(&server);
    let mut stream = attacker.ws.get_mut().try_clone().unwrap();
    stream.write_all(&frames::frame(false, TEXT, b"{")).unwrap();
    let chunk = frames::frame(false, CONTINUATION, b"").repeat(CHUNK_FRAMES);
    let flood_over = Arc::new(AtomicBool::new(false));
    let flooder = {
        let flood_over = flood_over.clone();
        std::thread::spawn(move || {
            for _ in 0..CHUNKS {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
            flood_over.store(true, Ordering::SeqCst);
        })
    };
    // Wait until the server is busy with the flood (well under its 1.2 GB length).
    std::thread::sleep(Duration::from_millis(100));
    legit.send_json(r#"{"type":"Ping"}"#);
    legit.expect("Pong");
    // Before the fix the attacker's reader never yielded while its socket had data, and
    // nothing else ran until the flood was over.
    assert!(!flood_over.load(Ordering::SeqCst), "the Pong came only after the flood");
    assert_service(server.addr);
    // Ends the flood early: the flooder's next write fails.
    attacker.ws.get_mut().shutdown(std::net::Shutdown::Both).unwrap();
    flooder.join().unwrap();
}

/// The soft limit on open files of this process (`/proc/self/limits`).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files line");
    let soft = line.split_whitespace().nth(3).expect("soft limit");
    soft.parse().unwrap_or(usize::MAX) // "unlimited"
}

#[test]
fn thousands_of_connections_from_one_ip_are_refused_with_an_error_then_1008() {
    const WANTED: usize = 2000;
    // Client and server share this process: two descriptors per connection, plus slack.
    let limit = open_files_limit();
    let count = WANTED.min(limit.saturating_sub(300) / 2);
    if count < 200 {
        println!("skipped: open-files limit {limit} leaves room for only {count} connections (need 200)");
        return;
    }
    let config = test_config();
    assert_eq!(config.security.max_connections_per_ip, 10);
    let server = TestServer::start(config);
    // All open at once, from 127.0.0.1.
    let mut clients: Vec<Client> = (0..count).map(|_| Client::connect(&server)).collect();
    assert_service(server.addr);
    let (allowed, refused) = clients.split_at_mut(10);
    for client in refused {
        let error = client.expect("Error");
        assert_eq!(error["error_code"], "TOO_MANY_CONNECTIONS", "{error}");
        assert_eq!(error["message"], "Too many connections from your IP (10/10)");
        assert_eq!(client.expect_close().0, 1008);
    }
    for client in allowed {
        client.send_json(r#"{"type":"Ping"}"#);
        client.expect("Pong");
    }
    // Only the ten allowed ones count (the checks' own clients are gone or going).
    assert!(eventually(|| prom_metric(server.addr, "signal_fish_connections_active") == 10));
    assert_service(server.addr);
}

const MIB: u64 = 1 << 20;

#[test]
fn slow_consumers_are_closed_with_1008_and_memory_stays_bounded() {
    const NON_READERS: usize = 5;
    const MESSAGES: usize = 1000;
    const PAYLOAD: usize = 50 * 1024;
    let server = ChildServer::start("slow-consumers", &[]);
    let addr = server.addr;
    let connect = || Client::connect_from(addr, "/v2/ws", Some(&support::fresh_ip()));
    let mut sender = connect();
    let code = sender.join("slow", "Sender", None)["room_code"].as_str().unwrap().to_owned();
    let mut reader = connect();
    reader.join("slow", "Reader", Some(&code));
    sender.expect("PlayerJoined");
    let mut non_readers: Vec<Client> = (0..NON_READERS)
        .map(|i| {
            let mut client = connect();
            client.join("slow", &format!("Slow{i}"), Some(&code));
            client
        })
        .collect();
    for client in [&mut sender, &mut reader] {
        for _ in 0..NON_READERS {
            client.expect("PlayerJoined");
        }
    }
    for (i, client) in non_readers.iter_mut().enumerate() {
        for _ in i + 1..NON_READERS {
            client.expect("PlayerJoined");
        }
    }
    let baseline = server.rss();
    let peak = RssPeak::watch(server.process());

    // The non-readers read nothing until the server has closed all of them; then they
    // read what reached them, which ends with the close frame.
    let slow_closed = move || prom_metric(addr, "signal_fish_slow_consumers_closed_total") as usize;
    let non_reader_threads: Vec<_> = non_readers
        .into_iter()
        .map(|mut client| {
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    if slow_closed() == NON_READERS {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let (code, before) = client.expect_close();
                assert!(before
                    .iter()
                    .all(|m| matches!(m, tungstenite::Message::Text(t) if t.contains("GameData"))));
                code
            })
        })
        .collect();
    let progress = Arc::new(AtomicUsize::new(0));
    let read_so_far = progress.clone();
    let reader_thread = std::thread::spawn(move || {
        let mut next = 0;
        // Game data, and a PlayerLeft for each closed non-reader.
        for _ in 0..MESSAGES + NON_READERS {
            let message = reader.recv();
            match message["type"].as_str() {
                Some("GameData") => {
                    assert_eq!(message["data"]["data"]["n"], next, "in order, none lost");
                    next += 1;
                    read_so_far.store(next, Ordering::SeqCst);
                    if next == MESSAGES {
                        break;
                    }
                }
                Some("PlayerLeft") => {}
                _ => panic!("unexpected {message}"),
            }
        }
        assert_eq!(next, MESSAGES);
        reader
    });
    // 50 MB of broadcasts, each 50 KB, sent to six recipients. The sender keeps at most
    // 10 ahead of the reader (500 KB, under its 1 MiB queue bound) so the reader, which
    // parses every message, is never the slow one.
    let pad = "p".repeat(PAYLOAD);
    for n in 0..MESSAGES {
        for _ in 0..10_000 {
            if n < progress.load(Ordering::SeqCst) + 10 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sender.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{{"n":{n},"pad":"{pad}"}}}}}}"#));
    }
    let _reader = reader_thread.join().unwrap();
    for thread in non_reader_threads {
        assert_eq!(thread.join().unwrap(), 1008);
    }
    let peak = peak.stop();
    let grown = peak.saturating_sub(baseline);
    println!("server RSS {} MiB before, peak {} MiB (+{} KiB)", baseline / MIB, peak / MIB, grown / 1024);
    assert_eq!(slow_closed(), NON_READERS);
    // Each queue holds at most 1 MiB (websocket.max_outbound_queue_bytes); all the
    // queues together stay far below the 50 MB that went through.
    assert!(grown < 24 * MIB, "the server grew by {} MiB", grown / MIB);
    assert_service(addr);
}

#[test]
fn floods_of_large_messages_keep_memory_bounded() {
    const FLOODERS: usize = 10;
    const FRAME: usize = 200 * 1024;
    const FRAMES_EACH: usize = 150;
    let server = ChildServer::start("large-floods", &[]);
    let addr = server.addr;
    // Between security.max_message_size (64 KiB) and the hard cap (256 KiB): each is
    // read, buffered and answered with an error, the most inbound work per message.
    let frame = frames::text_bytes(format!(r#"{{"type":"Ping","pad":"{}"}}"#, "x".repeat(FRAME)).as_bytes());
    let baseline = server.rss();
    let peak = RssPeak::watch(server.process());
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let mut client = Client::connect_from(addr, "/v2/ws", Some(&support::fresh_ip()));
            let frame = frame.clone();
            std::thread::spawn(move || {
                for _ in 0..FRAMES_EACH {
                    client.ws.get_mut().write_all(&frame).expect("the server keeps reading");
                }
                client
            })
        })
        .collect();
    assert_service(addr);
    let flooders: Vec<Client> = flooders.into_iter().map(|t| t.join().unwrap()).collect();
    assert_service(addr);
    let peak = peak.stop();
    let grown = peak.saturating_sub(baseline);
    println!(
        "{} MB in {FLOODERS} floods: server RSS {} MiB before, peak {} MiB (+{} KiB)",
        FLOODERS * FRAMES_EACH * FRAME / 1_000_000,
        baseline / MIB,
        peak / MIB,
        grown / 1024
    );
    // Per flooder: one frame being read, at most the hard cap waiting for the engine,
    // and the queued errors.
    assert!(grown < 32 * MIB, "the server grew by {} MiB", grown / MIB);
    // Every flooder is still connected and was told, once per frame.
    for mut client in flooders {
        for _ in 0..FRAMES_EACH {
            let error = client.expect("Error");
            assert_eq!(error["error_code"], "MESSAGE_TOO_LARGE", "{error}");
        }
        client.send_json(r#"{"type":"Ping"}"#);
        client.expect("Pong");
    }
}

#[test]
fn garbage_truncated_and_oversize_request_heads() {
    let server = TestServer::start(test_config());
    let exchange = |bytes: &[u8]| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(bytes).unwrap();
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("the server closes, no reset");
        String::from_utf8_lossy(&reply).into_owned()
    };
    let status = |reply: &str| reply.split(' ').nth(1).map(str::to_owned).unwrap_or_default();
    // A TLS ClientHello, binary noise, a bare newline: not HTTP.
    for garbage in [&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], &[0xff; 64], b"\r\n\r\n"] {
        assert_eq!(status(&exchange(garbage)), "400", "{garbage:?}");
    }
    // Cut off in the middle of the head: nothing to answer.
    let truncated = exchange(b"GET /v2/ws HTTP/1.1\r\nUpgrade: webs");
    assert!(truncated.is_empty() || truncated.starts_with("HTTP/1.1 400"), "{truncated:?}");
    // Heads above 8 KiB, or with more than 64 header lines, on any path.
    let upgrade = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let long = format!("{upgrade}X-Long: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(status(&exchange(long.as_bytes())), "431");
    let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(status(&exchange(format!("{upgrade}{many}\r\n").as_bytes())), "431");
    let endless_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(20_000));
    assert_eq!(status(&exchange(endless_line.as_bytes())), "431");
    assert_service(server.addr);
}

#[test]
fn a_non_reader_holds_a_bounded_amount_in_the_servers_socket() {
    // Kernel socket buffers are memory too, shared by every TCP connection of the host:
    // left to autotuning, each non-reading client's send buffer grows to
    // net.ipv4.tcp_wmem's maximum (4 MiB by default), and a few hundred of them put the
    // whole host under TCP memory pressure.
    let server = TestServer::start(test_config());
    let mut talker = Client::connect_from(server.addr, "/v2/ws", Some(&support::fresh_ip()));
    let code = talker.join("sndbuf", "Talker", None)["room_code"].as_str().unwrap().to_owned();
    let mut silent = Client::connect_from(server.addr, "/v2/ws", Some(&support::fresh_ip()));
    silent.join("sndbuf", "Silent", Some(&code));
    talker.expect("PlayerJoined");
    // The client side keeps little: what arrives below is mostly what the server's
    // kernel held for it.
    socket2::SockRef::from(silent.ws.get_ref()).set_recv_buffer_size(64 * 1024).unwrap();
    let message = format!(r#"{{"type":"GameData","data":{{"data":"{}"}}}}"#, "s".repeat(16_000));
    let closed = || prom_metric(server.addr, "signal_fish_slow_consumers_closed_total") == 1;
    for _ in 0..2000 {
        talker.send_json(&message);
        if closed() {
            break;
        }
    }
    assert!(closed(), "the silent client was never closed");
    let (code, before) = silent.expect_close();
    assert_eq!(code, 1008);
    let received: usize = before.iter().map(|m| m.len()).sum();
    println!("a non-reader received {} KiB before its close frame", received / 1024);
    // Its own receive buffer, the server's send buffer and one write batch.
    assert!(received < 2 << 20, "{} KiB were buffered for a client that did not read", received / 1024);
    assert_service(server.addr);
}

#[test]
fn stalled_partial_frames_cost_at_most_the_hard_cap_until_the_liveness_timeout() {
    const STALLED: usize = 40;
    let server = ChildServer::start("partial-frames", &[("SIGNAL_FISH_SERVER__PING_TIMEOUT", "2")]);
    let cap = signal_fish_server::Config::default().hard_message_cap();
    assert_eq!(cap, 256 * 1024);
    let baseline = server.rss();
    // Each announces a frame just under the hard cap, sends all of it but one byte and
    // stalls: the server must buffer what came, and cannot act on it.
    let mut frame = frames::header(true, TEXT, cap as u64 - 8, true);
    frame.extend(frames::masked_payload(&vec![b'x'; cap - 9]));
    let mut stalled: Vec<Client> = (0..STALLED)
        .map(|_| {
            let mut client = Client::connect_from(server.addr, "/v2/ws", Some(&support::fresh_ip()));
            client.ws.get_mut().write_all(&frame).unwrap();
            client
        })
        .collect();
    assert_service(server.addr);
    let held = server.rss().saturating_sub(baseline);
    println!("{STALLED} stalled frames of {} KiB: server RSS +{} KiB", cap / 1024, held / 1024);
    // Bounded by the hard cap per connection (plus slack), and released by the engine's
    // liveness timer: an incomplete frame is no sign of life.
    assert!(held < (STALLED * cap) as u64 + 8 * MIB, "+{} KiB", held / 1024);
    for client in &mut stalled {
        assert_eq!(client.expect_close().0, 1001);
    }
    assert!(eventually(|| prom_metric(server.addr, "signal_fish_connections_active") == 0));
    assert_service(server.addr);
}

/// Writes `bytes` on a new connection and reads until the server closes it; `None` if it
/// kept the connection open for `IO_TIMEOUT` (what it sent so far is in the panic).
fn exchange_until_close(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&reply).into_owned()),
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                eprintln!("still open after: {:?}", String::from_utf8_lossy(&reply));
                return None;
            }
            Err(e) => panic!("reading the reply failed: {e}"),
        }
    }
}

/// The status codes of every response in `reply`, in order.
fn statuses(reply: &str) -> Vec<String> {
    reply.match_indices("HTTP/1.1 ").map(|(i, _)| reply[i + 9..].chars().take(3).collect()).collect()
}

#[test]
fn conflicting_or_duplicate_content_lengths_get_400_and_the_connection_closes() {
    let server = TestServer::start(test_config());
    // Issue 17, defect 4: a second request hidden in a body whose length the server
    // and a proxy in front of it could read differently (RFC 9112 §6.3).
    let smuggled = "GET /v2/health HTTP/1.1\r\nHost: abcd\r\n\r\n";
    assert_eq!(smuggled.len(), 39);
    let cases = [
        ("conflicting", "Content-Length: 0\r\nContent-Length: 39\r\n"),
        ("conflicting, larger first", "Content-Length: 39\r\nContent-Length: 0\r\n"),
        ("identical duplicates", "Content-Length: 39\r\nContent-Length: 39\r\n"),
        ("a list", "Content-Length: 39, 39\r\n"),
        ("with Transfer-Encoding", "Transfer-Encoding: chunked\r\nContent-Length: 39\r\n"),
        ("not a number", "Content-Length: +39\r\n"),
    ];
    for (name, framing) in cases {
        let request = format!("POST /v2/health HTTP/1.1\r\nHost: x\r\n{framing}\r\n{smuggled}");
        let reply = exchange_until_close(server.addr, request.as_bytes())
            .unwrap_or_else(|| panic!("{name}: the connection stayed open"));
        assert_eq!(statuses(&reply), ["400"], "{name}: {reply:?}");
        assert!(reply.contains("connection: close\r\n"), "{name}: {reply:?}");
    }
    // One Content-Length is fine, and a body is still never taken for a request.
    let single = format!("POST /v2/health HTTP/1.1\r\nHost: x\r\nContent-Length: 39\r\n\r\n{smuggled}");
    let reply = exchange_until_close(server.addr, single.as_bytes()).expect("closed after a body");
    assert_eq!(statuses(&reply), ["405"], "{reply:?}");
    assert_service(server.addr);
}

#[test]
fn upgrades_rfc_6455_refuses_get_400_and_never_101() {
    let server = TestServer::start(test_config());
    // Issue 17, defect 6.
    let good = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let key_of_1000 = good.replace("dGhlIHNhbXBsZSBub25jZQ==", &"QUJD".repeat(250));
    let ping = frames::text_bytes(br#"{"type":"Ping"}"#);
    let cases: Vec<(&str, String, &[u8])> = vec![
        ("HTTP/1.0", good.replace("HTTP/1.1", "HTTP/1.0"), b""),
        ("no Host", good.replace("Host: x\r\n", ""), b""),
        ("key x", good.replace("dGhlIHNhbXBsZSBub25jZQ==", "x"), b""),
        ("1,000-byte key", key_of_1000, b""),
        ("no Connection: Upgrade", good.replace("Connection: Upgrade\r\n", ""), b""),
        ("Connection: close", good.replace("Connection: Upgrade", "Connection: close"), b""),
        (
            "Connection: Upgrade, close",
            good.replace("Connection: Upgrade", "Connection: Upgrade, close"),
            b"",
        ),
        ("a body", format!("{good}Content-Length: {}\r\n", ping.len()), &ping),
        ("a chunked body", format!("{good}Transfer-Encoding: chunked\r\n"), b"0\r\n\r\n"),
    ];
    for (name, head, body) in cases {
        let mut request = format!("{head}\r\n").into_bytes();
        request.extend_from_slice(body);
        let reply = exchange_until_close(server.addr, &request)
            .unwrap_or_else(|| panic!("{name}: the connection stayed open"));
        assert_eq!(statuses(&reply), ["400"], "{name}: {reply:?}");
    }
    // A wrong or missing version still asks for 13.
    let wrong = format!("{}\r\n", good.replace("Version: 13", "Version: 8"));
    let reply = exchange_until_close(server.addr, wrong.as_bytes()).expect("closed");
    assert_eq!(statuses(&reply), ["426"], "{reply:?}");
    assert!(reply.contains("sec-websocket-version: 13\r\n"), "{reply:?}");
    // The proper handshake is accepted.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(format!("{good}\r\n").as_bytes()).unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    assert_service(server.addr);
}
