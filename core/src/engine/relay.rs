//! Game-data relay, JSON and MessagePack (BEHAVIOUR §8, PROTOCOL §2.2, DECISIONS D21).
//!
//! JSON payloads are spliced into the outgoing frame as raw text, serialised once and
//! shared by every recipient. Binary payloads are framed once for MessagePack recipients
//! and translated once for JSON recipients.

use bytes::Bytes;

use super::connection::Role;
use super::fan_out::Member;
use super::{close_code, is_binary, replay_text, Engine};
use crate::event::{Action, ConnId, Outbound};
use crate::protocol::{
    binary_game_data_message, check_portable_json, game_data_message, translate_to_json_message, ErrorCode,
    ServerMessage,
};

impl Engine {
    pub(super) fn on_game_data(&mut self, conn: ConnId, raw_payload: &str, out: &mut Vec<Action>) {
        let c = &self.conns[&conn];
        // Spectators and players outside a room have nowhere to send to (BEHAVIOUR §8).
        let Role::Player(key) = c.role else { return };
        if let Err(problem) = check_portable_json(raw_payload) {
            // Relaying it would break the recipients' decoders; tell the sender instead.
            self.counters.validation_errors_total += 1;
            self.send(conn, &ServerMessage::error(problem.to_string(), ErrorCode::InvalidInput), out);
            return;
        }
        let c = &self.conns[&conn];
        let frame = game_data_message(&c.player_id, raw_payload);
        let sender = c.player_id;
        self.counters.game_data_messages_total += 1;
        let done = self.deliver(key, &frame, Some(sender), out);
        self.counters.game_data_deliveries_total += done.sent;
        self.rooms.get_mut(&key).expect("players have rooms").last_activity = self.clock.now;
    }

    pub(super) fn on_binary(&mut self, conn: ConnId, payload: &Bytes, out: &mut Vec<Action>) {
        let max = self.config.security.max_message_size;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_inbound = self.clock.now;
        self.counters.frames_received_total += 1;
        if matches!(c.role, Role::Mesh(_)) {
            // The mesh protocol is JSON text only; matchbox's server skips anything else.
            self.counters.validation_errors_total += 1;
            return;
        }
        if !c.authenticated {
            self.counters.auth_failures_total += 1;
            let text = "Authentication required before sending binary data";
            self.send(conn, &ServerMessage::error(text, ErrorCode::AuthenticationRequired), out);
            self.close(conn, close_code::POLICY, "authentication required", out);
            return;
        }
        if payload.len() > max {
            self.counters.validation_errors_total += 1;
            let text = format!("Binary payload exceeded maximum size ({max} bytes)");
            self.send(conn, &ServerMessage::error(text, ErrorCode::MessageTooLarge), out);
            return;
        }
        if !is_binary(c.format) {
            self.counters.validation_errors_total += 1;
            let text = "Binary payloads are disabled for this connection";
            self.send(conn, &ServerMessage::error(text, ErrorCode::InvalidInput), out);
            return;
        }
        let Role::Player(key) = c.role else { return };
        let sender = c.player_id;
        self.counters.game_data_messages_total += 1;

        // Each rendering is built at most once, when a member first needs it.
        let mut binary: Option<Bytes> = None;
        let mut json: Option<Option<Bytes>> = None;
        self.rooms.get_mut(&key).expect("players have rooms").last_activity = self.clock.now;
        let done = self.fan_out(key, Some(sender), true, out, |member| {
            let mut translated =
                || json.get_or_insert_with(|| translate_to_json_message(&sender, payload, max)).clone();
            match member {
                Member::Connected { format, .. } if is_binary(format) => Some(Outbound::Binary(
                    binary.get_or_insert_with(|| binary_game_data_message(&sender, payload)).clone(),
                )),
                Member::Connected { .. } => translated().map(Outbound::Text),
                // Replay is JSON: the JSON form, or the defined binary envelope when the
                // payload has none.
                Member::Away { .. } => {
                    Some(Outbound::Text(replay_text(&sender, payload, translated().as_ref())))
                }
            }
        });
        self.counters.game_data_deliveries_total += done.sent;
        self.counters.game_data_untranslatable_total += done.skipped;
    }
}
