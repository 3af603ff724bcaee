//! The churn of one spectator: visits to games in progress (`JoinAsSpectator`), watching,
//! then leaving or dropping.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use smol::Timer;

use super::budget::acquire;
use super::connection::{close_cleanly, idle_until, never, open, pump, pumped_code, Conn, Pumped};
use super::game_data::Recv;
use super::incoming::In;
use super::session::Session;
use super::shared::Shared;
use super::{ANSWER_TIMEOUT, MAX_ROUNDS, MIN_TIME_LEFT};

pub(super) async fn spectator_loop(sh: &Shared<'_>, slot: usize) {
    let mut conn: Option<Conn> = None;
    let game = sh.opts.game;
    Timer::after(sh.between(Duration::ZERO, game.min(Duration::from_secs(10)))).await;
    for visit in 0..MAX_ROUNDS {
        if sh.time_left() < MIN_TIME_LEFT {
            break;
        }
        let pause = Instant::now() + sh.between(game / 10, game / 4);
        idle_until(sh, &mut conn, pause).await;
        let Some(session) = pick_game(sh) else { continue };
        let deadline = (Instant::now() + game).min(sh.churn_end);
        if !acquire(sh, slot, false, &mut conn, deadline).await {
            sh.count("spectator_budget_timeouts");
            continue;
        }
        if conn.is_none() {
            match open(sh, slot, false).await {
                Ok(c) => conn = Some(c),
                Err(code) => {
                    sh.failure("Connect", &code);
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        let join = json!({"type": "JoinAsSpectator", "data": {"game_name": session.game,
            "room_code": session.code, "spectator_name": format!("s{slot}")}})
        .to_string();
        let mut recv = Recv::spectator(&session);
        let want = |m: &In| matches!(m, In::SpectatorJoined | In::JoinFailed(_) | In::Error(_));
        let answer = if c.send(&join).await {
            pump(sh, c, &mut recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
        } else {
            Pumped::Closed("SEND_FAILED".to_owned())
        };
        match answer {
            Pumped::Got(In::SpectatorJoined) => sh.count("spectators_joined"),
            Pumped::Got(In::JoinFailed(code) | In::Error(code)) => {
                sh.failure("JoinAsSpectator", &code);
                if code == "TOO_MANY_CONNECTIONS" {
                    conn = None;
                }
                continue;
            }
            other => {
                sh.event(format!("JoinAsSpectator:{}", pumped_code(&other)));
                conn = None;
                continue;
            }
        }
        let until = (Instant::now() + sh.between(game / 4, game * 3 / 4)).min(sh.churn_end);
        if let Pumped::Closed(why) = pump(sh, c, &mut recv, until, None, &never, &|_| false).await {
            sh.event(format!("WATCH_{why}"));
            recv.finish_spectator(sh);
            conn = None;
            continue;
        }
        if visit % 3 == 2 {
            recv.finish_spectator(sh);
            conn = None;
            sh.count("spectators_dropped");
        } else {
            let want = |m: &In| *m == In::SpectatorLeft;
            let left = if c.send(r#"{"type":"LeaveSpectator"}"#).await {
                pump(sh, c, &mut recv, Instant::now() + ANSWER_TIMEOUT, None, &never, &want).await
            } else {
                Pumped::Closed("SEND_FAILED".to_owned())
            };
            recv.finish_spectator(sh);
            match left {
                Pumped::Got(_) => sh.count("spectators_left"),
                other => {
                    sh.event(format!("LeaveSpectator:{}", pumped_code(&other)));
                    conn = None;
                }
            }
        }
        if visit % 2 == 1 {
            if let Some(c) = conn.take() {
                close_cleanly(sh, c).await;
            }
        }
    }
    if let Some(c) = conn.take() {
        close_cleanly(sh, c).await;
    }
}

/// A game in progress with at least a second left, at random.
fn pick_game(sh: &Shared<'_>) -> Option<Rc<Session>> {
    let live = sh.live.borrow();
    let soon = Instant::now() + Duration::from_secs(1);
    let open: Vec<&Rc<Session>> =
        live.iter().filter(|s| s.game_end.get().is_some_and(|end| end > soon)).collect();
    if open.is_empty() {
        return None;
    }
    let i = ((sh.random() * open.len() as f64) as usize).min(open.len() - 1);
    Some(open[i].clone())
}
