//! `LinkSettings`: where Redis is, who this node is, and every bound and timeout.

use std::time::Duration;

use crate::error::LinkError;
use crate::keys::Keys;

/// Everything the directory, the carrier and the link need. Build with
/// [`LinkSettings::new`] (defaults below) and change fields as needed; [`validate`]
/// checks them (the constructors of this crate call it).
///
/// [`validate`]: LinkSettings::validate
#[derive(Clone, Debug)]
pub struct LinkSettings {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/` (`redis://:password@host:port/db`).
    pub redis_url: String,
    /// Key prefix shared by the nodes of one cluster (default `signal-fish`): several
    /// clusters can share one Redis under different prefixes.
    pub prefix: String,
    /// This node's id (1 to 255 bytes, no whitespace): unique among live nodes.
    pub node_id: String,
    /// How long the node's lease key lives without a heartbeat (default 10 s).
    pub lease: Duration,
    /// How often the link renews the lease and polls the live nodes (default 2 s; at most
    /// half the lease).
    pub heartbeat_interval: Duration,
    /// Connect, read and write timeout of every Redis operation (default 500 ms).
    pub op_timeout: Duration,
    /// First reconnect delay after a loss (default 100 ms); doubles up to the max.
    pub reconnect_backoff_min: Duration,
    /// Longest reconnect delay (default 5 s).
    pub reconnect_backoff_max: Duration,
    /// Largest carrier payload in bytes (default 1 MiB); larger sends are refused.
    pub max_payload: usize,
    /// Capacity of the link's request queue (default 1024); beyond it requests are
    /// refused with `LinkError::Overloaded`.
    pub max_queued_requests: usize,
    /// Capacity of the event queue to the caller (default 4096). When it is full the
    /// link's threads wait for the caller (backpressure; Redis then cuts a subscriber
    /// that falls too far behind, which the link reports as `LinkBroken`).
    pub max_queued_events: usize,
    /// Safety net: code, room and owned-set keys expire this long after their last
    /// renewal (default 10 min). The heartbeat renews a batch of `refresh_batch` owned
    /// keys each time, so it must exceed `owned keys / refresh_batch * heartbeat_interval`.
    pub orphan_ttl: Duration,
    /// Owned keys renewed per heartbeat (default 512).
    pub refresh_batch: usize,
    /// Most node ids `live_nodes` returns (default 256, most recent heartbeats first).
    pub max_nodes: usize,
    /// At start: `None` fails at once if Redis is unreachable (or the node id is held by
    /// a live node); `Some(d)` retries with backoff for up to `d`.
    pub wait_for_redis: Option<Duration>,
}

impl LinkSettings {
    /// Defaults for node `node_id` against the Redis at `redis_url`.
    pub fn new(redis_url: impl Into<String>, node_id: impl Into<String>) -> LinkSettings {
        LinkSettings {
            redis_url: redis_url.into(),
            prefix: "signal-fish".to_owned(),
            node_id: node_id.into(),
            lease: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            op_timeout: Duration::from_millis(500),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            max_payload: 1 << 20,
            max_queued_requests: 1024,
            max_queued_events: 4096,
            orphan_ttl: Duration::from_secs(600),
            refresh_batch: 512,
            max_nodes: 256,
            wait_for_redis: None,
        }
    }

    /// Checks the settings; the error names the first bad one.
    pub fn validate(&self) -> Result<(), LinkError> {
        Keys::new(&self.prefix, &self.node_id)?;
        redis::Client::open(self.redis_url.as_str())
            .map_err(|e| LinkError::invalid("redis url", format!("{:?}: {e}", self.redis_url)))?;
        let ms = |d: Duration| d.as_millis();
        if ms(self.op_timeout) == 0 {
            return Err(LinkError::invalid("op_timeout", "must be at least 1 ms"));
        }
        if ms(self.lease) < 10 {
            return Err(LinkError::invalid("lease", "must be at least 10 ms"));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval * 2 > self.lease {
            return Err(LinkError::invalid(
                "heartbeat_interval",
                format!(
                    "{:?} must be above zero and at most half the lease ({:?})",
                    self.heartbeat_interval, self.lease
                ),
            ));
        }
        if self.orphan_ttl < self.lease * 2 {
            return Err(LinkError::invalid(
                "orphan_ttl",
                format!("{:?} must be at least twice the lease ({:?})", self.orphan_ttl, self.lease),
            ));
        }
        if self.reconnect_backoff_min.is_zero() || self.reconnect_backoff_max < self.reconnect_backoff_min {
            return Err(LinkError::invalid("reconnect backoff", "need 0 < min <= max"));
        }
        for (what, n) in [
            ("max_payload", self.max_payload),
            ("max_queued_requests", self.max_queued_requests),
            ("max_queued_events", self.max_queued_events),
            ("refresh_batch", self.refresh_batch),
            ("max_nodes", self.max_nodes),
        ] {
            if n == 0 {
                return Err(LinkError::invalid(what, "must be at least 1"));
            }
        }
        Ok(())
    }

    pub(crate) fn keys(&self) -> Result<Keys, LinkError> {
        Keys::new(&self.prefix, &self.node_id)
    }
}

/// Capped exponential backoff with jitter (75 % to 100 % of the step).
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    jitter: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, next: min, jitter: crate::random_u64() | 1 }
    }

    /// The next delay; each call doubles the step up to the max.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64 for the jitter.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let quarter = step / 4;
        let frac = (self.jitter % 1000) as u32;
        step - quarter + quarter * frac / 1000
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        LinkSettings::new("redis://127.0.0.1:6379/", "a").validate().unwrap();
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = LinkSettings::new("redis://127.0.0.1:6379/", "a");
        s.heartbeat_interval = s.lease;
        assert!(matches!(s.validate(), Err(LinkError::Invalid { what: "heartbeat_interval", .. })));
        let s = LinkSettings::new("nonsense://", "a");
        assert!(matches!(s.validate(), Err(LinkError::Invalid { what: "redis url", .. })));
    }

    #[test]
    fn backoff_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let delays: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(75) && delays[0] <= Duration::from_millis(100));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(800)));
        assert!(delays[7] >= Duration::from_millis(600));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
