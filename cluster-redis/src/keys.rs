//! The Redis key layout (see the crate documentation for what each key holds).

use crate::error::LinkError;

/// The longest node id: it is written with a one-byte length in every carrier frame.
pub const MAX_NODE_ID_LEN: usize = 255;

/// Builds every key and channel name of one cluster (one prefix) for one node.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    node_id: String,
}

impl Keys {
    /// Keys under `prefix` for node `node_id` (both validated).
    pub fn new(prefix: &str, node_id: &str) -> Result<Keys, LinkError> {
        validate_prefix(prefix)?;
        validate_node_id(node_id)?;
        Ok(Keys { prefix: prefix.to_owned(), node_id: node_id.to_owned() })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// `{prefix}:node:{id}`: a node's lease (value: the incarnation token, PX lease).
    pub fn node(&self, node_id: &str) -> String {
        format!("{}{node_id}", self.node_prefix())
    }

    /// `{prefix}:node:` — the Lua scripts append an owner's id to find its lease.
    pub fn node_prefix(&self) -> String {
        format!("{}:node:", self.prefix)
    }

    /// `{prefix}:nodes`: sorted set of node ids scored by their last heartbeat (Redis
    /// server time, ms).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// `{prefix}:owned:{id}`: the set of code and room keys a node owns.
    pub fn owned(&self, node_id: &str) -> String {
        format!("{}:owned:{node_id}", self.prefix)
    }

    /// `{prefix}:code:{len(game)}:{game}:{code}`: the owner of a room code. The game name
    /// is length-prefixed (bytes) so names holding ':' cannot collide.
    pub fn code(&self, game: &str, code: &str) -> String {
        format!("{}:code:{}:{game}:{code}", self.prefix, game.len())
    }

    /// `{prefix}:room:{room_id}`: the owner of a room (for reconnects by room id).
    pub fn room(&self, room_id: &str) -> String {
        format!("{}:room:{room_id}", self.prefix)
    }

    /// `{prefix}:inbox:{id}`: the pub/sub channel a node listens on.
    pub fn inbox(&self, node_id: &str) -> String {
        format!("{}:inbox:{node_id}", self.prefix)
    }
}

/// A node id: 1 to 255 bytes, no control characters or whitespace.
pub fn validate_node_id(node_id: &str) -> Result<(), LinkError> {
    if node_id.is_empty() || node_id.len() > MAX_NODE_ID_LEN {
        return Err(LinkError::invalid(
            "node id",
            format!("{node_id:?} must be 1 to {MAX_NODE_ID_LEN} bytes long"),
        ));
    }
    if node_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(LinkError::invalid(
            "node id",
            format!("{node_id:?} holds whitespace or control characters"),
        ));
    }
    Ok(())
}

fn validate_prefix(prefix: &str) -> Result<(), LinkError> {
    if prefix.is_empty() || prefix.len() > 128 || prefix.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(LinkError::invalid(
            "key prefix",
            format!("{prefix:?} must be 1 to 128 bytes without whitespace or control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_names_with_colons_do_not_collide() {
        let k = Keys::new("sf", "n1").unwrap();
        assert_ne!(k.code("a:b", "c"), k.code("a", "b:c"));
        assert_eq!(k.code("a:b", "c"), "sf:code:3:a:b:c");
        assert_eq!(k.code("a", "b:c"), "sf:code:1:a:b:c");
        // Length in bytes, not characters.
        assert_eq!(k.code("é", "X"), "sf:code:2:é:X");
    }

    #[test]
    fn layout() {
        let k = Keys::new("signal-fish", "node-a").unwrap();
        assert_eq!(k.node("node-a"), "signal-fish:node:node-a");
        assert_eq!(k.nodes(), "signal-fish:nodes");
        assert_eq!(k.owned("node-a"), "signal-fish:owned:node-a");
        assert_eq!(k.room("r1"), "signal-fish:room:r1");
        assert_eq!(k.inbox("node-b"), "signal-fish:inbox:node-b");
    }

    #[test]
    fn node_ids_are_validated() {
        assert!(validate_node_id("").is_err());
        assert!(validate_node_id("a b").is_err());
        assert!(validate_node_id(&"x".repeat(256)).is_err());
        assert!(validate_node_id(&"x".repeat(255)).is_ok());
        assert!(Keys::new("", "a").is_err());
    }
}
