//! Authority requests (BEHAVIOUR §7, DECISIONS D12–D13).

use uuid::Uuid;

use super::connection::Role;
use super::fan_out::Member;
use super::room::RoomKey;
use super::Engine;
use crate::event::{Action, ConnId, Outbound};
use crate::protocol::{ErrorCode, ServerMessage};

impl Engine {
    pub(super) fn on_authority_request(&mut self, conn: ConnId, claim: bool, out: &mut Vec<Action>) {
        let c = &self.conns[&conn];
        let (Role::Player(key), player_id) = (c.role, c.player_id) else {
            self.send(conn, &denied("Not in a room", ErrorCode::NotInRoom), out);
            return;
        };
        let room = self.rooms.get_mut(&key).expect("players have rooms");
        if !room.supports_authority {
            self.send(
                conn,
                &denied("Room does not support authority", ErrorCode::AuthorityNotSupported),
                out,
            );
            return;
        }
        let new_holder = match (claim, room.authority) {
            (true, None) => Some(player_id),
            (true, Some(holder)) if holder == player_id => {
                // Already held: granted, nothing changes, nobody else is told.
                self.send(conn, &granted(), out);
                return;
            }
            (true, Some(_)) => {
                self.send(
                    conn,
                    &denied("Another player already has authority", ErrorCode::AuthorityConflict),
                    out,
                );
                return;
            }
            (false, Some(holder)) if holder == player_id => None,
            (false, _) => {
                self.send(
                    conn,
                    &denied("You do not have authority to release", ErrorCode::AuthorityDenied),
                    out,
                );
                return;
            }
        };
        room.authority = new_holder;
        self.counters.authority_transfers_total += 1;
        self.touch_room(key);
        self.send(conn, &granted(), out);
        self.deliver_authority_changed(key, new_holder, out);
    }

    /// `AuthorityChanged` to every player and spectator, personalised (`you_are_authority`).
    pub(super) fn deliver_authority_changed(
        &mut self,
        key: RoomKey,
        holder: Option<Uuid>,
        out: &mut Vec<Action>,
    ) {
        let for_others =
            ServerMessage::AuthorityChanged { authority_player: holder, you_are_authority: false }.to_bytes();
        let for_holder = holder.map(|h| {
            ServerMessage::AuthorityChanged { authority_player: Some(h), you_are_authority: true }.to_bytes()
        });
        self.fan_out(key, None, false, out, |member| {
            let (Member::Connected { id, .. } | Member::Away { id, .. }) = member;
            Some(Outbound::Text(match &for_holder {
                Some(bytes) if Some(id) == holder => bytes.clone(),
                _ => for_others.clone(),
            }))
        });
    }
}

fn granted() -> ServerMessage {
    ServerMessage::AuthorityResponse { granted: true, reason: None, error_code: None }
}

fn denied(reason: &str, code: ErrorCode) -> ServerMessage {
    ServerMessage::AuthorityResponse {
        granted: false,
        reason: Some(reason.to_owned()),
        error_code: Some(code),
    }
}
