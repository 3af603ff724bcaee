//! The directory: node leases, the live-node list, room-code and room-id claims.
//!
//! A blocking API over one `redis::Connection` whose every call has a read and a write
//! timeout (`LinkSettings::op_timeout`). When a call fails on the network (refused,
//! broken, timed out) the connection is dropped and the call returns
//! `LinkError::Unavailable`; every later call does too, at once, until [`reconnect`]
//! succeeds. Nothing here retries: the caller (the link's worker) owns the schedule.
//!
//! Every claim is one Lua script, so it is atomic on the Redis side.
//!
//! [`reconnect`]: Directory::reconnect

use std::sync::Arc;
use std::time::Instant;

use redis::{Connection, Script, Value};

use crate::error::{connection_broken, LinkError};
use crate::keys::Keys;
use crate::settings::LinkSettings;
use crate::stats::LinkStats;

/// Who owns a room code or a room id after a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This node: the claim succeeded (or it already owned it).
    Mine,
    /// Another live node owns it.
    Other(String),
}

/// How [`Directory::register_node`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// There was no lease for this id: a new one was created. Whatever this node id
    /// owned before (an earlier process, or this one before its lease ran out) has been
    /// deleted: `released` keys.
    Fresh {
        /// Keys of an earlier lease of this id that were deleted.
        released: u64,
    },
    /// This process's own lease was still alive and was renewed: its claims stand.
    Renewed,
}

/// How [`Directory::heartbeat`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was alive and is renewed.
    Alive,
    /// The lease had already run out: every claim of this node must be treated as lost
    /// (another node may have taken its codes). Register again to go on.
    Expired,
    /// Another process registered this node id after the lease ran out.
    TakenOver,
}

const LUA_NOW_MS: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

// KEYS: node, nodes, owned. ARGV: token, lease ms, node id, orphan ms.
const REGISTER: &str = "
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local n = 0
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    if redis.call('GET', k) == ARGV[3] then redis.call('DEL', k); n = n + 1 end
  end
  redis.call('DEL', KEYS[3])
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return {'fresh', n}
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return {'renewed', 0}
end
return {'taken', 0}
";

// KEYS: node, nodes, owned. ARGV: token, lease ms, node id, orphan ms, cursor, batch.
// Renews the lease, then a batch of owned keys (SSCAN from the caller's cursor): an
// owned key still ours gets its TTL back, a missing one is written again, one that
// another node took is dropped from the set (counted as lost).
const HEARTBEAT: &str = "
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if cur then return {'taken', '0', 0, 0} end
  return {'expired', '0', 0, 0}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local r = redis.call('SSCAN', KEYS[3], ARGV[5], 'COUNT', ARGV[6])
local healed, lost = 0, 0
for _, k in ipairs(r[2]) do
  local owner = redis.call('GET', k)
  if owner == ARGV[3] then
    redis.call('PEXPIRE', k, ARGV[4])
  elseif not owner then
    redis.call('SET', k, ARGV[3], 'PX', ARGV[4]); healed = healed + 1
  else
    redis.call('SREM', KEYS[3], k); lost = lost + 1
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
return {'alive', r[1], healed, lost}
";

// KEYS: nodes. ARGV: node key prefix, max, stale ms.
const LIVE_NODES: &str = "
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local live = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then table.insert(live, id) else redis.call('ZREM', KEYS[1], id) end
end
return live
";

// KEYS: claimed key, owned, node. ARGV: node id, node key prefix, orphan ms, token.
// The key belongs to its owner only while the owner's lease key exists.
const CLAIM: &str = "
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return {'nolease'} end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. cur) == 1 then return {'other', cur} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {'mine'}
";

// KEYS: claimed key. ARGV: node key prefix. The owner, if its lease is alive.
const FIND: &str = "
local cur = redis.call('GET', KEYS[1])
if cur and redis.call('EXISTS', ARGV[1] .. cur) == 1 then return cur end
return false
";

// KEYS: claimed key, owned, node. ARGV: node id, token. Compare-and-delete; a live
// other process holding this node id is left alone.
const RELEASE: &str = "
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SREM', KEYS[2], KEYS[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end
return 0
";

// KEYS: node, nodes, owned. ARGV: node id, token.
const RELEASE_ALL: &str = "
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[2] then return -1 end
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
";

struct Scripts {
    register: Script,
    heartbeat: Script,
    live_nodes: Script,
    claim: Script,
    find: Script,
    release: Script,
    release_all: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let timed = |body: &str| Script::new(&format!("{LUA_NOW_MS}{body}"));
        Scripts {
            register: timed(REGISTER),
            heartbeat: timed(HEARTBEAT),
            live_nodes: timed(LIVE_NODES),
            claim: Script::new(CLAIM),
            find: Script::new(FIND),
            release: Script::new(RELEASE),
            release_all: Script::new(RELEASE_ALL),
        }
    }
}

/// The node directory and claims of one node, over one blocking Redis connection.
pub struct Directory {
    settings: LinkSettings,
    client: redis::Client,
    conn: Option<Connection>,
    keys: Keys,
    token: String,
    scripts: Scripts,
    stats: Arc<LinkStats>,
    refresh_cursor: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("node_id", &self.keys.node_id())
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// Validates the settings and connects (bounded by `op_timeout`). `token` tells this
    /// process's lease from another process's with the same node id (the link uses its
    /// random incarnation number). Does not register the node.
    pub fn connect(
        settings: &LinkSettings,
        token: &str,
        stats: Arc<LinkStats>,
    ) -> Result<Directory, LinkError> {
        settings.validate()?;
        let client = redis::Client::open(settings.redis_url.as_str())
            .map_err(|e| LinkError::invalid("redis url", e.to_string()))?;
        let mut dir = Directory {
            settings: settings.clone(),
            client,
            conn: None,
            keys: settings.keys()?,
            token: token.to_owned(),
            scripts: Scripts::new(),
            stats,
            refresh_cursor: "0".to_owned(),
        };
        dir.reconnect()?;
        Ok(dir)
    }

    /// Opens a new connection (dropping the old one), bounded by `op_timeout`.
    pub fn reconnect(&mut self) -> Result<(), LinkError> {
        self.conn = None;
        let conn = open_connection(&self.client, &self.settings).inspect_err(|e| {
            self.stats.record_error(e.is_unavailable());
        })?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Whether the connection is up (as far as the last operation could tell).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Drops the connection (the next operations answer `Unavailable`).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        self.keys.node_id()
    }

    /// The key and channel names this directory uses.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Sets `{prefix}:node:{id}` to this process's token with a PX lease. Refused with
    /// `NodeIdTaken` while another process's lease for the same id is alive. A fresh
    /// registration first deletes whatever the id owned before (see [`Registration`]).
    pub fn register_node(&mut self) -> Result<Registration, LinkError> {
        let op = "register_node";
        let (node, nodes, owned) = self.node_keys();
        let mut inv = self.scripts.register.prepare_invoke();
        inv.key(node).key(nodes).key(owned);
        inv.arg(&self.token)
            .arg(ms(self.settings.lease))
            .arg(self.keys.node_id())
            .arg(ms(self.settings.orphan_ttl));
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        let (word, n) = word_and_int(op, &reply)?;
        match word.as_str() {
            "fresh" => Ok(Registration::Fresh { released: n.max(0) as u64 }),
            "renewed" => Ok(Registration::Renewed),
            "taken" => Err(LinkError::NodeIdTaken { node_id: self.keys.node_id().to_owned() }),
            other => Err(LinkError::protocol(op, format!("reply {other:?}"))),
        }
    }

    /// Renews the lease and the TTL of a batch of owned keys. Reports whether the lease
    /// had already run out (the node must then treat its claims as lost).
    pub fn heartbeat(&mut self) -> Result<Heartbeat, LinkError> {
        let op = "heartbeat";
        let (node, nodes, owned) = self.node_keys();
        let mut inv = self.scripts.heartbeat.prepare_invoke();
        inv.key(node).key(nodes).key(owned);
        inv.arg(&self.token)
            .arg(ms(self.settings.lease))
            .arg(self.keys.node_id())
            .arg(ms(self.settings.orphan_ttl))
            .arg(&self.refresh_cursor)
            .arg(self.settings.refresh_batch);
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        let items = array(op, &reply)?;
        let word =
            items.first().and_then(text).ok_or_else(|| LinkError::protocol(op, format!("{reply:?}")))?;
        match word.as_str() {
            "alive" => {
                self.refresh_cursor = items.get(1).and_then(text).unwrap_or_else(|| "0".to_owned());
                let lost = items.get(3).and_then(int).unwrap_or(0);
                if lost > 0 {
                    tracing::warn!(lost, "owned keys found held by another node: they had expired (orphan_ttl too short for the number of owned keys?)");
                }
                Ok(Heartbeat::Alive)
            }
            "expired" => Ok(Heartbeat::Expired),
            "taken" => Ok(Heartbeat::TakenOver),
            other => Err(LinkError::protocol(op, format!("reply {other:?}"))),
        }
    }

    /// The live node ids (lease key present), most recent heartbeat first, at most
    /// `max_nodes`. Read from the `{prefix}:nodes` sorted set; entries whose lease is
    /// gone are removed on the way, and entries not renewed for `orphan_ttl` in bulk.
    pub fn live_nodes(&mut self) -> Result<Vec<String>, LinkError> {
        let op = "live_nodes";
        let mut inv = self.scripts.live_nodes.prepare_invoke();
        inv.key(self.keys.nodes());
        inv.arg(self.keys.node_prefix()).arg(self.settings.max_nodes).arg(ms(self.settings.orphan_ttl));
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        array(op, &reply)?
            .iter()
            .map(|v| text(v).ok_or_else(|| LinkError::protocol(op, format!("{v:?}"))))
            .collect()
    }

    /// Claims room code `code` of game `game` for this node. `Mine` if it was free (or
    /// its owner's lease has run out) or already this node's; `Other(owner)` if a live
    /// node holds it. Refused with `LeaseLost` if this node's lease is gone.
    pub fn claim_code(&mut self, game: &str, code: &str) -> Result<Owner, LinkError> {
        let key = self.keys.code(game, code);
        self.claim("claim_code", key)
    }

    /// The live owner of a room code, if any.
    pub fn find_code(&mut self, game: &str, code: &str) -> Result<Option<String>, LinkError> {
        let key = self.keys.code(game, code);
        self.find("find_code", key)
    }

    /// Deletes the code's key if this node owns it (compare-and-delete). `true` if it did.
    pub fn release_code(&mut self, game: &str, code: &str) -> Result<bool, LinkError> {
        let key = self.keys.code(game, code);
        self.release("release_code", key)
    }

    /// Records this node as the owner of room `room_id` (claim semantics as for codes).
    pub fn publish_room(&mut self, room_id: &str) -> Result<Owner, LinkError> {
        let key = self.keys.room(room_id);
        self.claim("publish_room", key)
    }

    /// The live node holding room `room_id`, if any.
    pub fn find_room(&mut self, room_id: &str) -> Result<Option<String>, LinkError> {
        let key = self.keys.room(room_id);
        self.find("find_room", key)
    }

    /// Deletes the room's key if this node owns it. `true` if it did.
    pub fn release_room(&mut self, room_id: &str) -> Result<bool, LinkError> {
        let key = self.keys.room(room_id);
        self.release("release_room", key)
    }

    /// Deletes every code and room this node owns, its owned set and its lease, in one
    /// script (used at shutdown). Returns how many code and room keys it deleted. Does
    /// nothing if another process holds this node id now.
    pub fn release_all(&mut self) -> Result<u64, LinkError> {
        let op = "release_all";
        let (node, nodes, owned) = self.node_keys();
        let mut inv = self.scripts.release_all.prepare_invoke();
        inv.key(node).key(nodes).key(owned).arg(self.keys.node_id()).arg(&self.token);
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        match int(&reply) {
            Some(n) if n >= 0 => Ok(n as u64),
            Some(_) => Err(LinkError::NodeIdTaken { node_id: self.keys.node_id().to_owned() }),
            None => Err(LinkError::protocol(op, format!("{reply:?}"))),
        }
    }

    /// PUBLISHes `frame` on `channel`; returns how many subscribers received it.
    pub fn publish(&mut self, channel: &str, frame: &[u8]) -> Result<i64, LinkError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(frame);
        let reply = run(&mut self.conn, &self.stats, "publish", |c| cmd.query::<Value>(c))?;
        int(&reply).ok_or_else(|| LinkError::protocol("publish", format!("{reply:?}")))
    }

    /// PUBLISHes every `(channel, frame)` in one pipelined round trip; returns how many
    /// subscribers received each.
    pub fn publish_many(&mut self, frames: &[(String, Vec<u8>)]) -> Result<Vec<i64>, LinkError> {
        let mut pipe = redis::pipe();
        for (channel, frame) in frames {
            pipe.cmd("PUBLISH").arg(channel).arg(frame);
        }
        let replies = run(&mut self.conn, &self.stats, "publish", |c| pipe.query::<Vec<Value>>(c))?;
        if replies.len() != frames.len() {
            return Err(LinkError::protocol(
                "publish",
                format!("{} replies to {} frames", replies.len(), frames.len()),
            ));
        }
        replies
            .iter()
            .map(|r| int(r).ok_or_else(|| LinkError::protocol("publish", format!("{r:?}"))))
            .collect()
    }

    /// PING, to check the connection.
    pub fn ping(&mut self) -> Result<(), LinkError> {
        let cmd = redis::cmd("PING");
        run(&mut self.conn, &self.stats, "ping", |c| cmd.query::<Value>(c)).map(drop)
    }

    fn claim(&mut self, op: &'static str, key: String) -> Result<Owner, LinkError> {
        let (node, _, owned) = self.node_keys();
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(key).key(owned).key(node);
        inv.arg(self.keys.node_id())
            .arg(self.keys.node_prefix())
            .arg(ms(self.settings.orphan_ttl))
            .arg(&self.token);
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        let items = array(op, &reply)?;
        match items.first().and_then(text).as_deref() {
            Some("mine") => Ok(Owner::Mine),
            Some("other") => items
                .get(1)
                .and_then(text)
                .map(Owner::Other)
                .ok_or_else(|| LinkError::protocol(op, format!("{reply:?}"))),
            Some("nolease") => Err(LinkError::LeaseLost { op }),
            _ => Err(LinkError::protocol(op, format!("{reply:?}"))),
        }
    }

    fn find(&mut self, op: &'static str, key: String) -> Result<Option<String>, LinkError> {
        let mut inv = self.scripts.find.prepare_invoke();
        inv.key(key).arg(self.keys.node_prefix());
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        match reply {
            Value::Nil => Ok(None),
            ref v => text(v).map(Some).ok_or_else(|| LinkError::protocol(op, format!("{reply:?}"))),
        }
    }

    fn release(&mut self, op: &'static str, key: String) -> Result<bool, LinkError> {
        let (node, _, owned) = self.node_keys();
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(key).key(owned).key(node).arg(self.keys.node_id()).arg(&self.token);
        let reply = run(&mut self.conn, &self.stats, op, |c| inv.invoke::<Value>(c))?;
        int(&reply).map(|n| n == 1).ok_or_else(|| LinkError::protocol(op, format!("{reply:?}")))
    }

    fn node_keys(&self) -> (String, String, String) {
        let id = self.keys.node_id();
        (self.keys.node(id), self.keys.nodes(), self.keys.owned(id))
    }
}

/// A new connection with `op_timeout` on connect, reads and writes.
pub(crate) fn open_connection(
    client: &redis::Client,
    settings: &LinkSettings,
) -> Result<Connection, LinkError> {
    let op = "connect";
    let addr = || settings.redis_url.split('@').next_back().unwrap_or("").to_owned();
    let conn = client
        .get_connection_with_timeout(settings.op_timeout)
        .map_err(|e| LinkError::Unavailable { op, detail: format!("cannot connect to {}: {e}", addr()) })?;
    conn.set_read_timeout(Some(settings.op_timeout)).map_err(|e| LinkError::from_redis(op, &e))?;
    conn.set_write_timeout(Some(settings.op_timeout)).map_err(|e| LinkError::from_redis(op, &e))?;
    Ok(conn)
}

/// Runs one round trip, timing it; a network failure drops the connection.
fn run<T>(
    conn: &mut Option<Connection>,
    stats: &LinkStats,
    op: &'static str,
    f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
) -> Result<T, LinkError> {
    let Some(c) = conn.as_mut() else {
        stats.record_error(true);
        return Err(LinkError::Unavailable {
            op,
            detail: "not connected to redis (reconnecting)".to_owned(),
        });
    };
    let start = Instant::now();
    match f(c) {
        Ok(v) => {
            stats.record_rtt(start.elapsed());
            Ok(v)
        }
        Err(e) => {
            let err = LinkError::from_redis(op, &e);
            stats.record_error(err.is_unavailable());
            if connection_broken(&e) {
                *conn = None;
            }
            Err(err)
        }
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn array<'a>(op: &'static str, v: &'a Value) -> Result<&'a [Value], LinkError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(LinkError::protocol(op, format!("expected an array, got {other:?}"))),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn word_and_int(op: &'static str, v: &Value) -> Result<(String, i64), LinkError> {
    let items = array(op, v)?;
    match (items.first().and_then(text), items.get(1).and_then(int)) {
        (Some(w), Some(n)) => Ok((w, n)),
        _ => Err(LinkError::protocol(op, format!("{v:?}"))),
    }
}
