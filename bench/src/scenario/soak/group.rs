//! The churn of one group of players: round after round, each player's round (setup,
//! game, end, or an abort), and what a round leaves of each connection.

use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::Timer;

use super::connection::{close_cleanly, idle_until, never, pump, Conn, Pumped};
use super::game::{finish, play};
use super::game_data::Recv;
use super::incoming::In;
use super::session::Session;
use super::setup::setup;
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, MAX_ROUNDS, MIN_TIME_LEFT};

pub(super) async fn group_loop(sh: &Shared<'_>, group: usize) {
    let k = usize::from(sh.opts.room_size);
    let first_slot = group * k;
    let mut conns: Vec<Option<Conn>> = (0..k).map(|_| None).collect();
    // Stagger the groups so their joins do not all land at once.
    Timer::after(sh.between(Duration::ZERO, sh.opts.game.min(Duration::from_secs(10)))).await;
    for round in 0..MAX_ROUNDS {
        if sh.time_left() < MIN_TIME_LEFT {
            break;
        }
        let session = Rc::new(Session::new(sh, round, k));
        let rounds = conns
            .iter_mut()
            .enumerate()
            .map(|(pos, conn)| player_round(sh, &session, first_slot + pos, pos, round, conn));
        futures_util::future::join_all(rounds).await;
        sh.live.borrow_mut().retain(|s| !Rc::ptr_eq(s, &session));
        if session.aborted.get() {
            sh.count("rounds_aborted");
        }
        let pause = Instant::now() + sh.between(Duration::from_millis(300), Duration::from_secs(2));
        for conn in conns.iter_mut() {
            // Kept connections are in no room: nothing arrives, pings keep them alive.
            idle_until(sh, conn, pause).await;
        }
    }
    for conn in conns.iter_mut() {
        if let Some(c) = conn.take() {
            close_cleanly(sh, c).await;
        }
    }
}

/// Why a player's round ended early.
pub(super) struct Out;

async fn player_round(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    round: usize,
    conn: &mut Option<Conn>,
) {
    let mut recv = Recv::player(session, pos);
    let joined = match setup(sh, session, slot, pos, conn, &mut recv).await {
        Ok(()) => true,
        Err(joined) => {
            session.abort();
            joined
        }
    };
    if session.aborted.get() {
        // Nobody sent game data: leave (if seated) and check nothing. Inactive, so
        // room-mates that got into the game do not wait for this player at its end.
        session.active[pos].set(false);
        session.notify();
        if joined {
            if let Some(c) = conn.as_mut() {
                if !c.send(r#"{"type":"LeaveRoom"}"#).await {
                    *conn = None;
                } else {
                    let deadline = Instant::now() + ANSWER_TIMEOUT;
                    let want = |m: &In| *m == In::RoomLeft;
                    if let Pumped::Closed(why) = pump(sh, c, &mut recv, deadline, None, &never, &want).await {
                        sh.event(format!("LEAVE_{why}"));
                        *conn = None;
                    }
                }
            }
        }
        after_round(sh, conn, round + pos).await;
        return;
    }
    match play(sh, session, slot, pos, conn, &mut recv).await {
        Ok(()) => finish(sh, session, pos, conn, &mut recv).await,
        Err(Out) => {
            session.active[pos].set(false);
            session.notify();
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
    }
    after_round(sh, conn, round + pos).await;
}

/// What a round leaves of a player's connection.
async fn after_round(sh: &Shared<'_>, conn: &mut Option<Conn>, choice: usize) {
    match choice % 5 {
        0 => {
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
        // Dropped without a close frame while in no room.
        1 if conn.take().is_some() => sh.count("idle_connections_dropped"),
        _ => {}
    }
}
