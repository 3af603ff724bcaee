//! A player's drop and `Reconnect`: the room pauses, the player drains and fences its
//! connection, drops the socket without a close, stays away, and takes its seat back
//! (what it missed arrives in `Reconnected.missed_events`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use smol::Timer;

use super::connection::{barrier, never, open, pump, pumped_code, Conn, Pumped, Seat};
use super::game_data::Recv;
use super::group::Out;
use super::incoming::In;
use super::session::Session;
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, QUIET_SETTLE};

pub(super) async fn drop_and_reconnect(
    sh: &Shared<'_>,
    session: &Rc<Session>,
    slot: usize,
    conn: &mut Option<Conn>,
    recv: &mut Recv,
) -> Result<(), Out> {
    let Some(mut c) = conn.take() else { return Err(Out) };
    let Some(seat) = c.room.clone() else { return Err(Out) };
    // Pause the room, read what was already sent, make sure our own messages were
    // handled: then nothing is in flight when the socket goes.
    session.quiet.set(session.quiet.get() + 1);
    let owed: Vec<u64> = session.sent.iter().map(Cell::get).collect();
    let cond = |r: &Recv| r.caught_up(&owed);
    let drained = pump(sh, &mut c, recv, Instant::now() + ANSWER_TIMEOUT, None, &cond, &|_| false).await;
    let fenced = match drained {
        Pumped::Cond => barrier(sh, &mut c, recv).await,
        Pumped::Closed(why) => Err(why),
        _ => Err("DRAIN_TIMEOUT".to_owned()),
    };
    drop(c);
    let dropped_at = Instant::now();
    sh.count("players_dropped");
    Timer::after(QUIET_SETTLE).await;
    session.quiet.set(session.quiet.get() - 1);
    session.notify();
    if let Err(why) = fenced {
        sh.event(format!("BEFORE_DROP_{why}"));
    }
    Timer::at(dropped_at + sh.between(QUIET_SETTLE + Duration::from_millis(100), sh.opts.max_away)).await;
    let mut c = match open(sh, slot, true).await {
        Ok(c) => c,
        Err(code) => {
            sh.failure("Reconnect", &code);
            recv.finish_player(sh, &owed);
            return Err(Out);
        }
    };
    let reconnect =
        json!({"type": "Reconnect", "data": {"player_id": seat.player_id, "room_id": seat.room_id,
        "auth_token": seat.token.clone().unwrap_or_default()}})
        .to_string();
    if !c.send(&reconnect).await {
        sh.event("Reconnect:SEND_FAILED".to_owned());
        recv.finish_player(sh, &owed);
        return Err(Out);
    }
    let want = |m: &In| matches!(m, In::Reconnected(_) | In::ReconnectionFailed(_) | In::Error(_));
    match pump(sh, &mut c, recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await {
        Pumped::Got(In::Reconnected(token)) => {
            sh.count("reconnected");
            c.room = Some(Seat { token, ..seat });
            *conn = Some(c);
            Ok(())
        }
        Pumped::Got(In::ReconnectionFailed(code) | In::Error(code)) => {
            sh.failure("Reconnect", &code);
            // Out of the room: what was owed before the drop must have arrived.
            recv.finish_player(sh, &owed);
            *conn = Some(c);
            Err(Out)
        }
        other => {
            sh.event(format!("Reconnect:{}", pumped_code(&other)));
            recv.finish_player(sh, &owed);
            Err(Out)
        }
    }
}
