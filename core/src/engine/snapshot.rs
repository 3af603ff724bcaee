//! Room snapshots as clients see them: `PlayerInfo`, `RoomJoined`, `Reconnected`,
//! `SpectatorJoined`, `GameStarting` (DECISIONS D9: the true lobby state and ready set).
//! A v3 recipient's snapshot carries every player's stamp (DECISIONS D54).

use uuid::Uuid;

use super::room::{Room, Seat};
use super::Engine;
use crate::protocol::{
    PeerConnectionInfo, PlayerInfo, ProtocolVersion, RawJson, ReconnectedPayload, ReplayCompleteness,
    RoomJoinedPayload, RoomSnapshot, SenderWatermark, SpectatorInfo,
};

impl Engine {
    /// A player as a recipient of `version` sees it.
    pub(super) fn player_info(room: &Room, seat: &Seat, version: ProtocolVersion) -> PlayerInfo {
        let stamp = version.is_v3().then_some(seat.stamp);
        PlayerInfo {
            id: seat.player_id,
            name: seat.name.clone(),
            is_authority: room.authority == Some(seat.player_id),
            is_ready: room.ready.contains(&seat.player_id),
            connected_at: seat.joined_at.to_rfc3339_z(),
            connection_info: seat.connection_info.clone(),
            epoch: stamp.map(|s| s.epoch),
            seq: stamp.map(|s| s.seq),
        }
    }

    pub(super) fn player_infos(room: &Room, version: ProtocolVersion) -> Vec<PlayerInfo> {
        room.seats.iter().map(|s| Engine::player_info(room, s, version)).collect()
    }

    pub(super) fn spectator_infos(room: &Room) -> Vec<SpectatorInfo> {
        room.watchers
            .iter()
            .map(|w| SpectatorInfo {
                id: w.spectator_id,
                name: w.name.clone(),
                connected_at: w.joined_at.to_rfc3339_z(),
            })
            .collect()
    }

    pub(super) fn room_snapshot(room: &Room, player_id: Uuid, version: ProtocolVersion) -> RoomSnapshot {
        RoomSnapshot {
            room_id: room.id,
            room_code: room.code.clone(),
            player_id,
            game_name: room.game.clone(),
            max_players: room.max_players,
            supports_authority: room.supports_authority,
            current_players: Engine::player_infos(room, version),
            is_authority: room.authority == Some(player_id),
            lobby_state: room.lobby,
            ready_players: room.ready.clone(),
            relay_type: room.relay_type.clone(),
            current_spectators: Engine::spectator_infos(room),
        }
    }

    pub(super) fn room_joined(
        room: &Room,
        player_id: Uuid,
        token: Option<String>,
        version: ProtocolVersion,
    ) -> RoomJoinedPayload {
        RoomJoinedPayload {
            snapshot: Engine::room_snapshot(room, player_id, version),
            reconnection_token: token,
        }
    }

    /// On v3 the snapshot comes with every player's watermark (its stamp, so the two
    /// agree as the SDK requires) and the replay is complete: a reservation whose replay
    /// would overflow ends instead (DECISIONS D19).
    pub(super) fn reconnected(
        room: &Room,
        player_id: Uuid,
        missed_events: Vec<RawJson>,
        token: Option<String>,
        version: ProtocolVersion,
    ) -> ReconnectedPayload {
        let watermarks = version.is_v3().then(|| {
            room.seats
                .iter()
                .map(|s| SenderWatermark { player_id: s.player_id, epoch: s.stamp.epoch, seq: s.stamp.seq })
                .collect()
        });
        ReconnectedPayload {
            snapshot: Engine::room_snapshot(room, player_id, version),
            missed_events,
            replay: version.is_v3().then_some(ReplayCompleteness::Complete),
            sender_watermarks: watermarks,
            reconnection_token: token,
        }
    }

    pub(super) fn peer_connections(room: &Room) -> Vec<PeerConnectionInfo> {
        room.seats
            .iter()
            .map(|s| PeerConnectionInfo {
                player_id: s.player_id,
                player_name: s.name.clone(),
                is_authority: room.authority == Some(s.player_id),
                relay_type: room.relay_type.clone(),
                connection_info: s.connection_info.clone(),
            })
            .collect()
    }
}
