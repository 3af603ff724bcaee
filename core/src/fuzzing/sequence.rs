//! Arbitrary sequences of connections, frames, closes, backed-up writers and time steps,
//! checked against the engine's invariants and the membership model after every step.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};

use super::model::{Model, ModelRole};
use crate::{Action, CloseCause, Config, ConnId, Engine, Event, Instant};

/// Connection slots used by a sequence.
const SLOTS: u8 = 8;
/// Room codes used by a sequence, by index.
const CODES: [&str; 3] = ["AAAAAA", "BBBBBB", "CCCCCC"];
const PING_TIMEOUT_SECS: u64 = 30;
const SPECTATOR_CAP: usize = 2;
/// Most operations taken from one input.
const MAX_OPS: usize = 400;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    Open { slot: u8, ip: u8, opt_in: bool },
    Join { slot: u8, code: u8, max_players: u8 },
    Create { slot: u8 },
    Leave { slot: u8 },
    Spectate { slot: u8, code: u8 },
    StopSpectating { slot: u8 },
    GameData { slot: u8, payload: u16 },
    Binary { slot: u8, data: Vec<u8> },
    Ready { slot: u8 },
    Authority { slot: u8, claim: bool },
    Ping { slot: u8 },
    PongFrame { slot: u8 },
    Garbage { slot: u8, text: String },
    Authenticate { slot: u8, format: u8 },
    Reconnect { slot: u8, target: u8 },
    Close { slot: u8, clean: bool },
    Backlog { slot: u8 },
    Advance { millis: u16 },
    Http { path: u8 },
}

struct Slots {
    live: BTreeMap<u8, ConnId>,
    next_id: u64,
}

/// Runs one arbitrary sequence twice: with reconnection off, checked against the
/// membership model after every step, and with reconnection on (reserved seats, replay
/// buffers), checked against the invariants. Panics on an invariant violation, a
/// membership mismatch, or a frame queued for a connection after its close.
pub fn engine_sequence(data: &[u8]) {
    run(data, false);
    run(data, true);
}

fn run(data: &[u8], reconnection: bool) {
    let mut input = Unstructured::new(data);
    let mut config = Config::default();
    config.server.enable_reconnection = reconnection;
    config.server.ping_timeout = PING_TIMEOUT_SECS;
    config.server.empty_room_timeout = 0;
    config.server.max_spectators_per_room = SPECTATOR_CAP;
    config.server.event_buffer_size = 4;
    config.rate_limit.max_room_creations = u32::MAX;
    config.rate_limit.max_join_attempts = u32::MAX;
    let seed: [u8; 32] = input.arbitrary().unwrap_or_default();
    let mut engine = Engine::new(config, seed, Instant::ZERO, 1_772_366_400_000);
    let mut model = Model::default();
    let mut slots = Slots { live: BTreeMap::new(), next_id: 1 };
    let mut now: u64 = 0;
    let mut out = Vec::new();
    let mut ops = 0;

    while ops < MAX_OPS {
        let Ok(op) = input.arbitrary::<Op>() else { break };
        ops += 1;
        out.clear();
        let event = match &op {
            Op::Open { slot, ip, opt_in } => {
                let slot = slot % SLOTS;
                if slots.live.contains_key(&slot) {
                    continue;
                }
                let conn = ConnId(slots.next_id);
                slots.next_id += 1;
                slots.live.insert(slot, conn);
                model.open(slot, now);
                let target = if *opt_in { "/v2/ws?reconnection_token=true" } else { "/v2/ws" };
                Event::Opened {
                    conn,
                    peer_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + ip % 3)),
                    target: target.to_owned(),
                }
            }
            Op::Advance { millis } => {
                now += u64::from(*millis) * 1000;
                Event::Tick
            }
            Op::Http { path } => Event::Http(crate::http::HttpRequest::get(
                u64::from(*path),
                ["/metrics", "/metrics/prom?x", "/v2/health", "/v2/ws", "/"][usize::from(*path) % 5],
            )),
            other => {
                let slot = slot_of(other) % SLOTS;
                let Some(&conn) = slots.live.get(&slot) else { continue };
                match frame_for(other, &engine) {
                    Some(event_for) => {
                        model.heard_from(slot, now);
                        apply_to_model(&mut model, slot, other);
                        event_for(conn)
                    }
                    None => match other {
                        Op::Close { clean, .. } => {
                            model.close(slot);
                            slots.live.remove(&slot);
                            let cause =
                                if *clean { CloseCause::ClientClosed } else { CloseCause::TransportError };
                            Event::Closed { conn, cause }
                        }
                        Op::Backlog { .. } => Event::Backlogged { conn, unsent: Vec::new() },
                        Op::PongFrame { .. } => {
                            model.heard_from(slot, now);
                            Event::PongFrame { conn }
                        }
                        _ => unreachable!("every other op is a frame"),
                    },
                }
            }
        };
        engine.step_into(event, Instant::from_micros(now), &mut out);
        engine.check_invariants().unwrap_or_else(|v| panic!("{v} after {op:?}"));

        // Closes the engine decided (liveness, backlog, takeover) end the model's slot too.
        for slot in model.silent_since(now, PING_TIMEOUT_SECS * 1_000_000) {
            model.close(slot);
            slots.live.remove(&slot);
        }
        let mut closed = Vec::new();
        for action in &out {
            match action {
                Action::Close { conn, .. } => closed.push(*conn),
                Action::Send { conn, .. } => {
                    assert!(!closed.contains(conn), "frame queued after the close of {conn}")
                }
                _ => {}
            }
        }
        for conn in closed {
            if let Some((&slot, _)) = slots.live.iter().find(|(_, c)| **c == conn) {
                model.close(slot);
                slots.live.remove(&slot);
            }
        }
        if !reconnection {
            compare(&engine, &model, &slots);
        }
    }
}

fn slot_of(op: &Op) -> u8 {
    match op {
        Op::Join { slot, .. }
        | Op::Create { slot }
        | Op::Leave { slot }
        | Op::Spectate { slot, .. }
        | Op::StopSpectating { slot }
        | Op::GameData { slot, .. }
        | Op::Binary { slot, .. }
        | Op::Ready { slot }
        | Op::Authority { slot, .. }
        | Op::Ping { slot }
        | Op::PongFrame { slot }
        | Op::Garbage { slot, .. }
        | Op::Authenticate { slot, .. }
        | Op::Reconnect { slot, .. }
        | Op::Close { slot, .. }
        | Op::Backlog { slot }
        | Op::Open { slot, .. } => *slot,
        Op::Advance { .. } | Op::Http { .. } => 0,
    }
}

type FrameEvent = Box<dyn FnOnce(ConnId) -> Event>;

/// The frame an op sends, if it is a frame.
fn frame_for(op: &Op, engine: &Engine) -> Option<FrameEvent> {
    let text =
        |t: String| -> Option<FrameEvent> { Some(Box::new(move |conn| Event::Text { conn, text: t })) };
    match op {
        Op::Join { slot, code, max_players } => text(format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","room_code":"{}","player_name":"P{}","max_players":{}}}}}"#,
            CODES[usize::from(*code) % CODES.len()],
            slot % SLOTS,
            1 + max_players % 4
        )),
        Op::Create { slot } => text(format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"other","player_name":"P{}"}}}}"#,
            slot % SLOTS
        )),
        Op::Leave { .. } => text(r#"{"type":"LeaveRoom"}"#.to_owned()),
        Op::Spectate { slot, code } => text(format!(
            r#"{{"type":"JoinAsSpectator","data":{{"game_name":"g","room_code":"{}","spectator_name":"S{}"}}}}"#,
            CODES[usize::from(*code) % CODES.len()],
            slot % SLOTS
        )),
        Op::StopSpectating { .. } => text(r#"{"type":"LeaveSpectator"}"#.to_owned()),
        Op::GameData { payload, .. } => text(format!(r#"{{"type":"GameData","data":{{"data":{payload}}}}}"#)),
        Op::Binary { data, .. } => {
            let data = bytes::Bytes::copy_from_slice(data);
            Some(Box::new(move |conn| Event::Binary { conn, data }))
        }
        Op::Ready { .. } => text(r#"{"type":"PlayerReady"}"#.to_owned()),
        Op::Authority { claim, .. } => {
            text(format!(r#"{{"type":"AuthorityRequest","data":{{"become_authority":{claim}}}}}"#))
        }
        Op::Ping { .. } => text(r#"{"type":"Ping"}"#.to_owned()),
        Op::Garbage { text: t, .. } => text(t.clone()),
        Op::Authenticate { format, .. } => text(format!(
            r#"{{"type":"Authenticate","data":{{"app_id":"a","game_data_format":"{}"}}}}"#,
            ["json", "message_pack", "rkyv"][usize::from(*format) % 3]
        )),
        Op::Reconnect { target, .. } => {
            // Aim at a real seat so reconnection paths are reached (the token is not
            // known to the harness, so these attempts fail, which is what they test).
            let rooms = engine.rooms();
            let seat = rooms
                .iter()
                .flat_map(|r| r.players.iter().map(move |p| (r.room_id, p.0)))
                .nth(usize::from(*target));
            let (room_id, player_id) = seat.unwrap_or_default();
            text(format!(
                r#"{{"type":"Reconnect","data":{{"player_id":"{player_id}","room_id":"{room_id}","auth_token":"t"}}}}"#
            ))
        }
        Op::Close { .. } | Op::Backlog { .. } | Op::PongFrame { .. } => None,
        Op::Open { .. } | Op::Advance { .. } | Op::Http { .. } => unreachable!("handled by the caller"),
    }
}

fn apply_to_model(model: &mut Model, slot: u8, op: &Op) {
    match op {
        Op::Join { code, max_players, .. } => {
            model.join(slot, code % CODES.len() as u8, 1 + max_players % 4);
        }
        Op::Leave { .. } => model.leave(slot, true),
        Op::Spectate { code, .. } => model.spectate(slot, code % CODES.len() as u8, SPECTATOR_CAP),
        Op::StopSpectating { .. } => model.leave(slot, false),
        Op::Create { .. } => {
            // Rooms of game "other" are outside the model; the slot becomes a player
            // unless it already is one or spectates.
            if let Some(c) = model.conns.get_mut(&slot) {
                if c.role == ModelRole::Idle {
                    c.role = ModelRole::Player(u8::MAX);
                }
            }
        }
        _ => {}
    }
}

/// The engine's membership of game "g" must equal the model's.
fn compare(engine: &Engine, model: &Model, slots: &Slots) {
    let slot_of = |conn: ConnId| slots.live.iter().find(|(_, c)| **c == conn).map(|(s, _)| *s);
    let mut actual: BTreeMap<u8, (Vec<u8>, Vec<u8>)> = BTreeMap::new();
    for room in engine.rooms().into_iter().filter(|r| r.game == "g") {
        let code = CODES.iter().position(|c| *c == room.code).expect("model codes only") as u8;
        let players =
            room.players.iter().map(|(_, conn)| conn.and_then(slot_of).expect("live players")).collect();
        let spectators =
            room.spectators.iter().map(|(_, conn)| slot_of(*conn).expect("live spectators")).collect();
        actual.insert(code, (players, spectators));
    }
    let expected: BTreeMap<u8, (Vec<u8>, Vec<u8>)> = model
        .rooms
        .iter()
        .map(|(code, room)| (*code, (room.players.clone(), room.spectators.clone())))
        .collect();
    assert_eq!(actual, expected, "membership differs from the model");
}
