//! What an away player missed, kept for replay in `Reconnected.missed_events`
//! (DECISIONS D16, D19).
//!
//! A reservation's buffer holds two kinds of frames, in delivery order:
//!
//! - frames handed back by the transport when the player was closed as a slow consumer:
//!   they were accepted for delivery before the close, so they are all kept. They are
//!   bounded already, by the outbound queue's byte limit plus what the closing step
//!   produced, so they do not count against the buffer's own limits;
//! - room messages sent while the player was away: at most `server.event_buffer_size`
//!   of them and at most `websocket.max_outbound_queue_bytes` bytes. One more ends the
//!   reservation (never a silent gap).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The room-control messages a v3 client accepts in `Reconnected.missed_events`; game
/// data and everything else is not replayed on v3 (DECISIONS D56).
pub(crate) const V3_REPLAYABLE: [&str; 7] = [
    "PlayerJoined",
    "PlayerLeft",
    "PlayerReconnected",
    "NewSpectatorJoined",
    "SpectatorDisconnected",
    "LobbyStateChanged",
    "AuthorityChanged",
];

/// Whether a server message frame (as this engine serialises them: `{"type":"…",` first)
/// may be replayed to a v3 client.
pub(crate) fn is_replayable_on_v3(frame: &[u8]) -> bool {
    let Some(rest) = frame.strip_prefix(br#"{"type":""#) else { return false };
    V3_REPLAYABLE
        .iter()
        .any(|name| rest.strip_prefix(name.as_bytes()).is_some_and(|after| after.first() == Some(&b'"')))
}

/// Bounds on the frames a reservation collects while the player is away.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplayLimits {
    /// Most room messages collected while away.
    pub events: usize,
    /// Most bytes of room messages collected while away.
    pub bytes: usize,
}

impl ReplayLimits {
    pub(crate) fn of(config: &Config) -> ReplayLimits {
        ReplayLimits {
            events: config.server.event_buffer_size,
            bytes: config.websocket.max_outbound_queue_bytes,
        }
    }
}

/// The buffer would exceed its limits: the reservation must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplayOverflow;

/// See the module documentation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ReplayBuffer {
    /// JSON envelopes in delivery order: the handed-back ones first.
    frames: Vec<Bytes>,
    /// How many of `frames` (from the front) were handed back by the transport.
    handed_back: usize,
    /// Bytes of the handed-back frames.
    handed_back_bytes: usize,
    /// Bytes of the frames collected while away.
    away_bytes: usize,
}

impl ReplayBuffer {
    /// Keeps a frame the transport never delivered. Only valid before anything was
    /// collected while away (the transport hands back in the closing step).
    pub(crate) fn hand_back(&mut self, frame: Bytes) {
        assert_eq!(self.frames.len(), self.handed_back, "handed-back frames come first");
        self.handed_back += 1;
        self.handed_back_bytes += frame.len();
        self.frames.push(frame);
    }

    /// Collects a room message sent while away, unless that would exceed `limits`.
    pub(crate) fn push(&mut self, frame: Bytes, limits: ReplayLimits) -> Result<(), ReplayOverflow> {
        if self.away_events() >= limits.events || self.away_bytes + frame.len() > limits.bytes {
            return Err(ReplayOverflow);
        }
        self.away_bytes += frame.len();
        self.frames.push(frame);
        Ok(())
    }

    /// Room messages collected while away.
    pub(crate) fn away_events(&self) -> usize {
        self.frames.len() - self.handed_back
    }

    /// Bytes of the room messages collected while away.
    pub(crate) fn away_bytes(&self) -> usize {
        self.away_bytes
    }

    /// Whether the byte counts match the frames held (for the invariant checks).
    /// (A restored checkpoint can claim more handed-back frames than it holds: refused
    /// here rather than panicking.)
    pub(crate) fn counts_agree(&self) -> bool {
        if self.handed_back > self.frames.len() {
            return false;
        }
        let (back, away) = self.frames.split_at(self.handed_back);
        back.iter().map(Bytes::len).sum::<usize>() == self.handed_back_bytes
            && away.iter().map(Bytes::len).sum::<usize>() == self.away_bytes
    }

    /// Every frame, in delivery order.
    pub(crate) fn into_messages(self) -> Vec<Bytes> {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReplayLimits = ReplayLimits { events: 2, bytes: 10 };

    #[test]
    fn handed_back_frames_do_not_count_against_the_limits() {
        let mut buffer = ReplayBuffer::default();
        for _ in 0..5 {
            buffer.hand_back(Bytes::from_static(b"0123456789"));
        }
        assert_eq!(buffer.push(Bytes::from_static(b"abcd"), LIMITS), Ok(()));
        assert_eq!(buffer.push(Bytes::from_static(b"efgh"), LIMITS), Ok(()));
        assert_eq!(buffer.away_events(), 2);
        assert!(buffer.counts_agree());
        assert_eq!(buffer.into_messages().len(), 7);
    }

    #[test]
    fn v3_replays_room_control_messages_only() {
        use crate::protocol::{LobbyState, RawJson, ServerMessage};
        let id = uuid::Uuid::nil();
        let control = ServerMessage::LobbyStateChanged {
            lobby_state: LobbyState::Lobby,
            ready_players: Vec::new(),
            all_ready: false,
        };
        assert!(is_replayable_on_v3(&control.to_bytes()));
        assert!(is_replayable_on_v3(
            &ServerMessage::PlayerLeft { player_id: id, epoch: Some(1), final_seq: Some(0) }.to_bytes()
        ));
        let data = RawJson::from_text("1".to_owned()).unwrap();
        let game_data = ServerMessage::GameData {
            from_player: id,
            data,
            seq: Some(1),
            epoch: Some(1),
            class: None,
            key: None,
        };
        assert!(!is_replayable_on_v3(&game_data.to_bytes()));
        assert!(!is_replayable_on_v3(
            &ServerMessage::GameStarting { peer_connections: Vec::new() }.to_bytes()
        ));
        assert!(!is_replayable_on_v3(br#"{"type":"PlayerLeftover"}"#), "a prefix of a name is not the name");
        assert!(!is_replayable_on_v3(b"\x85binary"));
    }

    #[test]
    fn one_event_too_many_or_too_large_overflows() {
        let mut buffer = ReplayBuffer::default();
        assert_eq!(buffer.push(Bytes::from_static(b"12345678901"), LIMITS), Err(ReplayOverflow));
        assert_eq!(buffer.push(Bytes::from_static(b"a"), LIMITS), Ok(()));
        assert_eq!(buffer.push(Bytes::from_static(b"b"), LIMITS), Ok(()));
        assert_eq!(buffer.push(Bytes::from_static(b"c"), LIMITS), Err(ReplayOverflow));
        assert_eq!(buffer.away_bytes(), 2);
    }

    #[test]
    #[should_panic(expected = "handed-back frames come first")]
    fn handing_back_after_collecting_is_a_bug() {
        let mut buffer = ReplayBuffer::default();
        buffer.push(Bytes::from_static(b"a"), LIMITS).unwrap();
        buffer.hand_back(Bytes::from_static(b"b"));
    }
}
