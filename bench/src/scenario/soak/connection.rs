//! One connection of the population: opening (and authenticating) it, reading it
//! while waiting for an answer or a condition ([`pump`]), the `Ping`/`Pong` barrier,
//! and closing it.

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use event_listener::Event;
use serde_json::json;
use smol::future::FutureExt as _;
use smol::stream::StreamExt as _;
use smol::Timer;

use super::game_data::Recv;
use super::incoming::{on_text, In};
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, MAX_PUMP_STEPS};
use crate::join::close_code;
use crate::net::{self, Ws};
use crate::scenario::TRAFFIC_READ_BUFFER;
use crate::wire;

/// A connection that sent nothing for this long sends a `Ping` (the server's default
/// `ping_timeout` is 30 s).
const PING_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Conn {
    ws: Ws,
    last_sent: Instant,
    /// Malformed frames sent whose `Error{INVALID_INPUT}` has not arrived yet.
    pub(super) malformed_pending: u32,
    /// The seat this connection holds, for a `Reconnect` after a drop.
    pub(super) room: Option<Seat>,
}

impl Conn {
    pub(super) async fn send(&mut self, text: &str) -> bool {
        self.last_sent = Instant::now();
        self.ws.send(Message::text(text)).await.is_ok()
    }
}

/// What a connection needs to take its seat back.
#[derive(Debug, Clone)]
pub(super) struct Seat {
    pub(super) room_id: String,
    pub(super) player_id: String,
    pub(super) token: Option<String>,
}

/// How a [`pump`] ended.
#[derive(Debug)]
pub(super) enum Pumped {
    /// A wanted message arrived.
    Got(In),
    /// The condition holds.
    Cond,
    /// The deadline passed.
    Timeout,
    /// The connection ended (a close code, `EOF`, `READ_FAILED`).
    Closed(String),
}

/// Reads `conn` (handling game data, sending a `Ping` when it has been quiet) until a
/// message `want` accepts arrives, `cond` holds (checked again whenever `wake` fires),
/// or `deadline` passes. An unwanted `Error` is counted as unexpected.
pub(super) async fn pump(
    sh: &Shared<'_>,
    conn: &mut Conn,
    recv: &mut Recv,
    deadline: Instant,
    wake: Option<&Event>,
    cond: &dyn Fn(&Recv) -> bool,
    want: &dyn Fn(&In) -> bool,
) -> Pumped {
    for _ in 0..MAX_PUMP_STEPS {
        let listener = wake.map(Event::listen);
        if cond(recv) {
            return Pumped::Cond;
        }
        let now = Instant::now();
        if now >= deadline {
            return Pumped::Timeout;
        }
        let ping_at = conn.last_sent + PING_EVERY;
        if now >= ping_at {
            if !conn.send(wire::PING).await {
                return Pumped::Closed("SEND_FAILED".to_owned());
            }
            continue;
        }
        let wake_at = deadline.min(ping_at);
        let read = async { Some(conn.ws.next().await) };
        let timer = async {
            Timer::at(wake_at).await;
            None
        };
        let notified = async {
            match listener {
                Some(listener) => listener.await,
                None => smol::future::pending::<()>().await,
            }
            None
        };
        let Some(next) = read.or(timer).or(notified).await else { continue };
        match next {
            None => return Pumped::Closed("EOF".to_owned()),
            Some(Err(_)) => return Pumped::Closed("READ_FAILED".to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Pumped::Closed(close_code(frame.map(|f| u16::from(f.code))))
            }
            Some(Ok(Message::Text(text))) => {
                let got = on_text(sh, conn, recv, &text);
                if want(&got) {
                    return Pumped::Got(got);
                }
                if let In::Error(code) = got {
                    sh.failure("Error", &code);
                }
            }
            Some(Ok(_)) => {}
        }
    }
    Pumped::Timeout
}

pub(super) fn never(_: &Recv) -> bool {
    false
}

/// Reads `conn` until `until`, if there is one; else just waits.
pub(super) async fn idle_until(sh: &Shared<'_>, conn: &mut Option<Conn>, until: Instant) {
    match conn {
        Some(c) => {
            let mut recv = Recv::default();
            if let Pumped::Closed(why) = pump(sh, c, &mut recv, until, None, &never, &|_| false).await {
                sh.event(format!("IDLE_{why}"));
                *conn = None;
            }
        }
        None => {
            Timer::at(until).await;
        }
    }
}

/// Opens a connection for `slot`, authenticating if this one should.
pub(super) async fn open(sh: &Shared<'_>, slot: usize, reconnectable: bool) -> Result<Conn, String> {
    let path = if reconnectable { "/v2/ws?reconnection_token=true" } else { "/v2/ws" };
    let ws = net::open_path(sh.ctx.sources.addr(slot), sh.ctx.server, TRAFFIC_READ_BUFFER, path).await?;
    let n = sh.connections_opened.get();
    sh.connections_opened.set(n + 1);
    sh.count("connections_opened");
    let mut conn = Conn { ws, last_sent: Instant::now(), malformed_pending: 0, room: None };
    let app_id = match &sh.opts.app_id {
        Some(app) => app.as_str(),
        None if n % 4 == 0 => "signal-fish-bench",
        None => return Ok(conn),
    };
    let auth = json!({"type": "Authenticate", "data": {"app_id": app_id, "platform": "test", "sdk_version": "1.0.0"}}).to_string();
    if !conn.send(&auth).await {
        return Err("SEND_FAILED".to_owned());
    }
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut recv = Recv::default();
    let want = |m: &In| matches!(m, In::Authenticated | In::Error(_));
    match pump(sh, &mut conn, &mut recv, deadline, None, &never, &want).await {
        Pumped::Got(In::Authenticated) => {
            sh.count("authenticated");
            Ok(conn)
        }
        Pumped::Got(In::Error(code)) => Err(code),
        Pumped::Closed(why) => Err(why),
        _ => Err("AUTH_TIMEOUT".to_owned()),
    }
}

/// Closes with a close frame and waits (briefly) for the server's.
pub(super) async fn close_cleanly(sh: &Shared<'_>, mut conn: Conn) {
    if conn.ws.close(None).await.is_err() {
        sh.event("CLOSE_FAILED".to_owned());
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut recv = Recv::default();
    let _ = pump(sh, &mut conn, &mut recv, deadline, None, &never, &|_| false).await;
    sh.count("closed_cleanly");
}

/// Sends a `Ping` and reads until its `Pong`: everything this connection sent before
/// was handled by the server, and everything the server queued for it before arrived.
pub(super) async fn barrier(sh: &Shared<'_>, conn: &mut Conn, recv: &mut Recv) -> Result<(), String> {
    if !conn.send(wire::PING).await {
        return Err("SEND_FAILED".to_owned());
    }
    let want = |m: &In| *m == In::Pong;
    match pump(sh, conn, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await {
        Pumped::Got(_) => Ok(()),
        Pumped::Closed(why) => Err(why),
        _ => Err("PONG_TIMEOUT".to_owned()),
    }
}

pub(super) fn pumped_code(p: &Pumped) -> String {
    match p {
        Pumped::Closed(why) => why.clone(),
        Pumped::Timeout => "TIMEOUT".to_owned(),
        _ => "UNEXPECTED".to_owned(),
    }
}
