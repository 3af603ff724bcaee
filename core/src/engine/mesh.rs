//! The matchbox full-mesh mode (PROTOCOL §11, BEHAVIOUR §20; DECISIONS D50 to D52):
//! peers of one room learn each other's ids and pass WebRTC signals to each other.
//!
//! A peer connects on the mesh port to `/ROOM` or `/ROOM?next=N`. Without `next` the
//! path names one room, open to any number of peers up to `mesh.max_peers_per_room`.
//! With `next=N` the peers of that path and that N are grouped N at a time: the group
//! being filled is sealed when its N-th peer arrives, and the next peer starts a new one.
//! As in matchbox's server, `/ROOM`, `/ROOM?next=2` and `/ROOM?next=3` are three
//! separate places. Rooms and groups are the same thing here: a [`MeshGroup`].
//!
//! Mesh peers are ordinary connections for everything else (caps, liveness, slow
//! consumers, shutdown); only their role (`Role::Mesh`) and their messages differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::connection::Role;
use super::{close_code, Engine, InvariantViolation};
use crate::event::{Action, ConnId, Outbound};
use crate::protocol::{MeshEvent, MeshRequest};

/// Longest room name (the path without its leading `/`), in bytes. A name is held once
/// per room; the request head already bounds it (8 KiB), this keeps rooms small.
pub(crate) const MAX_ROOM_NAME_BYTES: usize = 256;

/// A mesh room's or group's internal key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct MeshKey(u64);

/// Where a peer asked to be: the room name and the group size it asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct MeshAddress {
    /// The path without its leading `/`, as sent (not percent-decoded).
    pub room: String,
    /// `next=N`: group peers N at a time.
    pub next: Option<usize>,
}

/// A room (without `next`) or one group of a `next` room: the peers that see each other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MeshGroup {
    /// What the peers asked for.
    pub address: MeshAddress,
    /// Peer ids and their connections, in the order they joined.
    pub members: Vec<(Uuid, ConnId)>,
    /// A `next` group that reached its size: nobody joins it any more.
    pub sealed: bool,
}

/// Every mesh room and group.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct MeshRooms {
    /// Rooms and groups, live ones only (an empty one is removed).
    pub groups: BTreeMap<MeshKey, MeshGroup>,
    /// The group a new peer of each address joins: the room itself, or the `next` group
    /// being filled.
    #[serde(with = "super::checkpoint::as_pairs")]
    pub open: BTreeMap<MeshAddress, MeshKey>,
    /// Peers in all groups.
    pub peers: usize,
    /// The next group's key.
    next_key: u64,
}

/// Why a mesh connection is refused at the door: its close code and reason.
pub(crate) type MeshRefusal = (u16, &'static str);

/// Reads `/ROOM?next=N`. A `next` that is not a number is ignored, as matchbox's server
/// ignores it; `next=0` is refused (matchbox's server would panic on it).
fn parse_target(target: &str, max_peers: usize) -> Result<MeshAddress, MeshRefusal> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let room = path.strip_prefix('/').unwrap_or(path);
    if room.len() > MAX_ROOM_NAME_BYTES {
        return Err((close_code::POLICY, "mesh room name too long"));
    }
    let next = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "next")
        .and_then(|(_, value)| value.parse::<usize>().ok());
    match next {
        Some(0) => Err((close_code::POLICY, "mesh next must be at least 1")),
        Some(n) if n > max_peers => Err((close_code::POLICY, "mesh next above max_peers_per_room")),
        _ => Ok(MeshAddress { room: room.to_owned(), next }),
    }
}

impl Engine {
    /// Where a new mesh peer on `target` would go, or why it cannot come in: a room at
    /// `mesh.max_peers_per_room` (1008) or no room left under `mesh.max_rooms` (1013).
    /// Nothing changes until [`Engine::mesh_join`].
    pub(super) fn mesh_admit(&self, target: &str) -> Result<MeshAddress, MeshRefusal> {
        let limits = &self.config.mesh;
        let address = parse_target(target, limits.max_peers_per_room)?;
        match self.mesh.open.get(&address) {
            // A `next` group is sealed at its size, never above the cap: only a room
            // without `next` can be full.
            Some(key) if self.mesh.groups[key].members.len() >= limits.max_peers_per_room => {
                Err((close_code::POLICY, "mesh room full"))
            }
            Some(_) => Ok(address),
            None if self.mesh.groups.len() >= limits.max_rooms => {
                Err((close_code::TRY_AGAIN_LATER, "mesh rooms at capacity"))
            }
            None => Ok(address),
        }
    }

    /// Seats an admitted peer: its id first (`IdAssigned`), then `NewPeer` to the peers
    /// already there; seals a `next` group that reached its size.
    pub(super) fn mesh_join(&mut self, conn: ConnId, address: MeshAddress, out: &mut Vec<Action>) {
        let peer_id = self.conns[&conn].player_id;
        let key = match self.mesh.open.get(&address) {
            Some(key) => *key,
            None => {
                self.mesh.next_key += 1;
                let key = MeshKey(self.mesh.next_key);
                let group = MeshGroup { address: address.clone(), members: Vec::new(), sealed: false };
                self.mesh.groups.insert(key, group);
                self.mesh.open.insert(address.clone(), key);
                key
            }
        };
        self.conns.get_mut(&conn).expect("admitted").role = Role::Mesh(key);
        self.mesh.peers += 1;
        self.counters.mesh_peers_total += 1;
        self.send_message(conn, Outbound::Text(MeshEvent::IdAssigned(peer_id).to_bytes()), out);
        let group = self.mesh.groups.get_mut(&key).expect("just found or made");
        let others: Vec<ConnId> = group.members.iter().map(|(_, c)| *c).collect();
        group.members.push((peer_id, conn));
        if address.next == Some(group.members.len()) {
            group.sealed = true;
            self.mesh.open.remove(&address);
        }
        let announcement = MeshEvent::NewPeer(peer_id).to_bytes();
        for other in others {
            self.send_message(other, Outbound::Text(announcement.clone()), out);
        }
    }

    /// A text message from a mesh peer. Anything but a signal or a keep-alive is
    /// ignored (counted as a validation error), as matchbox's server does; only a
    /// message above `security.max_message_size` ends the connection (1009), since the
    /// mesh protocol has no error message to say so (D52).
    pub(super) fn on_mesh_text(&mut self, conn: ConnId, key: MeshKey, text: &str, out: &mut Vec<Action>) {
        if text.len() > self.config.security.max_message_size {
            self.counters.validation_errors_total += 1;
            self.close(conn, close_code::MESSAGE_TOO_BIG, "message too large", out);
            return;
        }
        let request = match MeshRequest::decode(text) {
            Ok(request) => request,
            Err(_) => {
                self.counters.validation_errors_total += 1;
                return;
            }
        };
        match request {
            MeshRequest::KeepAlive => {}
            MeshRequest::Signal { receiver, data } => {
                let sender = self.conns[&conn].player_id;
                let group = &self.mesh.groups[&key];
                // Only a peer of the same room or group: ids of other rooms stay unusable
                // even if guessed (D52).
                let Some(&(_, to)) = group.members.iter().find(|(id, _)| *id == receiver) else {
                    self.counters.mesh_signals_dropped_total += 1;
                    return;
                };
                self.counters.mesh_signals_relayed_total += 1;
                let event = MeshEvent::Signal { sender, data: data.get() };
                self.send_message(to, Outbound::Text(event.to_bytes()), out);
            }
        }
    }

    /// A mesh peer is gone (closed, dropped, timed out, closed by the server): the rest
    /// of its room or group get `PeerLeft`, except during shutdown, when they are all
    /// being closed too. An emptied room or group is removed.
    pub(super) fn mesh_leave(&mut self, key: MeshKey, peer_id: Uuid, out: &mut Vec<Action>) {
        let group = self.mesh.groups.get_mut(&key).expect("mesh peers have groups");
        group.members.retain(|(id, _)| *id != peer_id);
        self.mesh.peers -= 1;
        let others: Vec<ConnId> = group.members.iter().map(|(_, c)| *c).collect();
        if others.is_empty() {
            let group = self.mesh.groups.remove(&key).expect("just seen");
            if self.mesh.open.get(&group.address) == Some(&key) {
                self.mesh.open.remove(&group.address);
            }
            return;
        }
        if self.shutting_down {
            return;
        }
        let announcement = MeshEvent::PeerLeft(peer_id).to_bytes();
        for other in others {
            self.send_message(other, Outbound::Text(announcement.clone()), out);
        }
    }
}

impl Engine {
    /// The mesh's own invariants (`Engine::check_invariants` calls this): every member
    /// is a live mesh connection of its group, groups are within their bounds, the open
    /// index points at unsealed groups of the right address, the peer count is right.
    pub(super) fn check_mesh_invariants(&self) -> Result<(), InvariantViolation> {
        let limits = &self.config.mesh;
        let fail = |what: String| Err(InvariantViolation(what));
        if self.mesh.groups.len() > limits.max_rooms {
            return fail("mesh rooms over mesh.max_rooms".to_owned());
        }
        let mut peers = 0;
        for (key, group) in &self.mesh.groups {
            peers += group.members.len();
            let bound = group.address.next.unwrap_or(limits.max_peers_per_room);
            if group.members.is_empty() || group.members.len() > bound.min(limits.max_peers_per_room) {
                return fail(format!("mesh group {key:?} has {} members", group.members.len()));
            }
            for (peer, conn) in &group.members {
                let live = self.conns.get(conn);
                if !live.is_some_and(|c| c.role == Role::Mesh(*key) && c.player_id == *peer) {
                    return fail(format!("mesh group {key:?} lists {conn} which is not its peer {peer}"));
                }
            }
            let open = self.mesh.open.get(&group.address) == Some(key);
            if open == group.sealed {
                return fail(format!("mesh group {key:?} is sealed={} but open={open}", group.sealed));
            }
            if !group.sealed && group.address.next.is_some_and(|n| group.members.len() >= n) {
                return fail(format!("mesh group {key:?} reached its size unsealed"));
            }
        }
        for (address, key) in &self.mesh.open {
            if self.mesh.groups.get(key).is_none_or(|g| g.address != *address) {
                return fail(format!("mesh open index for {address:?} is stale"));
            }
        }
        if peers != self.mesh.peers {
            return fail(format!("mesh peer count {} but {peers} members", self.mesh.peers));
        }
        // A restored checkpoint must not hand out a key that is in use.
        if self.mesh.groups.keys().next_back().is_some_and(|key| key.0 > self.mesh.next_key) {
            return fail(format!("mesh group key above the next key {}", self.mesh.next_key));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let at = |room: &str, next| Ok(MeshAddress { room: room.to_owned(), next });
        assert_eq!(parse_target("/lobby", 8), at("lobby", None));
        assert_eq!(parse_target("/lobby?next=2", 8), at("lobby", Some(2)));
        assert_eq!(parse_target("/lobby?x=1&next=8", 8), at("lobby", Some(8)));
        assert_eq!(parse_target("/lobby?next=two", 8), at("lobby", None));
        assert_eq!(parse_target("/", 8), at("", None));
        assert!(parse_target("/lobby?next=0", 8).is_err());
        assert!(parse_target("/lobby?next=9", 8).is_err());
        assert!(parse_target(&format!("/{}", "a".repeat(MAX_ROOM_NAME_BYTES + 1)), 8).is_err());
    }
}
