//! Signal Fish protocol v2 served with plain std threads and blocking WebSockets: no
//! async runtime at all. It shows what any host must do to drive the Sans-IO engine.
//!
//! - The accept loop gives each WebSocket connection a thread that reads its frames and
//!   writes what the engine routed to it.
//! - One thread owns the [`Engine`]: it receives events over a bounded std channel, steps
//!   the engine with a real clock mapped to core [`Instant`]s through
//!   [`signal_fish_core::host::Host`] (which routes `Send`/`Close` actions to connections
//!   and handles clients that stop reading), and sleeps in `recv_timeout` until the
//!   engine's `poll_timeout`.
//!
//! Run it with `cargo run -p signal-fish-core --example blocking_server [ADDR]`
//! (default `127.0.0.1:3536`) and connect to `ws://ADDR/v2/ws`. HTTP endpoints are not
//! served here; the real server is the `signal-fish-server` crate.

// This file is the host, not the core: clocks and threads belong here.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signal_fish_core::host::{Host, Transport};
use signal_fish_core::http::HttpResponse;
use signal_fish_core::{CloseCause, Config, ConnId, Endpoint, Engine, Event, Instant, Outbound};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Error as WsError, Message, WebSocket};

/// Events connection threads may have in flight before they wait for the engine.
const INBOX_FRAMES: usize = 4096;
/// Frames queued for one connection before the engine is told it is not reading.
const OUTBOX_FRAMES: usize = 1024;
/// How long a connection thread waits for input before it looks at its outbox again.
const POLL: Duration = Duration::from_millis(5);
/// A client that does not take a frame for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What connection threads tell the engine thread.
enum Input {
    /// A new connection and the outbox the engine routes its frames to.
    Opened { event: Event, outbox: SyncSender<Output> },
    /// Anything else (frames, closes).
    Event(Event),
}

/// What the engine thread asks a connection thread to write.
enum Output {
    Outbound(Outbound),
    Close(u16, &'static str),
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3536".to_owned());
    let listener = TcpListener::bind(&addr)?;
    println!("serving ws://{}/v2/ws", listener.local_addr()?);
    run(listener, Config::default())
}

/// Serves WebSocket connections from `listener` until the listener fails.
pub fn run(listener: TcpListener, config: Config) -> std::io::Result<()> {
    let max_frame = config.hard_message_cap();
    let (inbox, events) = mpsc::sync_channel(INBOX_FRAMES);
    thread::spawn(move || drive_engine(config, events));
    for (n, stream) in (1..).zip(listener.incoming()) {
        let Ok(stream) = stream else { continue };
        let inbox = inbox.clone();
        thread::spawn(move || serve_connection(stream, ConnId(n), max_frame, inbox));
    }
    Ok(())
}

/// Where the engine thread routes actions: each connection's bounded outbox.
struct Outboxes(BTreeMap<ConnId, SyncSender<Output>>);

impl Transport for Outboxes {
    fn send(&mut self, conn: ConnId, frame: Outbound) -> Result<(), Outbound> {
        match self.0.get(&conn).map(|outbox| outbox.try_send(Output::Outbound(frame))) {
            // A full outbox means the client is not reading: the engine closes it.
            Some(Err(TrySendError::Full(Output::Outbound(frame)))) => Err(frame),
            // Sent, or the connection thread is gone and reports `Closed`.
            _ => Ok(()),
        }
    }

    fn take_unsent(&mut self, _conn: ConnId) -> Vec<Outbound> {
        // A std channel cannot give frames back: they are written before the close.
        Vec::new()
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str) {
        // Dropping the outbox closes the connection even if this does not fit.
        if let Some(outbox) = self.0.remove(&conn) {
            let _ = outbox.try_send(Output::Close(code, reason));
        }
    }

    fn respond(&mut self, _response: HttpResponse) {} // no HTTP listener in this example
}

/// The engine's owner: the only thread that calls `step`.
fn drive_engine(config: Config, events: Receiver<Input>) {
    let origin = std::time::Instant::now();
    let now = || Instant::from_micros(origin.elapsed().as_micros() as u64);
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut host = Host::new(Engine::new(config, os_seed(), now(), unix_ms));
    let mut outboxes = Outboxes(BTreeMap::new());
    loop {
        // Sleep until the next input or the engine's next deadline, whichever is first.
        let input = match host.engine().poll_timeout().map(|at| at.saturating_duration_since(now())) {
            Some(wait) => match events.recv_timeout(wait) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => Input::Event(Event::Tick),
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match events.recv() {
                Ok(input) => input,
                Err(_) => return,
            },
        };
        let event = match input {
            Input::Opened { event, outbox } => {
                if let Event::Opened { conn, .. } = &event {
                    outboxes.0.insert(*conn, outbox);
                }
                event
            }
            Input::Event(event) => event,
        };
        // Routes the actions, and steps `Backlogged` for clients that stopped reading.
        host.step(event, now(), &mut outboxes);
    }
}

/// One connection: the upgrade, then reading frames and writing the outbox in turns.
fn serve_connection(stream: TcpStream, conn: ConnId, max_frame: usize, inbox: SyncSender<Input>) {
    let Ok(peer) = stream.peer_addr() else { return };
    let mut target = String::new();
    #[allow(clippy::result_large_err)] // the signature tungstenite's handshake callback has
    let check_path = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        target = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        if request.uri().path() == "/v2/ws" {
            Ok(response)
        } else {
            Err(Response::builder().status(404).body(Some("not found".into())).expect("static response"))
        }
    };
    let limits = WebSocketConfig::default().max_message_size(Some(max_frame)).max_frame_size(Some(max_frame));
    let Ok(mut ws) = tungstenite::accept_hdr_with_config(stream, check_path, Some(limits)) else { return };
    // A short read timeout lets this one thread both read and write the socket.
    let timeouts =
        [ws.get_ref().set_read_timeout(Some(POLL)), ws.get_ref().set_write_timeout(Some(WRITE_TIMEOUT))];
    if timeouts.iter().any(Result::is_err) {
        return;
    }
    let (outbox, routed) = mpsc::sync_channel(OUTBOX_FRAMES);
    let opened = Event::Opened { conn, peer_ip: peer.ip(), target, endpoint: Endpoint::V2 };
    if inbox.send(Input::Opened { event: opened, outbox }).is_err() {
        return;
    }
    let cause = pump(&mut ws, conn, &routed, &inbox);
    if let Some(cause) = cause {
        let _ = inbox.send(Input::Event(Event::Closed { conn, cause }));
    }
}

/// Moves frames both ways until the connection ends. Returns why, or `None` when the
/// engine closed it (the engine has already forgotten the connection then).
fn pump(
    ws: &mut WebSocket<TcpStream>,
    conn: ConnId,
    routed: &Receiver<Output>,
    inbox: &SyncSender<Input>,
) -> Option<CloseCause> {
    loop {
        // First write what the engine routed here, then read for a moment.
        loop {
            match routed.try_recv() {
                Ok(Output::Outbound(frame)) => {
                    let message = match frame {
                        Outbound::Text(text) => {
                            Message::Text(text.try_into().expect("the engine sends UTF-8"))
                        }
                        Outbound::Binary(data) => Message::Binary(data),
                    };
                    if ws.write(message).is_err() {
                        return Some(CloseCause::TransportError);
                    }
                }
                Ok(Output::Close(code, reason)) => {
                    close_gracefully(ws, code, reason);
                    return None;
                }
                // The engine dropped the outbox without a close frame fitting in it.
                Err(TryRecvError::Disconnected) => {
                    close_gracefully(ws, 1001, "going away");
                    return None;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if ws.flush().is_err() {
            return Some(CloseCause::TransportError);
        }
        let event = match ws.read() {
            Ok(Message::Text(text)) => Event::Text { conn, text: text.as_str().to_owned() },
            Ok(Message::Binary(data)) => Event::Binary { conn, data },
            Ok(Message::Ping(_)) => Event::PingFrame { conn }, // tungstenite answers it
            Ok(Message::Pong(_)) => Event::PongFrame { conn },
            Ok(Message::Close(_)) => {
                let _ = ws.flush(); // send tungstenite's close reply
                return Some(CloseCause::ClientClosed);
            }
            Ok(Message::Frame(_)) => continue,
            Err(WsError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue
            }
            Err(WsError::Capacity(_)) => {
                close_gracefully(ws, 1009, "message too big");
                return Some(CloseCause::FrameTooLarge);
            }
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Some(CloseCause::ClientClosed),
            Err(_) => return Some(CloseCause::TransportError),
        };
        if inbox.send(Input::Event(event)).is_err() {
            return None; // the engine thread is gone
        }
    }
}

/// Sends a close frame and gives the client up to a second to answer it.
fn close_gracefully(ws: &mut WebSocket<TcpStream>, code: u16, reason: &'static str) {
    let _ = ws.close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }));
    for _ in 0..(1000 / POLL.as_millis()) {
        match ws.read() {
            Err(WsError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// 32 bytes from the OS for the engine's token and id generator (Unix; elsewhere use
/// the `getrandom` crate).
fn os_seed() -> [u8; 32] {
    let mut seed = [0; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("no OS randomness for the engine seed");
    seed
}
