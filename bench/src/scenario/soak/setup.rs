//! The start of a player's round: connect, join the host's room (paced by the budget),
//! send `ProvideConnectionInfo` and `PlayerReady`, until `GameStarting`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use smol::future::FutureExt as _;
use smol::Timer;

use super::budget::acquire;
use super::connection::{never, open, pump, Conn, Pumped, Seat};
use super::game_data::Recv;
use super::incoming::In;
use super::session::Session;
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, MAX_PUMP_STEPS};
use crate::wire;

/// Longest a round's setup may take, a full rate-limit window wait included.
const SETUP_TIMEOUT: Duration = Duration::from_secs(80);

/// Connect, join, ready, until `GameStarting`. `Err(joined)` aborts the round.
pub(super) async fn setup(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), bool> {
    // Nothing waits past the end of the churn (a rate-limit wait would otherwise
    // stretch the run by up to a window).
    let deadline = (Instant::now() + SETUP_TIMEOUT).min(sh.churn_end);
    let host = pos == session.host;
    if !host {
        // Players join the room the host created, as with a shared code.
        let waited = match conn {
            Some(c) => {
                let cond = |_: &Recv| session.host_joined.get() || session.aborted.get();
                match pump(sh, c, recv, deadline, Some(&session.changed), &cond, &|_| false).await {
                    Pumped::Closed(_) => {
                        *conn = None;
                        wait_for_host(session, deadline).await
                    }
                    _ => session.host_joined.get(),
                }
            }
            None => wait_for_host(session, deadline).await,
        };
        if !waited || session.aborted.get() {
            return Err(false);
        }
    }
    if !acquire(sh, slot, host, conn, deadline).await {
        sh.count("budget_timeouts");
        return Err(false);
    }
    if conn.is_none() {
        match open(sh, slot, true).await {
            Ok(c) => *conn = Some(c),
            Err(code) => {
                sh.failure("Connect", &code);
                return Err(false);
            }
        }
    }
    let c = conn.as_mut().expect("connected");
    let join = wire::join_room(&session.game, &session.code, &format!("p{slot}"), session.k as u8);
    if !c.send(&join).await {
        *conn = None;
        return Err(false);
    }
    let want = |m: &In| matches!(m, In::RoomJoined { .. } | In::JoinFailed(_) | In::Error(_));
    let answer = pump(sh, c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await;
    let lobby = match answer {
        Pumped::Got(In::RoomJoined { room_id, player_id, token, lobby }) => {
            c.room = Some(Seat { room_id, player_id, token });
            sh.count(if host { "rooms_created" } else { "players_joined" });
            if host {
                session.host_joined.set(true);
                session.notify();
            }
            lobby
        }
        Pumped::Got(In::JoinFailed(code) | In::Error(code)) => {
            sh.failure("JoinRoom", &code);
            if code == "TOO_MANY_CONNECTIONS" {
                *conn = None;
            }
            return Err(false);
        }
        Pumped::Closed(why) => {
            sh.failure("JoinRoom", &why);
            *conn = None;
            return Err(false);
        }
        _ => {
            sh.event("JoinRoom:TIMEOUT".to_owned());
            return Err(false);
        }
    };
    let info = json!({"type": "ProvideConnectionInfo", "data": {"connection_info":
        {"type": "direct", "host": "127.0.0.1", "port": 20_000 + slot % 40_000}}})
    .to_string();
    if !c.send(&info).await {
        *conn = None;
        return Err(true);
    }
    if !lobby {
        // The room fills when the last player joins.
        let want = |m: &In| *m == In::Lobby("lobby".to_owned());
        if let Err(closed) = wait_in_room(sh, session, c, recv, deadline, "LOBBY", &want).await {
            if closed {
                *conn = None;
            }
            return Err(true);
        }
    }
    if !c.send(r#"{"type":"PlayerReady"}"#).await {
        *conn = None;
        return Err(true);
    }
    let want = |m: &In| *m == In::GameStarting;
    if let Err(closed) = wait_in_room(sh, session, c, recv, deadline, "READY", &want).await {
        if closed {
            *conn = None;
        }
        return Err(true);
    }
    if session.game_end.get().is_none() {
        let length = sh.between(sh.opts.game / 2, sh.opts.game * 3 / 2);
        session.game_end.set(Some((Instant::now() + length).min(sh.churn_end.max(Instant::now()))));
        sh.count("games_started");
        sh.live.borrow_mut().push(session.clone());
        session.notify();
    }
    if host {
        // The authority's start request: accepted silently once the room is finalized.
        if !c.send(r#"{"type":"StartGame"}"#).await {
            *conn = None;
            return Err(true);
        }
        sh.count("start_game_sent");
    }
    Ok(())
}

/// Reads `c` in the room until a message `want` accepts arrives. `Err(closed)`: the
/// round was aborted or `deadline` passed, or (`closed`) the connection ended, counted
/// as `{stage}_{why}`.
async fn wait_in_room(
    sh: &Shared<'_>,
    session: &Session,
    c: &mut Conn,
    recv: &mut Recv,
    deadline: Instant,
    stage: &str,
    want: &dyn Fn(&In) -> bool,
) -> Result<(), bool> {
    let cond = |_: &Recv| session.aborted.get();
    match pump(sh, c, recv, deadline, Some(&session.changed), &cond, want).await {
        Pumped::Got(_) => Ok(()),
        Pumped::Closed(why) => {
            sh.event(format!("{stage}_{why}"));
            Err(true)
        }
        _ => Err(false),
    }
}

async fn wait_for_host(session: &Session, deadline: Instant) -> bool {
    for _ in 0..MAX_PUMP_STEPS {
        let listener = session.changed.listen();
        if session.host_joined.get() || session.aborted.get() {
            return session.host_joined.get();
        }
        if Instant::now() >= deadline {
            return false;
        }
        listener
            .or(async {
                Timer::at(deadline).await;
            })
            .await;
    }
    false
}
