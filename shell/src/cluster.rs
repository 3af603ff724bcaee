//! Cluster mode's shell side (DECISIONS D58): the engine's directory queries, directory
//! updates and node messages carried over Redis by `signal-fish-redis`, and what Redis
//! reports turned back into engine events.
//!
//! The driver owns one [`ClusterLink`]. Actions reach it through the driver's
//! `Transport::cluster`; its events come back on [`ClusterLink::events`], and
//! [`ClusterLink::translate`] makes engine events of them. A request the link cannot
//! even queue is answered at once (`Unavailable`, or the node lost), through
//! [`ClusterLink::take_immediate`], so the engine never waits for an answer that will
//! not come.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use signal_fish_core::cluster::{DirectoryAnswer, DirectoryQuery, DirectoryUpdate, NodeId, NodeMessage};
use signal_fish_core::config::ClusterConfig;
use signal_fish_core::metrics::ClusterHostStats;
use signal_fish_core::{Action, ConnId, Event};
use signal_fish_redis::{LinkError, LinkEvent, LinkSettings, Owner, RedisLink, Reply, Request};
use smol::channel::Receiver;

/// Request ids at and above this are fire-and-forget (updates and node messages); below
/// it a request id is the connection a query was made for.
const UNANSWERED: u64 = 1 << 63;
/// Most bytes of one node-to-node message (a hand-over carries the held inputs, at most
/// 1 MiB, plus the connection's state).
const MAX_PAYLOAD: usize = 2 << 20;
/// Requests (and events) queued between the driver and the Redis threads at most.
const MAX_QUEUED_REQUESTS: usize = 16_384;

/// See the module documentation.
pub(crate) struct ClusterLink {
    link: RedisLink,
    events: Receiver<LinkEvent>,
    node: NodeId,
    /// The next fire-and-forget request id.
    next_unanswered: u64,
    /// The live nodes last reported, to tell which ones left.
    live: BTreeSet<String>,
    /// Events for the engine decided without Redis (a request that could not be queued).
    immediate: VecDeque<Event>,
    /// Whether Redis was last reported unreachable (logged once per change).
    down: bool,
}

/// Why the cluster link could not start.
#[derive(Debug)]
pub(crate) struct ClusterStartError(pub String);

impl ClusterLink {
    /// Connects to `cluster.redis_url`, registers this node and subscribes to its inbox
    /// (waiting up to `cluster.startup_wait_secs` for Redis). `generated_id` names the
    /// node when `cluster.node_id` is null.
    pub(crate) fn start(
        config: &ClusterConfig,
        generated_id: String,
    ) -> Result<ClusterLink, ClusterStartError> {
        let url = config.redis_url.clone().expect("cluster mode is on");
        let node = config.node_id.clone().unwrap_or(generated_id);
        let mut settings = LinkSettings::new(url.clone(), node.clone());
        settings.prefix = config.key_prefix.clone();
        settings.lease = Duration::from_millis(config.lease_ms);
        settings.heartbeat_interval = Duration::from_millis(config.heartbeat_ms);
        settings.op_timeout = Duration::from_millis(config.redis_timeout_ms);
        settings.max_payload = MAX_PAYLOAD;
        // A burst of game data to remote members queues one send each: room for bursts
        // (the worker pipelines what is queued), still bounded.
        settings.max_queued_requests = MAX_QUEUED_REQUESTS;
        settings.max_queued_events = MAX_QUEUED_REQUESTS;
        settings.wait_for_redis =
            (config.startup_wait_secs > 0).then(|| Duration::from_secs(config.startup_wait_secs));
        let shown = config.redis_url_shown().unwrap_or_default();
        let (link, events) = RedisLink::start(settings)
            .map_err(|e| ClusterStartError(format!("cannot join the cluster through {shown}: {e}")))?;
        tracing::info!(node = %node, redis = %shown, "joined the cluster");
        Ok(ClusterLink {
            link,
            events,
            node: NodeId(node),
            next_unanswered: UNANSWERED,
            live: BTreeSet::new(),
            immediate: VecDeque::new(),
            down: false,
        })
    }

    /// What Redis reports, for the driver to wait on.
    pub(crate) fn events(&self) -> Receiver<LinkEvent> {
        self.events.clone()
    }

    /// What `/metrics` shows of the cluster.
    pub(crate) fn host_stats(&self) -> ClusterHostStats {
        let stats = self.link.stats().snapshot();
        ClusterHostStats {
            node_id: self.node.0.clone(),
            nodes_alive: self.live.len() as u64,
            redis_up: u64::from(!self.down),
            redis_ops_total: stats.ops,
            redis_errors_total: stats.op_errors,
            redis_rtt_last_us: stats.rtt_last_us,
            redis_rtt_max_us: stats.rtt_max_us,
            redis_rtt_mean_us: stats.rtt_total_us.checked_div(stats.ops).unwrap_or(0),
            messages_sent_total: stats.messages_sent,
            messages_received_total: stats.messages_received,
            link_gaps_total: stats.gaps + stats.subscription_losses,
        }
    }

    /// Carries one cluster action of the engine.
    pub(crate) fn carry(&mut self, action: Action) {
        match action {
            Action::Query { conn, query } => {
                let request = match query {
                    DirectoryQuery::Claim { game, code } => Request::ClaimCode { game, code },
                    DirectoryQuery::FindCode { game, code } => Request::FindCode { game, code },
                    DirectoryQuery::FindRoom { room_id } => {
                        Request::FindRoom { room_id: room_id.to_string() }
                    }
                };
                if let Err(error) = self.link.try_request(conn.0, request) {
                    tracing::warn!(%conn, %error, "directory query not sent");
                    self.immediate.push_back(Event::Answer { conn, answer: DirectoryAnswer::Unavailable });
                }
            }
            Action::Publish(update) => match update {
                DirectoryUpdate::RoomCreated { room_id, .. } => {
                    let _ = self.fire(Request::PublishRoom { room_id: room_id.to_string() });
                }
                DirectoryUpdate::RoomRemoved { game, code, room_id } => {
                    let _ = self.fire(Request::ReleaseCode { game, code });
                    if let Some(room_id) = room_id {
                        let _ = self.fire(Request::ReleaseRoom { room_id: room_id.to_string() });
                    }
                }
            },
            Action::ToNode { to, message } => {
                let payload = rmp_serde::to_vec(&message).expect("node messages serialise");
                let request = Request::Send { to: to.0.clone(), payload };
                if let Err(error) = self.fire(request) {
                    // The message is lost: what depended on the link must end.
                    tracing::warn!(node = %to, %error, "message to node not sent; its link is lost");
                    self.immediate.push_back(Event::NodeLost { node: Some(to) });
                }
            }
            Action::Send { .. } | Action::Close { .. } | Action::Http(_) => {
                unreachable!("the driver routes connection and HTTP actions itself")
            }
        }
    }

    fn fire(&mut self, request: Request) -> Result<(), LinkError> {
        let id = self.next_unanswered;
        self.next_unanswered = self.next_unanswered.checked_add(1).unwrap_or(UNANSWERED);
        let result = self.link.try_request(id, request);
        if let Err(error) = &result {
            tracing::warn!(%error, "directory update not sent");
        }
        result
    }

    /// An event decided without Redis, if any is waiting.
    pub(crate) fn take_immediate(&mut self) -> Option<Event> {
        self.immediate.pop_front()
    }

    /// The engine events a link event means (logging what an operator must know, once
    /// per change).
    pub(crate) fn translate(&mut self, event: LinkEvent) -> Vec<Event> {
        match event {
            LinkEvent::Answer { id, result } if id < UNANSWERED => {
                let answer = match result {
                    Ok(Reply::Owner(Owner::Mine)) => DirectoryAnswer::Here,
                    Ok(Reply::Owner(Owner::Other(node))) => DirectoryAnswer::Node(NodeId(node)),
                    Ok(Reply::Found(Some(node))) if node == self.node.0 => DirectoryAnswer::Here,
                    Ok(Reply::Found(Some(node))) => DirectoryAnswer::Node(NodeId(node)),
                    Ok(Reply::Found(None)) => DirectoryAnswer::Absent,
                    Ok(other) => {
                        tracing::error!(?other, "unexpected directory reply to a query");
                        DirectoryAnswer::Unavailable
                    }
                    Err(error) => {
                        tracing::debug!(%error, "directory query failed");
                        DirectoryAnswer::Unavailable
                    }
                };
                vec![Event::Answer { conn: ConnId(id), answer }]
            }
            LinkEvent::Answer { result: Ok(Reply::Owner(Owner::Other(node))), .. } => {
                // Only a re-claim of a room already here gets this: another node claimed
                // the code while this node's lease was lost.
                tracing::error!(other = %node, "a room code of this node was claimed by another node meanwhile");
                Vec::new()
            }
            LinkEvent::Answer { result: Err(LinkError::NotListening { node_id }), .. } => {
                tracing::warn!(node = %node_id, "a node is not listening; its link is lost");
                vec![Event::NodeLost { node: Some(NodeId(node_id)) }]
            }
            LinkEvent::Answer { result: Err(error), .. } => {
                tracing::debug!(%error, "directory update failed");
                Vec::new()
            }
            LinkEvent::Answer { .. } => Vec::new(),
            LinkEvent::NodeMessage { from, payload } => {
                match rmp_serde::from_slice::<NodeMessage>(&payload) {
                    Ok(message) => vec![Event::FromNode { from: NodeId(from), message }],
                    Err(error) => {
                        tracing::error!(node = %from, %error, "message from node not understood; its link is lost");
                        vec![Event::NodeLost { node: Some(NodeId(from)) }]
                    }
                }
            }
            LinkEvent::LinkBroken { from } => {
                tracing::warn!(
                    node = from.as_deref().unwrap_or("every node"),
                    "messages between nodes were lost"
                );
                vec![Event::NodeLost { node: from.map(NodeId) }]
            }
            LinkEvent::NodesChanged { live } => {
                let live: BTreeSet<String> = live.into_iter().collect();
                let gone: Vec<String> = self.live.difference(&live).cloned().collect();
                for node in &gone {
                    tracing::warn!(node = %node, "node left the cluster");
                }
                for node in live.difference(&self.live) {
                    if *node != self.node.0 {
                        tracing::info!(node = %node, "node joined the cluster");
                    }
                }
                self.live = live;
                gone.into_iter().map(|node| Event::NodeLost { node: Some(NodeId(node)) }).collect()
            }
            LinkEvent::LeaseLost => {
                tracing::error!(node = %self.node, "this node's lease ran out: its claims are gone");
                vec![Event::NodeLost { node: None }]
            }
            LinkEvent::RedisDown { error } => {
                if !self.down {
                    tracing::error!(%error, "Redis unreachable: rooms on this node go on; joins that need the directory are refused");
                }
                self.down = true;
                vec![Event::NodeLost { node: None }]
            }
            // The driver claims the node's rooms again; nothing for the engine.
            LinkEvent::LeaseRegained => Vec::new(),
            LinkEvent::RedisUp => {
                if self.down {
                    tracing::info!("Redis reachable again");
                }
                self.down = false;
                Vec::new()
            }
        }
    }

    /// Claims again the codes and ids of the rooms this node holds: after Redis forgot
    /// this node (its lease ran out, or Redis restarted empty), so that no other node
    /// takes them.
    pub(crate) fn reclaim(&mut self, rooms: &[signal_fish_core::RoomSummary]) {
        for room in rooms {
            let _ = self.fire(Request::ClaimCode { game: room.game.clone(), code: room.code.clone() });
            let _ = self.fire(Request::PublishRoom { room_id: room.room_id.to_string() });
        }
        if !rooms.is_empty() {
            tracing::info!(rooms = rooms.len(), "claimed this node's rooms again");
        }
    }

    /// Leaves the cluster: releases every code and room of this node and its lease at
    /// once (blocking; bounded by a few Redis timeouts).
    pub(crate) fn leave(self) {
        match self.link.shutdown() {
            Ok(released) => tracing::info!(released, "left the cluster"),
            Err(error) => {
                tracing::warn!(%error, "left the cluster without releasing its codes (they expire with its lease)")
            }
        }
    }
}
