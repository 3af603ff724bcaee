//! Cluster mode (DECISIONS D58; the types and the picture are in `crate::cluster`).
//!
//! On the *edge* (where the socket is) a connection whose `JoinRoom`, `JoinAsSpectator`
//! or `Reconnect` names a room this engine does not have waits for the directory
//! (`Role::Resolving`, holding what the client sends meanwhile), then either goes on
//! here (a claim granted, or no such room: the message is handled again as a single
//! server would) or is handed to the owner (`Role::Forwarded`): every later input is
//! forwarded there, and every output of the owner is written here.
//!
//! On the *owner* an adopted connection is an ordinary connection with an id of its own
//! (`ADOPTED_IDS` and up); at the end of each step the sends and closes for it become
//! messages to its edge. Nothing here runs when cluster mode is off.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::connection::{Connection, Role};
use super::timers::Timer;
use super::{close_code, Engine};
use crate::cluster::{
    ClientInput, ClientOutput, DirectoryAnswer, DirectoryQuery, DirectoryUpdate, HandedOver, NodeId,
    NodeMessage,
};
use crate::event::{Action, CloseCause, ConnId};
use crate::protocol::ErrorCode;
use crate::Instant;

/// Ids of adopted connections start here; hosts number their own sockets below it.
pub const ADOPTED_IDS: u64 = 1 << 62;
/// Inputs held for a connection waiting for the directory; past it the client is not
/// waiting for an answer but flooding, and is closed.
const MAX_HELD_INPUTS: usize = 256;
/// Bytes of inputs held for a connection waiting for the directory.
const MAX_HELD_BYTES: usize = 1 << 20;
/// Claims of generated codes that another node already held, before giving up.
const MAX_GENERATED_CLAIMS: u8 = 4;
/// Times one connection may be handed on (a player that leaves a room and joins one on
/// yet another node adds a hop; each hop is a link that can break).
pub const MAX_HOPS: u8 = 16;

/// Cluster state of one engine. Empty when cluster mode is off.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct ClusterState {
    /// Connections waiting for the directory, and connections that closed while their
    /// query was out (kept until the answer comes, so a granted claim is given back).
    resolving: BTreeMap<ConnId, Pending>,
    /// An answer being applied: the message that asked is handled again with it.
    resolved: Option<(ConnId, Resolution)>,
    /// The text of the message being handled, while it may need to ask the directory.
    asking: Option<ClientInput>,
    /// Edge side: connections handed over, and the node that now serves them.
    forwarded: BTreeMap<ConnId, NodeId>,
    /// Owner side: adopted connections, with their edge and the edge's id for them.
    adopted: BTreeMap<ConnId, Origin>,
    /// The reverse of `adopted`.
    #[serde(with = "super::checkpoint::as_pairs")]
    by_origin: BTreeMap<(NodeId, ConnId), ConnId>,
    /// Adopted connections forgotten during this step: their last close still goes out.
    departed: BTreeMap<ConnId, Origin>,
    /// The next adopted connection's id, from `ADOPTED_IDS`.
    next_adopted: u64,
    /// What cluster mode did, for the metrics.
    stats: ClusterStats,
}

/// Cluster-mode counters of one engine (all zero when cluster mode is off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStats {
    /// Directory queries made.
    pub queries: u64,
    /// Queries answered `Unavailable`.
    pub directory_unavailable: u64,
    /// Connections handed to another node.
    pub handovers: u64,
    /// Connections adopted from another node.
    pub adopted: u64,
    /// Hand-overs refused (not understood, or this node was shutting down).
    pub handovers_refused: u64,
    /// Client inputs forwarded to another node.
    pub forwarded_inputs: u64,
    /// Connections closed because the link to their other node was lost.
    pub links_lost: u64,
}

/// Where an adopted connection's socket is.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Origin {
    node: NodeId,
    conn: ConnId,
    /// Hand-overs so far, this one included.
    hops: u8,
}

/// A connection waiting for the directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    /// The message that asked (handled again, or handed over first).
    asked: ClientInput,
    query: DirectoryQuery,
    /// What the client sent since, in order.
    held: Vec<ClientInput>,
    held_bytes: usize,
    /// Generated codes already found taken.
    taken_claims: u8,
    /// The connection closed meanwhile; only the answer is awaited.
    orphaned: bool,
}

/// What a directory answer lets the asking message do when it is handled again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Resolution {
    /// The code is this node's: create the room under it.
    Claimed { game: String, code: String },
    /// No node has it: answer as a single server would.
    Absent,
    /// The directory is unreachable: refuse with `SERVICE_UNAVAILABLE`.
    Unavailable,
    /// Generated codes kept being taken: refuse with `ROOM_CREATION_FAILED`.
    Exhausted,
}

/// What a handed-over connection carries.
#[derive(Serialize, Deserialize)]
struct HandOverState {
    connection: Connection,
    /// The asking message first, then what was held.
    inputs: Vec<ClientInput>,
    hops: u8,
    /// Microseconds since the client was last heard from: instants of one engine mean
    /// nothing to another (each host's clock has its own origin), durations do.
    idle_micros: u64,
}

impl Engine {
    /// Cluster-mode counters.
    pub fn cluster_stats(&self) -> ClusterStats {
        self.cluster.stats
    }

    /// Connections this engine holds the socket of but another node serves.
    pub fn forwarded_count(&self) -> usize {
        self.cluster.forwarded.len()
    }

    /// Connections this engine serves whose socket is on another node.
    pub fn adopted_count(&self) -> usize {
        self.cluster.adopted.len()
    }

    /// Whether cluster mode is on.
    pub(super) fn clustered(&self) -> bool {
        self.config.cluster.enabled()
    }

    /// The directory's answer being applied to `conn`'s message, if any.
    pub(super) fn resolution_for(&self, conn: ConnId) -> Option<Resolution> {
        match &self.cluster.resolved {
            Some((resolved, resolution)) if *resolved == conn => Some(resolution.clone()),
            _ => None,
        }
    }

    /// Asks the directory for the message being handled; the handler stops there and
    /// the message is handled again with the answer. Refused once a connection has been
    /// handed on `MAX_HOPS` times.
    pub(super) fn ask_directory(
        &mut self,
        conn: ConnId,
        query: DirectoryQuery,
        out: &mut Vec<Action>,
    ) -> Result<(), (String, ErrorCode)> {
        if self.cluster.adopted.get(&conn).is_some_and(|origin| origin.hops >= MAX_HOPS) {
            let reason = format!(
                "This connection has moved between nodes {MAX_HOPS} times; reconnect to join another room"
            );
            return Err((reason, ErrorCode::ServiceUnavailable));
        }
        let asked = self.cluster.asking.take().expect("handlers that ask are reached through on_text");
        self.ask(conn, asked, query, 0, out);
        Ok(())
    }

    /// Keeps the text of a message that may need the directory while it is handled.
    pub(super) fn hold_asking(&mut self, text: &str) {
        self.cluster.asking = Some(ClientInput::Text(text.to_owned()));
    }

    /// Forgets it once handled.
    pub(super) fn drop_asking(&mut self) {
        self.cluster.asking = None;
    }

    fn ask(
        &mut self,
        conn: ConnId,
        asked: ClientInput,
        query: DirectoryQuery,
        taken_claims: u8,
        out: &mut Vec<Action>,
    ) {
        let c = self.conns.get_mut(&conn).expect("asking for a live connection");
        c.role = Role::Resolving;
        self.cluster.stats.queries += 1;
        out.push(Action::Query { conn, query: query.clone() });
        self.cluster.resolving.insert(
            conn,
            Pending { asked, query, held: Vec::new(), held_bytes: 0, taken_claims, orphaned: false },
        );
    }

    /// Takes an input for a connection that is resolving or forwarded; gives any other
    /// back (the caller handles it as usual).
    pub(super) fn divert_input(
        &mut self,
        conn: ConnId,
        input: ClientInput,
        out: &mut Vec<Action>,
    ) -> Result<(), ClientInput> {
        if !self.clustered() {
            return Err(input);
        }
        let Some(c) = self.conns.get_mut(&conn) else { return Err(input) };
        match c.role {
            Role::Forwarded => {
                c.last_inbound = self.clock.now;
                self.counters.frames_received_total +=
                    u64::from(matches!(input, ClientInput::Text(_) | ClientInput::Binary(_)));
                let to = self.cluster.forwarded[&conn].clone();
                self.cluster.stats.forwarded_inputs += 1;
                out.push(Action::ToNode { to, message: NodeMessage::Input { conn, input } });
                Ok(())
            }
            Role::Resolving => {
                c.last_inbound = self.clock.now;
                let pending =
                    self.cluster.resolving.get_mut(&conn).expect("resolving connections are pending");
                let size = input_size(&input);
                if pending.held.len() >= MAX_HELD_INPUTS || pending.held_bytes + size > MAX_HELD_BYTES {
                    self.close(conn, close_code::POLICY, "too many messages while joining", out);
                } else {
                    pending.held_bytes += size;
                    pending.held.push(input);
                }
                Ok(())
            }
            _ => Err(input),
        }
    }

    /// `Event::Answer`.
    pub(super) fn on_answer(&mut self, conn: ConnId, answer: DirectoryAnswer, out: &mut Vec<Action>) {
        let Some(pending) = self.cluster.resolving.remove(&conn) else { return };
        if pending.orphaned {
            if answer == DirectoryAnswer::Here {
                self.give_back_unused_claim(&pending.query, out);
            }
            return;
        }
        let c = self.conns.get_mut(&conn).expect("pending connections that did not close are live");
        c.role = Role::Idle;
        match (&pending.query, answer) {
            (DirectoryQuery::Claim { game, code }, DirectoryAnswer::Here) => {
                let resolution = Resolution::Claimed { game: game.clone(), code: code.clone() };
                self.apply(conn, resolution, pending, out);
            }
            (DirectoryQuery::Claim { game, .. }, DirectoryAnswer::Node(_))
                if is_generated(&pending.asked) =>
            {
                // Another node holds the code this engine generated: try another.
                if pending.taken_claims + 1 >= MAX_GENERATED_CLAIMS {
                    self.apply(conn, Resolution::Exhausted, pending, out);
                    return;
                }
                let game = game.clone();
                match self.generate_room_code(&game) {
                    Ok(code) => {
                        let query = DirectoryQuery::Claim { game, code };
                        let Pending { asked, held, held_bytes, taken_claims, .. } = pending;
                        self.ask(conn, asked, query, taken_claims + 1, out);
                        let again = self.cluster.resolving.get_mut(&conn).expect("just asked");
                        again.held = held;
                        again.held_bytes = held_bytes;
                    }
                    Err(_) => self.apply(conn, Resolution::Exhausted, pending, out),
                }
            }
            (_, DirectoryAnswer::Node(node)) => self.hand_over(conn, node, pending, out),
            (_, DirectoryAnswer::Here | DirectoryAnswer::Absent) => {
                self.apply(conn, Resolution::Absent, pending, out)
            }
            (_, DirectoryAnswer::Unavailable) => {
                self.cluster.stats.directory_unavailable += 1;
                self.apply(conn, Resolution::Unavailable, pending, out)
            }
        }
    }

    /// Handles the asking message again with `resolution`, then what was held.
    fn apply(&mut self, conn: ConnId, resolution: Resolution, pending: Pending, out: &mut Vec<Action>) {
        let granted = matches!(resolution, Resolution::Claimed { .. });
        self.cluster.resolved = Some((conn, resolution));
        self.dispatch_input(conn, pending.asked, out);
        self.cluster.resolved = None;
        if granted {
            // A claim the join did not use (refused, or the room was made and has already
            // gone) is given back.
            self.give_back_unused_claim(&pending.query, out);
        }
        self.replay_held(conn, pending.held, out);
    }

    /// Handles held inputs in order; if one of them makes the connection wait again, the
    /// rest wait behind it.
    fn replay_held(&mut self, conn: ConnId, held: Vec<ClientInput>, out: &mut Vec<Action>) {
        let mut inputs = held.into_iter();
        while let Some(input) = inputs.next() {
            if !self.conns.contains_key(&conn) {
                return;
            }
            if let Err(input) = self.divert_input(conn, input, out) {
                self.dispatch_input(conn, input, out);
                continue;
            }
            // Diverted: resolving or forwarded now; the rest follow the same way.
            for input in inputs.by_ref() {
                if self.divert_input(conn, input, out).is_err() {
                    unreachable!("a diverted connection stays diverted within one step");
                }
            }
        }
    }

    /// Hands `conn` to `node`, which owns the room it asked for.
    fn hand_over(&mut self, conn: ConnId, node: NodeId, pending: Pending, out: &mut Vec<Action>) {
        let c = self.conns.get_mut(&conn).expect("live");
        c.role = Role::Idle;
        let hops = self.cluster.adopted.get(&conn).map_or(0, |o| o.hops) + 1;
        let mut inputs = Vec::with_capacity(1 + pending.held.len());
        inputs.push(pending.asked);
        inputs.extend(pending.held);
        let idle_micros = self.clock.now.saturating_duration_since(c.last_inbound).as_micros() as u64;
        let state = HandOverState { connection: c.clone(), inputs, hops, idle_micros };
        let state = HandedOver(serde_json::to_value(&state).expect("connections serialise"));
        c.role = Role::Forwarded;
        // The owner watches the connection's liveness from now on.
        self.timers.cancel(c.liveness_at, Timer::Liveness(conn));
        self.cluster.forwarded.insert(conn, node.clone());
        self.cluster.stats.handovers += 1;
        out.push(Action::ToNode { to: node, message: NodeMessage::Adopt { conn, state } });
    }

    /// `Event::FromNode`.
    pub(super) fn on_node_message(&mut self, from: NodeId, message: NodeMessage, out: &mut Vec<Action>) {
        if !self.clustered() {
            return;
        }
        match message {
            NodeMessage::Adopt { conn, state } => self.adopt(from, conn, state, out),
            NodeMessage::Input { conn, input } => {
                let Some(&local) = self.cluster.by_origin.get(&(from, conn)) else { return };
                // The socket ended: this node lets go of the connection too, even if it
                // had handed it on (dropping it tells the next node, which answers a
                // close with nothing).
                if let ClientInput::Closed(cause) = input {
                    return self.on_closed(local, cause, out);
                }
                if let Err(input) = self.divert_input(local, input, out) {
                    self.dispatch_input(local, input, out);
                }
            }
            NodeMessage::Output { conn, output } => {
                if self.cluster.forwarded.get(&conn) != Some(&from) {
                    return;
                }
                match output {
                    ClientOutput::Send(message) => self.send_message(conn, message, out),
                    ClientOutput::Close { code, reason } => {
                        out.push(Action::Close { conn, code, reason: known_close_reason(&reason) });
                        self.forget_forwarded(conn, out);
                    }
                }
            }
        }
    }

    fn adopt(&mut self, from: NodeId, edge_conn: ConnId, state: HandedOver, out: &mut Vec<Action>) {
        let refuse_with = |code: u16, reason: &str, out: &mut Vec<Action>| {
            out.push(Action::ToNode {
                to: from.clone(),
                message: NodeMessage::Output {
                    conn: edge_conn,
                    output: ClientOutput::Close { code, reason: reason.to_owned() },
                },
            });
        };
        let refuse =
            |reason: &str, out: &mut Vec<Action>| refuse_with(close_code::INTERNAL_ERROR, reason, out);
        if self.cluster.by_origin.contains_key(&(from.clone(), edge_conn)) {
            return;
        }
        let Ok(HandOverState { mut connection, inputs, hops, idle_micros }) =
            serde_json::from_value::<HandOverState>(state.0)
        else {
            self.cluster.stats.handovers_refused += 1;
            refuse("hand-over not understood", out);
            return;
        };
        if self.shutting_down
            || connection.app.is_some_and(|i| i >= self.config.security.authorized_apps.len())
        {
            self.cluster.stats.handovers_refused += 1;
            refuse(if self.shutting_down { "server shutting down" } else { "hand-over not understood" }, out);
            return;
        }
        // A connection served here counts against this node's caps as one of its own
        // sockets would (the edge counts its socket too): the caps bound what a node
        // holds, whoever holds the sockets.
        let from_ip = self.sources.ips.get(&connection.ip).map_or(0, |s| s.connections);
        if self.conns.len() >= self.config.server.max_connections {
            self.cluster.stats.handovers_refused += 1;
            return refuse_with(close_code::TRY_AGAIN_LATER, "server at capacity", out);
        }
        if from_ip >= self.config.security.max_connections_per_ip {
            self.cluster.stats.handovers_refused += 1;
            return refuse_with(close_code::POLICY, "too many connections", out);
        }
        let conn = ConnId(ADOPTED_IDS + self.cluster.next_adopted);
        self.cluster.next_adopted += 1;
        connection.role = Role::Idle;
        connection.auth_deadline = None;
        // The client's silence so far counts here as it did on its edge.
        let silent_since = self.clock.now.as_micros().saturating_sub(idle_micros);
        connection.last_inbound = Instant::from_micros(silent_since);
        let timeout = std::time::Duration::from_secs(self.config.server.ping_timeout);
        connection.liveness_at = (connection.last_inbound + timeout).max(self.clock.now);
        let state = self.sources.ips.entry(connection.ip).or_default();
        state.connections += 1;
        if let Some(at) = state.purge_at.take() {
            self.timers.cancel(at, Timer::IpWindow(connection.ip));
        }
        self.timers.schedule(connection.liveness_at, Timer::Liveness(conn));
        self.conns.insert(conn, connection);
        self.cluster.adopted.insert(conn, Origin { node: from.clone(), conn: edge_conn, hops });
        self.cluster.by_origin.insert((from, edge_conn), conn);
        self.cluster.stats.adopted += 1;
        self.replay_held(conn, inputs, out);
    }

    /// Handles one client input as if it came from the connection's own socket.
    pub(super) fn dispatch_input(&mut self, conn: ConnId, input: ClientInput, out: &mut Vec<Action>) {
        match input {
            ClientInput::Text(text) => self.on_text(conn, &text, out),
            ClientInput::Binary(data) => self.on_binary(conn, &data, out),
            ClientInput::PongFrame => self.on_pong_frame(conn, out),
            ClientInput::PingFrame => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.last_inbound = self.clock.now;
                }
            }
            ClientInput::Closed(cause) => self.on_closed(conn, cause, out),
            ClientInput::Backlogged(unsent) => self.on_backlogged(conn, unsent, out),
        }
    }

    /// The edge forgets a forwarded connection the owner closed.
    fn forget_forwarded(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        self.cluster.forwarded.remove(&conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Idle;
        }
        self.drop_connection(conn, out);
    }

    /// `drop_connection`'s part for cluster roles: the owner hears of a forwarded
    /// connection's end (`tell_owner`), a pending claim is kept for its answer.
    pub(super) fn drop_cluster_role(
        &mut self,
        conn: ConnId,
        role: Role,
        tell_owner: Option<CloseCause>,
        out: &mut Vec<Action>,
    ) {
        match role {
            Role::Forwarded => {
                if let Some(to) = self.cluster.forwarded.remove(&conn) {
                    if let Some(cause) = tell_owner {
                        let input = ClientInput::Closed(cause);
                        out.push(Action::ToNode { to, message: NodeMessage::Input { conn, input } });
                    }
                }
            }
            Role::Resolving => {
                if let Some(pending) = self.cluster.resolving.get_mut(&conn) {
                    pending.orphaned = true;
                    pending.held.clear();
                }
            }
            _ => {}
        }
        if let Some(origin) = self.cluster.adopted.remove(&conn) {
            self.cluster.by_origin.remove(&(origin.node.clone(), origin.conn));
            self.cluster.departed.insert(conn, origin);
        }
    }

    /// `Event::NodeLost`: connections handed to the node are closed; connections it
    /// handed here end as if their sockets had failed.
    pub(super) fn on_node_lost(&mut self, node: Option<NodeId>, out: &mut Vec<Action>) {
        let lost = |n: &NodeId| node.as_ref().is_none_or(|x| x == n);
        let forwarded: Vec<ConnId> =
            self.cluster.forwarded.iter().filter(|(_, n)| lost(n)).map(|(c, _)| *c).collect();
        for conn in forwarded {
            self.cluster.stats.links_lost += 1;
            self.cluster.forwarded.remove(&conn);
            self.close(conn, close_code::GOING_AWAY, "room's node is gone", out);
        }
        let adopted: Vec<ConnId> =
            self.cluster.adopted.iter().filter(|(_, o)| lost(&o.node)).map(|(c, _)| *c).collect();
        for conn in adopted {
            self.cluster.stats.links_lost += 1;
            self.on_closed(conn, CloseCause::TransportError, out);
        }
        // Their last outputs have nowhere to go.
        self.cluster.departed.retain(|_, o| !lost(&o.node));
    }

    /// Tells the directory of a room made or removed (in cluster mode; `update` is only
    /// built then).
    pub(super) fn publish(&self, update: impl FnOnce() -> DirectoryUpdate, out: &mut Vec<Action>) {
        if self.clustered() {
            out.push(Action::Publish(update()));
        }
    }

    /// Releases a claimed code no room here holds and no other join here waits for (the
    /// directory grants one node's claim to each of its joins; the first to make the
    /// room keeps it).
    fn give_back_unused_claim(&self, query: &DirectoryQuery, out: &mut Vec<Action>) {
        if let DirectoryQuery::Claim { game, code } = query {
            let awaited = self.cluster.resolving.values().any(|pending| pending.query == *query);
            if !awaited && !self.directory.by_code.contains_key(&(game.clone(), code.clone())) {
                out.push(Action::Publish(DirectoryUpdate::RoomRemoved {
                    game: game.clone(),
                    code: code.clone(),
                    room_id: None,
                }));
            }
        }
    }

    /// Ends a step: what was sent to or closed for adopted connections goes to their edges.
    pub(super) fn route_to_edges(&mut self, out: &mut [Action]) {
        if self.cluster.adopted.is_empty() && self.cluster.departed.is_empty() {
            return;
        }
        for action in out.iter_mut() {
            let conn = match action {
                Action::Send { conn, .. } | Action::Close { conn, .. } => *conn,
                _ => continue,
            };
            let Some(origin) = self.cluster.adopted.get(&conn).or_else(|| self.cluster.departed.get(&conn))
            else {
                continue;
            };
            let output = match std::mem::replace(
                action,
                Action::Publish(DirectoryUpdate::RoomRemoved {
                    game: String::new(),
                    code: String::new(),
                    room_id: None,
                }),
            ) {
                Action::Send { message, .. } => ClientOutput::Send(message),
                Action::Close { code, reason, .. } => ClientOutput::Close { code, reason: reason.to_owned() },
                _ => unreachable!("matched above"),
            };
            *action = Action::ToNode {
                to: origin.node.clone(),
                message: NodeMessage::Output { conn: origin.conn, output },
            };
        }
        self.cluster.departed.clear();
    }

    /// Cluster invariants: every cluster role has its entry, and the maps agree.
    pub(super) fn cluster_invariant(&self) -> Result<(), String> {
        for (conn, c) in &self.conns {
            let ok = match c.role {
                Role::Forwarded => self.cluster.forwarded.contains_key(conn),
                Role::Resolving => self.cluster.resolving.get(conn).is_some_and(|p| !p.orphaned),
                _ => !self.cluster.forwarded.contains_key(conn),
            };
            if !ok {
                return Err(format!("{conn}: role {:?} disagrees with the cluster maps", c.role));
            }
        }
        for conn in self.cluster.forwarded.keys() {
            if !self.conns.contains_key(conn) {
                return Err(format!("{conn} forwarded but not live"));
            }
        }
        for (conn, p) in &self.cluster.resolving {
            if !p.orphaned && !self.conns.contains_key(conn) {
                return Err(format!("{conn} resolving but not live"));
            }
        }
        if self.cluster.adopted.len() != self.cluster.by_origin.len() {
            return Err("adopted and by_origin differ in size".to_owned());
        }
        for (conn, origin) in &self.cluster.adopted {
            if !self.conns.contains_key(conn)
                || self.cluster.by_origin.get(&(origin.node.clone(), origin.conn)) != Some(conn)
            {
                return Err(format!("{conn} adopted but not live or not indexed"));
            }
        }
        if !self.cluster.departed.is_empty()
            || self.cluster.resolved.is_some()
            || self.cluster.asking.is_some()
        {
            return Err("per-step cluster state left over".to_owned());
        }
        Ok(())
    }

    /// The `RoomJoinFailed`/`SpectatorJoinFailed` refusal for a resolution that cannot
    /// go on here.
    pub(super) fn refusal_of(resolution: &Resolution) -> Option<(String, ErrorCode)> {
        match resolution {
            Resolution::Unavailable => Some((
                "The room directory is unreachable; try again shortly".to_owned(),
                ErrorCode::ServiceUnavailable,
            )),
            Resolution::Exhausted => {
                Some(("Could not generate a unique room code".to_owned(), ErrorCode::RoomCreationFailed))
            }
            Resolution::Claimed { .. } | Resolution::Absent => None,
        }
    }

    /// The node a forwarded connection is served by.
    pub(super) fn cluster_forwarded_to(&self, conn: ConnId) -> NodeId {
        self.cluster.forwarded[&conn].clone()
    }

    /// Closes a forwarded connection's socket without telling its owner (who already
    /// knows).
    pub(super) fn close_quietly(
        &mut self,
        conn: ConnId,
        code: u16,
        reason: &'static str,
        out: &mut Vec<Action>,
    ) {
        self.cluster.forwarded.remove(&conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Idle;
            out.push(Action::Close { conn, code, reason });
            self.drop_connection(conn, out);
        }
    }
}

/// Whether the asking message is a `JoinRoom` without a code (one the engine generated).
fn is_generated(asked: &ClientInput) -> bool {
    let ClientInput::Text(text) = asked else { return false };
    matches!(
        crate::protocol::ClientMessage::decode(text),
        Ok(crate::protocol::ClientMessage::JoinRoom(request)) if request.room_code.is_none()
    )
}

fn input_size(input: &ClientInput) -> usize {
    match input {
        ClientInput::Text(t) => t.len(),
        ClientInput::Binary(b) => b.len(),
        ClientInput::Backlogged(unsent) => unsent.iter().map(|o| o.len()).sum(),
        _ => 0,
    }
}

/// The engine's own close reasons, so a close carried from another node keeps its
/// reason text (`Action::Close` holds static text).
pub(super) fn known_close_reason(reason: &str) -> &'static str {
    close_code::REASONS.iter().copied().find(|r| *r == reason).unwrap_or("closed by the room's node")
}
