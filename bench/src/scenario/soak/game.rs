//! A player's game: game data at `hz` (a drop and reconnect or a malformed frame on its
//! turn), then the end: stop, wait for everyone, leave or abandon the seat, check the
//! streams.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::connection::{barrier, never, pump, pumped_code, Conn, Pumped};
use super::game_data::Recv;
use super::group::Out;
use super::incoming::In;
use super::reconnect::drop_and_reconnect;
use super::session::Session;
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, MAX_PUMP_STEPS};
use crate::clock;
use crate::wire::{self, Probe};

/// Longest wait at the end of a game for every player to finish sending.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(20);

/// The game: send at `hz` until the game ends; drop and reconnect, or send a malformed
/// frame, when it is this player's turn.
pub(super) async fn play(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), Out> {
    let game_end = session.game_end.get().unwrap_or_else(Instant::now);
    let now = Instant::now();
    let span = game_end.saturating_duration_since(now);
    let period = Duration::from_secs_f64(1.0 / sh.opts.hz);
    let mut next_send = now + period.mul_f64(sh.random());
    let mut drop_at = (pos == session.dropper).then(|| now + span.mul_f64(0.2 + 0.4 * sh.random()));
    let mut malformed_at = (pos == session.malformer).then(|| now + span.mul_f64(0.1 + 0.8 * sh.random()));
    let seat = session.base + pos as u32;
    let mut text = String::with_capacity(96);
    for _ in 0..MAX_PUMP_STEPS {
        let now = Instant::now();
        if now >= game_end {
            break;
        }
        let deadline = [Some(next_send), drop_at, malformed_at, Some(game_end)].into_iter().flatten().min();
        let c = conn.as_mut().ok_or(Out)?;
        match pump(sh, c, recv, deadline.unwrap_or(game_end), None, &never, &|_| false).await {
            Pumped::Timeout => {}
            Pumped::Closed(why) => {
                sh.event(format!("GAME_{why}"));
                *conn = None;
                return Err(Out);
            }
            _ => continue,
        }
        let now = Instant::now();
        if drop_at.is_some_and(|at| now >= at) {
            drop_at = None;
            drop_and_reconnect(sh, session, slot, conn, recv).await?;
            continue;
        }
        if malformed_at.is_some_and(|at| now >= at) {
            malformed_at = None;
            let c = conn.as_mut().ok_or(Out)?;
            c.malformed_pending += 1;
            if !c.send(r#"{"type":"GameData","data":"#).await {
                return Err(Out);
            }
            sh.count("malformed_sent");
        }
        if now >= next_send {
            if session.quiet.get() == 0 {
                let seq = session.sent[pos].get();
                wire::game_data(&mut text, Probe { sender: seat, seq, sent_us: clock::now_us() }, 0);
                session.sent[pos].set(seq + 1);
                sh.count("game_data_sent");
                let c = conn.as_mut().ok_or(Out)?;
                if !c.send(&text).await {
                    sh.event("GAME_SEND_FAILED".to_owned());
                    *conn = None;
                    return Err(Out);
                }
            }
            next_send += period;
            if next_send < now {
                // Late (the room was quiet, or the generator was busy): skip, do not burst.
                next_send = now + period;
            }
        }
    }
    Ok(())
}

/// End of a game: stop sending, wait until everyone stopped, leave (or abandon the
/// seat), check every room-mate's stream.
pub(super) async fn finish(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    pos: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) {
    let Some(c) = conn.as_mut() else { return };
    let fenced = barrier(sh, c, recv).await;
    session.done_sending[pos].set(true);
    session.notify();
    if let Err(why) = fenced {
        sh.event(format!("END_{why}"));
        session.active[pos].set(false);
        session.notify();
        *conn = None;
        return;
    }
    let cond = |_: &Recv| session.all_done_sending();
    match pump(sh, c, recv, Instant::now() + BARRIER_TIMEOUT, Some(&session.changed), &cond, &|_| false).await
    {
        Pumped::Cond => {}
        other => sh.event(format!("END_WAIT_{}", pumped_code(&other))),
    }
    let abandon = session.abandoner == Some(pos);
    let (request, want): (&str, fn(&In) -> bool) = if abandon {
        (wire::PING, |m| *m == In::Pong)
    } else {
        (r#"{"type":"LeaveRoom"}"#, |m| *m == In::RoomLeft)
    };
    // Every room-mate's last message was handled before they stopped, so it is queued
    // ahead of this answer.
    let answered = if c.send(request).await {
        pump(sh, c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
    } else {
        Pumped::Closed("SEND_FAILED".to_owned())
    };
    if !matches!(answered, Pumped::Got(_)) {
        sh.event(format!("LEAVE_{}", pumped_code(&answered)));
        *conn = None;
    }
    let owed: Vec<u64> = session.sent.iter().map(Cell::get).collect();
    recv.finish_player(sh, &owed);
    if abandon {
        // Gone without LeaveRoom: the seat waits out the reconnection window.
        *conn = None;
        sh.count("seats_abandoned");
    } else if conn.is_some() {
        sh.count("players_left");
    }
}
