//! Game-data relay, JSON and MessagePack (BEHAVIOUR §8, PROTOCOL §2.2, DECISIONS D21),
//! stamped for v3 recipients (PROTOCOL §12.3, DECISIONS D54–D55).
//!
//! JSON payloads are spliced into the outgoing frame as raw text, serialised once per
//! protocol version and shared by every recipient of that version. Binary payloads are
//! framed once per format and version, and translated once for JSON recipients. Every
//! accepted message takes the sender's next seq, whatever version the sender and the
//! recipients speak, so a v3 recipient sees each sender's seqs without a gap.

use bytes::Bytes;
use uuid::Uuid;

use super::connection::Role;
use super::fan_out::Member;
use super::room::RoomKey;
use super::{close_code, is_binary, replay_text, Engine};
use crate::event::{Action, ConnId, Outbound};
use crate::protocol::{
    binary_game_data_message, check_portable_json, game_data_message, stamped_binary_game_data_message,
    stamped_game_data_message, translate_to_json, DeliveryClass, DeliveryCounts, DeliveryGap,
    DeliveryReportPayload, ErrorCode, GapReason, ProtocolVersion, RawJsonRef, ServerMessage, Stamp,
};

/// What a v3 sender asked for: a class and, for `latest`, a key.
type Delivery = (Option<DeliveryClass>, Option<u32>);

impl Engine {
    pub(super) fn on_game_data(
        &mut self,
        conn: ConnId,
        raw_payload: &str,
        class: Option<RawJsonRef<'_>>,
        key: Option<RawJsonRef<'_>>,
        out: &mut Vec<Action>,
    ) {
        let c = &self.conns[&conn];
        // Spectators and players outside a room have nowhere to send to (BEHAVIOUR §8).
        let Role::Player(room) = c.role else { return };
        // v2 never looked at these fields; v3 senders must use them as the SDK does.
        let delivery = match c.version {
            ProtocolVersion::V2 => (None, None),
            ProtocolVersion::V3 => match parse_delivery(class, key) {
                Some(delivery) => delivery,
                None => {
                    self.counters.validation_errors_total += 1;
                    let text =
                        "Invalid delivery class: latest requires a key; reliable and volatile forbid one";
                    self.send(conn, &ServerMessage::error(text, ErrorCode::InvalidDeliveryClass), out);
                    return;
                }
            },
        };
        if let Err(problem) = check_portable_json(raw_payload) {
            // Relaying it would break the recipients' decoders; tell the sender instead.
            self.counters.validation_errors_total += 1;
            self.send(conn, &ServerMessage::error(problem.to_string(), ErrorCode::InvalidInput), out);
            return;
        }
        let sender = self.conns[&conn].player_id;
        let stamp = self.next_stamp(room, sender);
        self.counters.game_data_messages_total += 1;
        let (mut v2, mut v3): (Option<Bytes>, Option<Bytes>) = (None, None);
        let done = self.fan_out(room, Some(sender), false, out, |member| match member.version() {
            ProtocolVersion::V2 => Some(Outbound::Text(
                v2.get_or_insert_with(|| game_data_message(&sender, raw_payload)).clone(),
            )),
            // v3 replays no game data (DECISIONS D56).
            ProtocolVersion::V3 if matches!(member, Member::Away { .. }) => None,
            ProtocolVersion::V3 => Some(Outbound::Text(
                v3.get_or_insert_with(|| {
                    stamped_game_data_message(&sender, raw_payload, stamp, delivery.0, delivery.1)
                })
                .clone(),
            )),
        });
        self.counters.game_data_deliveries_total += done.sent;
        self.rooms.get_mut(&room).expect("players have rooms").last_activity = self.clock.now;
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
        let Role::Player(room) = c.role else { return };
        let sender = c.player_id;
        let stamp = self.next_stamp(room, sender);
        self.counters.game_data_messages_total += 1;

        // Each rendering is built at most once, when a member first needs it.
        let mut binary: Option<Bytes> = None;
        let mut stamped_binary: Option<Bytes> = None;
        let mut json_text: Option<Option<String>> = None;
        let mut json: Option<Option<Bytes>> = None;
        let mut stamped_json: Option<Option<Bytes>> = None;
        // v3 JSON recipients the payload has no JSON form for: they get a report instead.
        let mut gaps: Vec<Uuid> = Vec::new();
        self.rooms.get_mut(&room).expect("players have rooms").last_activity = self.clock.now;
        let done = self.fan_out(room, Some(sender), true, out, |member| {
            let mut translated = || {
                cached(&mut json, || {
                    cached(&mut json_text, || translate_to_json(payload, max))
                        .map(|text| game_data_message(&sender, &text))
                })
            };
            match member {
                Member::Connected { format, version: ProtocolVersion::V2, .. } if is_binary(format) => {
                    Some(Outbound::Binary(cached(&mut binary, || binary_game_data_message(&sender, payload))))
                }
                Member::Connected { format, version: ProtocolVersion::V3, .. } if is_binary(format) => {
                    Some(Outbound::Binary(cached(&mut stamped_binary, || {
                        stamped_binary_game_data_message(&sender, payload, stamp)
                    })))
                }
                Member::Connected { version: ProtocolVersion::V2, .. } => translated().map(Outbound::Text),
                Member::Connected { id, version: ProtocolVersion::V3, .. } => {
                    let frame = cached(&mut stamped_json, || {
                        cached(&mut json_text, || translate_to_json(payload, max))
                            .map(|text| stamped_game_data_message(&sender, &text, stamp, None, None))
                    });
                    if frame.is_none() {
                        gaps.push(id);
                    }
                    frame.map(Outbound::Text)
                }
                // Replay is JSON: the JSON form, or the defined binary envelope when the
                // payload has none. v3 replays no game data (DECISIONS D56).
                Member::Away { version: ProtocolVersion::V2, .. } => {
                    Some(Outbound::Text(replay_text(&sender, payload, translated().as_ref())))
                }
                Member::Away { version: ProtocolVersion::V3, .. } => None,
            }
        });
        self.counters.game_data_deliveries_total += done.sent;
        self.counters.game_data_untranslatable_total += done.skipped;
        for recipient in gaps {
            self.report_gap(room, recipient, sender, stamp, out);
        }
    }

    /// The sender's next stamp in its seat.
    fn next_stamp(&mut self, room: RoomKey, sender: Uuid) -> Stamp {
        let seat = self.rooms.get_mut(&room).and_then(|r| r.seat_mut(sender)).expect("players have seats");
        seat.stamp.seq += 1;
        seat.stamp
    }

    /// Tells a v3 recipient it will not get `stamp` of `sender`: its encoding is JSON and
    /// the payload has no JSON form (DECISIONS D55). Sent before anything else of the
    /// sender's can reach it, so its seqs stay accounted for.
    fn report_gap(
        &mut self,
        room: RoomKey,
        recipient: Uuid,
        sender: Uuid,
        stamp: Stamp,
        out: &mut Vec<Action>,
    ) {
        let Some(conn) = self.member_conn(room, recipient) else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.unsupported_format_gaps += 1;
        let mut per_class = DeliveryCounts::default();
        per_class.reliable.unsupported_format = c.unsupported_format_gaps;
        let gap = DeliveryGap {
            from_player: sender,
            epoch: stamp.epoch,
            from_seq: stamp.seq,
            to_seq: stamp.seq,
            reason: GapReason::UnsupportedFormat,
        };
        let report = ServerMessage::DeliveryReport(DeliveryReportPayload { per_class, gaps: vec![gap] });
        self.send(conn, &report, out);
    }
}

/// The value in `slot`, made by `make` the first time.
fn cached<T: Clone>(slot: &mut Option<T>, make: impl FnOnce() -> T) -> T {
    slot.get_or_insert_with(make).clone()
}

/// A v3 sender's `class` and `key`: absent (or null) for reliable, `latest` with a key
/// from 0 to 2³²−1, `reliable` or `volatile` without one. `None` for anything else.
fn parse_delivery<'a>(class: Option<RawJsonRef<'a>>, key: Option<RawJsonRef<'a>>) -> Option<Delivery> {
    fn present<'a>(raw: Option<RawJsonRef<'a>>) -> Option<&'a str> {
        raw.map(|r| r.get()).filter(|text| *text != "null")
    }
    let class: Option<DeliveryClass> = match present(class) {
        Some(text) => Some(serde_json::from_str(text).ok()?),
        None => None,
    };
    let key: Option<u32> = match present(key) {
        Some(text) => Some(serde_json::from_str(text).ok()?),
        None => None,
    };
    match (class, key) {
        (Some(DeliveryClass::Latest), Some(_)) => Some((class, key)),
        (None | Some(DeliveryClass::Reliable | DeliveryClass::Volatile), None) => Some((class, key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Option<RawJsonRef<'_>> {
        Some(RawJsonRef(serde_json::from_str(text).unwrap()))
    }

    #[test]
    fn delivery_classes_as_the_sdk_sends_them() {
        assert_eq!(parse_delivery(None, None), Some((None, None)));
        assert_eq!(parse_delivery(raw("null"), raw("null")), Some((None, None)));
        assert_eq!(parse_delivery(raw(r#""reliable""#), None), Some((Some(DeliveryClass::Reliable), None)));
        assert_eq!(parse_delivery(raw(r#""volatile""#), None), Some((Some(DeliveryClass::Volatile), None)));
        assert_eq!(
            parse_delivery(raw(r#""latest""#), raw("7")),
            Some((Some(DeliveryClass::Latest), Some(7)))
        );
        assert_eq!(parse_delivery(raw(r#""latest""#), None), None, "latest needs a key");
        assert_eq!(parse_delivery(raw(r#""volatile""#), raw("1")), None, "volatile forbids one");
        assert_eq!(parse_delivery(None, raw("1")), None, "so does the default");
        assert_eq!(parse_delivery(raw(r#""latest""#), raw("-1")), None);
        assert_eq!(parse_delivery(raw(r#""latest""#), raw("4294967296")), None);
        assert_eq!(parse_delivery(raw(r#""sometimes""#), None), None);
        assert_eq!(parse_delivery(raw("1"), None), None);
    }
}
