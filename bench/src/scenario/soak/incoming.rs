//! What a connection receives, sorted into what the soak cares about; game data (live,
//! or replayed in `Reconnected.missed_events`) goes to the game-data check on arrival.

use serde_json::Value;

use super::connection::Conn;
use super::game_data::Recv;
use super::shared::Shared;
use crate::wire::{self, Incoming};

/// A received message, as far as the soak cares (game data is handled on arrival).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum In {
    GameData,
    Authenticated,
    RoomJoined { room_id: String, player_id: String, token: Option<String>, lobby: bool },
    JoinFailed(String),
    Lobby(String),
    GameStarting,
    Pong,
    RoomLeft,
    SpectatorJoined,
    SpectatorLeft,
    Reconnected(Option<String>),
    ReconnectionFailed(String),
    Error(String),
    Other,
}

fn str_field(data: Option<&Value>, key: &str) -> Option<String> {
    data.and_then(|d| d.get(key)).and_then(Value::as_str).map(str::to_owned)
}

pub(super) fn on_text(sh: &Shared<'_>, conn: &mut Conn, recv: &mut Recv, text: &str) -> In {
    if text.starts_with(wire::GAME_DATA_PREFIX) {
        match wire::classify(text) {
            Incoming::GameData(probe) => recv.observe(sh, probe, false),
            _ => sh.event("FOREIGN_GAME_DATA".to_owned()),
        }
        return In::GameData;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        sh.event("GARBAGE".to_owned());
        return In::Other;
    };
    let data = value.get("data");
    let code = || str_field(data, "error_code").unwrap_or_else(|| "UNKNOWN".to_owned());
    match value.get("type").and_then(Value::as_str).unwrap_or("") {
        "GameData" => {
            match data.and_then(|d| d.get("data")).and_then(wire::probe_from_value) {
                Some(probe) => recv.observe(sh, probe, false),
                None => sh.event("FOREIGN_GAME_DATA".to_owned()),
            }
            In::GameData
        }
        "Authenticated" => In::Authenticated,
        "AuthenticationError" => In::Error(code()),
        "RoomJoined" => In::RoomJoined {
            room_id: str_field(data, "room_id").unwrap_or_default(),
            player_id: str_field(data, "player_id").unwrap_or_default(),
            token: str_field(data, "reconnection_token"),
            lobby: str_field(data, "lobby_state").as_deref() == Some("lobby"),
        },
        "RoomJoinFailed" | "SpectatorJoinFailed" => In::JoinFailed(code()),
        "LobbyStateChanged" => In::Lobby(str_field(data, "lobby_state").unwrap_or_default()),
        "GameStarting" => In::GameStarting,
        "Pong" => In::Pong,
        "RoomLeft" => In::RoomLeft,
        "SpectatorJoined" => In::SpectatorJoined,
        "SpectatorLeft" => In::SpectatorLeft,
        "Reconnected" => {
            let missed = data.and_then(|d| d.get("missed_events")).and_then(Value::as_array);
            for event in missed.into_iter().flatten() {
                if event.get("type").and_then(Value::as_str) == Some("GameData") {
                    match event.get("data").and_then(|d| d.get("data")).and_then(wire::probe_from_value) {
                        Some(probe) => recv.observe(sh, probe, true),
                        None => sh.event("FOREIGN_GAME_DATA".to_owned()),
                    }
                }
            }
            In::Reconnected(str_field(data, "reconnection_token"))
        }
        "ReconnectionFailed" => In::ReconnectionFailed(code()),
        "Error" => {
            let code = code();
            if code == "INVALID_INPUT" && conn.malformed_pending > 0 {
                conn.malformed_pending -= 1;
                sh.count("malformed_answered");
                return In::Other;
            }
            In::Error(code)
        }
        _ => In::Other,
    }
}
