//! Internal consistency checks, for tests, the simulator and fuzzers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::connection::Role;
use super::room::Presence;
use super::timers::Timer;
use super::Engine;
use crate::protocol::LobbyState;

/// A broken internal invariant: a bug in the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation(pub String);

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "engine invariant violated: {}", self.0)
    }
}

impl std::error::Error for InvariantViolation {}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(InvariantViolation(format!($($arg)+)));
        }
    };
}

impl Engine {
    /// Checks every cross-reference and bound of the engine's state.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let config = &self.config;
        let mut per_ip: BTreeMap<_, usize> = BTreeMap::new();
        // App indexes are used to index `authorized_apps` (a restored checkpoint could
        // carry any).
        let apps = config.security.authorized_apps.len();
        self.cluster_invariant().map_err(InvariantViolation)?;
        for (id, c) in &self.conns {
            *per_ip.entry(c.ip).or_default() += 1;
            ensure!(c.app.is_none_or(|app| app < apps), "{id} authenticated as an unknown app");
            // A forwarded connection's liveness is watched by the node serving it.
            ensure!(
                c.role == Role::Forwarded || self.timers.contains(c.liveness_at, Timer::Liveness(*id)),
                "{id} has no liveness timer"
            );
            if let Some(at) = c.auth_deadline {
                ensure!(!c.authenticated, "{id} is authenticated with an auth deadline");
                ensure!(self.timers.contains(at, Timer::AuthDeadline(*id)), "{id} auth timer missing");
            }
            match c.role {
                Role::Idle | Role::Resolving | Role::Forwarded => {}
                Role::Player(key) => {
                    let room = self.rooms.get(&key);
                    ensure!(room.is_some(), "{id} is a player of a missing room");
                    let seat = room.and_then(|r| r.seat(c.player_id));
                    ensure!(
                        matches!(seat.map(|s| &s.presence), Some(Presence::Here(conn)) if conn == id),
                        "{id} is a player but its seat does not point back"
                    );
                }
                Role::Mesh(key) => {
                    ensure!(
                        c.authenticated && c.auth_deadline.is_none(),
                        "{id} is a mesh peer with auth pending"
                    );
                    ensure!(
                        self.mesh.groups.get(&key).is_some_and(|g| g.members.contains(&(c.player_id, *id))),
                        "{id} is a mesh peer its group does not list"
                    );
                }
                Role::Spectator(key) => {
                    let room = self.rooms.get(&key);
                    ensure!(
                        room.is_some_and(|r| r
                            .watchers
                            .iter()
                            .any(|w| w.conn == *id && w.spectator_id == c.player_id)),
                        "{id} is a spectator without a watcher entry"
                    );
                }
            }
        }
        ensure!(self.conns.len() <= config.server.max_connections, "global connection cap exceeded");
        for (ip, state) in &self.sources.ips {
            let live = per_ip.get(ip).copied().unwrap_or(0);
            ensure!(
                state.connections == live,
                "IP {ip} counts {} connections, {live} live",
                state.connections
            );
            ensure!(live <= config.security.max_connections_per_ip, "IP {ip} is over its cap");
            ensure!(live > 0 || state.purge_at.is_some(), "IP {ip} is kept without connections or window");
        }
        for ip in per_ip.keys() {
            ensure!(self.sources.ips.contains_key(ip), "IP {ip} has connections but no entry");
        }

        let mut seats = BTreeSet::new();
        let mut per_game: BTreeMap<&str, usize> = BTreeMap::new();
        let mut away = 0;
        ensure!(self.rooms.len() <= config.server.max_rooms, "room cap exceeded");
        // A restored checkpoint must not hand out a key that is in use.
        ensure!(
            self.rooms.keys().next_back().is_none_or(|key| key.0 < self.directory.next_key),
            "room key at or above the next key {}",
            self.directory.next_key
        );
        for (key, room) in &self.rooms {
            *per_game.entry(room.game.as_str()).or_default() += 1;
            ensure!(
                room.creator_app.is_none_or(|app| app < apps),
                "room {} has an unknown creator app",
                room.code
            );
            ensure!(room.seats.len() <= usize::from(room.max_players), "room {} over capacity", room.code);
            ensure!(
                room.watchers.len() <= config.server.max_spectators_per_room,
                "room {} over spectator cap",
                room.code
            );
            ensure!(
                self.timers.contains(room.expiry_at, Timer::RoomExpiry(*key)),
                "room {} has no expiry timer",
                room.code
            );
            let mut names = BTreeSet::new();
            for seat in &room.seats {
                ensure!(seats.insert(seat.player_id), "player {} seated twice", seat.player_id);
                ensure!(names.insert(seat.name.to_lowercase()), "duplicate name in room {}", room.code);
                ensure!(
                    self.seat_index.get(&seat.player_id) == Some(key),
                    "seat index wrong for {}",
                    seat.player_id
                );
                match &seat.presence {
                    Presence::Here(conn) => {
                        let c = self.conns.get(conn);
                        ensure!(
                            c.is_some_and(|c| c.role == Role::Player(*key) && c.player_id == seat.player_id),
                            "seat {} points at a connection that is not it",
                            seat.player_id
                        );
                    }
                    Presence::Away { deadline, missed } => {
                        away += 1;
                        ensure!(
                            self.timers.contains(*deadline, Timer::Reservation(seat.player_id)),
                            "reservation of {} has no timer",
                            seat.player_id
                        );
                        // First, so that the bound below can count away events.
                        ensure!(missed.counts_agree(), "replay buffer byte count drifted");
                        ensure!(
                            missed.away_events() <= config.server.event_buffer_size
                                && missed.away_bytes() <= config.websocket.max_outbound_queue_bytes,
                            "replay buffer over its bound"
                        );
                    }
                }
            }
            for watcher in &room.watchers {
                let c = self.conns.get(&watcher.conn);
                ensure!(
                    c.is_some_and(|c| c.role == Role::Spectator(*key)),
                    "watcher {} is not a spectator connection",
                    watcher.spectator_id
                );
            }
            if let Some(holder) = room.authority {
                ensure!(room.supports_authority, "authority in room {} without authority support", room.code);
                ensure!(room.seat(holder).is_some(), "authority holder not in room {}", room.code);
            }
            for ready in &room.ready {
                ensure!(room.seat(*ready).is_some(), "ready player not in room {}", room.code);
            }
            let unique_ready: BTreeSet<_> = room.ready.iter().collect();
            ensure!(unique_ready.len() == room.ready.len(), "duplicate ready entry in room {}", room.code);
            match room.lobby {
                LobbyState::Waiting => {
                    ensure!(room.ready.is_empty(), "waiting room {} has ready players", room.code)
                }
                LobbyState::Lobby => {
                    ensure!(room.is_full_lobby(), "room {} in lobby but not full", room.code)
                }
                LobbyState::Finalized => {
                    ensure!(room.is_full_lobby(), "room {} finalized but not full", room.code);
                    ensure!(
                        room.ready.len() == room.seats.len(),
                        "finalized room {} not all ready",
                        room.code
                    );
                }
            }
        }
        for ((game, code), key) in &self.directory.by_code {
            let room = self.rooms.get(key);
            ensure!(
                room.is_some_and(|r| r.game == *game && r.code == *code),
                "room index entry {code} is wrong"
            );
        }
        ensure!(seats.len() == self.seat_index.len(), "seat index has stale entries");
        ensure!(self.directory.by_code.len() == self.rooms.len(), "room index has stale entries");
        for (game, count) in &self.directory.per_game {
            ensure!(per_game.get(game.as_str()) == Some(count), "room count of game {game} drifted");
            ensure!(*count <= config.server.max_rooms_per_game, "game {game} over its room cap");
        }
        ensure!(per_game.len() == self.directory.per_game.len(), "per-game counts have stale entries");
        ensure!(
            self.directory.per_app.keys().chain(self.sources.app_auth_log.keys()).all(|app| *app < apps),
            "per-app state for an unknown app"
        );
        ensure!(self.reservations.evictions.is_empty(), "evictions left unprocessed");
        ensure!(
            self.directory.quarantine.len() == self.directory.quarantined.len(),
            "quarantine set and queue differ"
        );
        ensure!(away == self.reporting.population.away_players, "away-player count drifted");
        let watching: usize = self.rooms.values().map(|r| r.watchers.len()).sum();
        ensure!(watching == self.reporting.population.spectators, "spectator count drifted");
        self.check_mesh_invariants()
    }
}
