//! MessagePack game data (PROTOCOL §2.2).
//!
//! A MessagePack recipient gets one binary frame: a 3-entry map `from_player` (bin, the 16
//! UUID bytes), `encoding` (`"message_pack"`), `payload` (bin, the bytes as sent). A JSON
//! recipient gets the payload translated once into a text `GameData`. A v3 MessagePack
//! recipient gets a 5-entry map: the same three, then `seq` and `epoch` (PROTOCOL §12.3).

use bytes::Bytes;
use uuid::Uuid;

use super::server::game_data_message;
use super::version::Stamp;

/// Payloads nested this deep (containers) are not translated. The `GameData` envelope adds two levels, and
/// JSON clients (serde_json among them) refuse documents nested deeper than 128, so a
/// deeper translation would be undecodable for its recipient (found by fuzzing).
const MAX_DEPTH: usize = 100;

/// The binary frame delivered to MessagePack recipients.
pub fn binary_game_data_message(from_player: &Uuid, payload: &[u8]) -> Bytes {
    Bytes::from(binary_envelope(0x83, from_player, payload, 0)) // fixmap, 3 entries
}

/// The binary frame delivered to v3 MessagePack recipients: the v2 entries, then `seq`
/// and `epoch` as unsigned integers.
pub fn stamped_binary_game_data_message(from_player: &Uuid, payload: &[u8], stamp: Stamp) -> Bytes {
    let mut out = binary_envelope(0x85, from_player, payload, 32); // fixmap, 5 entries
    push_fixstr(&mut out, "seq");
    push_uint(&mut out, stamp.seq);
    push_fixstr(&mut out, "epoch");
    push_uint(&mut out, u64::from(stamp.epoch));
    Bytes::from(out)
}

/// `map_header`, then `from_player`, `encoding` and `payload`, with room for `tail_room`
/// more bytes.
fn binary_envelope(map_header: u8, from_player: &Uuid, payload: &[u8], tail_room: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + payload.len() + tail_room);
    out.push(map_header);
    push_fixstr(&mut out, "from_player");
    out.extend_from_slice(&[0xc4, 0x10]); // bin 8, 16 bytes
    out.extend_from_slice(from_player.as_bytes());
    push_fixstr(&mut out, "encoding");
    push_fixstr(&mut out, "message_pack");
    push_fixstr(&mut out, "payload");
    push_bin_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

/// Splits a frame built by [`binary_game_data_message`] back into sender and payload.
pub fn parse_binary_game_data_message(frame: &[u8]) -> Option<(Uuid, &[u8])> {
    let (sender, payload, tail) = split_envelope(frame, 0x83)?;
    tail.is_empty().then_some((sender, payload))
}

/// Splits a frame built by [`stamped_binary_game_data_message`] back into sender,
/// payload and stamp.
pub fn parse_stamped_binary_game_data_message(frame: &[u8]) -> Option<(Uuid, &[u8], Stamp)> {
    let (sender, payload, tail) = split_envelope(frame, 0x85)?;
    let tail = tail.strip_prefix(b"\xa3seq")?;
    let (seq, tail) = read_uint(tail)?;
    let tail = tail.strip_prefix(b"\xa5epoch")?;
    let (epoch, tail) = read_uint(tail)?;
    let stamp = Stamp { epoch: u32::try_from(epoch).ok()?, seq };
    tail.is_empty().then_some((sender, payload, stamp))
}

/// Sender, payload and what follows the payload, of an envelope this module built with
/// `map_header`.
fn split_envelope(frame: &[u8], map_header: u8) -> Option<(Uuid, &[u8], &[u8])> {
    const HEAD: usize = 1 + 12 + 2;
    if *frame.first()? != map_header {
        return None;
    }
    let sender = Uuid::from_slice(frame.get(HEAD..HEAD + 16)?).ok()?;
    let rest = frame.get(HEAD + 16 + 9 + 13 + 8..)?;
    let (len, body) = match *rest.first()? {
        0xc4 => (usize::from(*rest.get(1)?), rest.get(2..)?),
        0xc5 => (usize::from(u16::from_be_bytes(rest.get(1..3)?.try_into().ok()?)), rest.get(3..)?),
        0xc6 => (u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?) as usize, rest.get(5..)?),
        _ => return None,
    };
    Some((sender, body.get(..len)?, body.get(len..)?))
}

/// A MessagePack unsigned integer and what follows it.
fn read_uint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let wide = |n: usize| -> Option<(u64, &[u8])> {
        let (value, rest) = (rest.get(..n)?, rest.get(n..)?);
        Some((value.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)), rest))
    };
    match first {
        0x00..=0x7f => Some((u64::from(first), rest)),
        0xcc => wide(1),
        0xcd => wide(2),
        0xce => wide(4),
        0xcf => wide(8),
        _ => None,
    }
}

fn push_fixstr(out: &mut Vec<u8>, text: &str) {
    debug_assert!(text.len() < 32);
    out.push(0xa0 | text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}

/// The shortest MessagePack unsigned integer for `value`.
fn push_uint(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8);
    } else if let Ok(value) = u8::try_from(value) {
        out.extend_from_slice(&[0xcc, value]);
    } else if let Ok(value) = u16::try_from(value) {
        out.push(0xcd);
        out.extend_from_slice(&value.to_be_bytes());
    } else if let Ok(value) = u32::try_from(value) {
        out.push(0xce);
        out.extend_from_slice(&value.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn push_bin_header(out: &mut Vec<u8>, len: usize) {
    if let Ok(len) = u8::try_from(len) {
        out.extend_from_slice(&[0xc4, len]);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0xc5);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        let len = u32::try_from(len).expect("payloads are bounded far below 4 GiB");
        out.push(0xc6);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// The text `GameData` for JSON recipients, or `None` when the payload has no JSON form
/// (not valid MessagePack, trailing bytes, `bin`/`ext` values, non-string map keys) or
/// its JSON text would be longer than `max_json_len` bytes.
///
/// JSON can be several times larger than MessagePack (a 64 KiB payload of small
/// integers becomes about 320 KiB), so the translation is bounded by what a JSON
/// recipient accepts, and stops as soon as it exceeds that.
pub fn translate_to_json_message(from_player: &Uuid, payload: &[u8], max_json_len: usize) -> Option<Bytes> {
    translate_to_json(payload, max_json_len).map(|text| game_data_message(from_player, &text))
}

/// The JSON text of a MessagePack payload, under the rules of
/// [`translate_to_json_message`].
pub fn translate_to_json(payload: &[u8], max_json_len: usize) -> Option<String> {
    let mut deserializer = rmp_serde::Deserializer::new(std::io::Cursor::new(payload));
    // Bounded nesting keeps hostile payloads from exhausting the stack.
    deserializer.set_max_depth(MAX_DEPTH);
    let value: serde_json::Value = serde::Deserialize::deserialize(&mut deserializer).ok()?;
    if deserializer.position() != payload.len() as u64 {
        return None;
    }
    let mut text = BoundedText { bytes: Vec::new(), max: max_json_len };
    serde_json::to_writer(&mut text, &value).ok()?;
    String::from_utf8(text.bytes).ok()
}

/// A writer that fails once more than `max` bytes were written.
struct BoundedText {
    bytes: Vec<u8>,
    max: usize,
}

impl std::io::Write for BoundedText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.max {
            return Err(std::io::Error::other("translation exceeds the recipient's limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_the_protocol_example_byte_for_byte() {
        let sender: Uuid = "a94e8724-3387-4fce-97b1-2976e4a3034d".parse().unwrap();
        let payload = [0x82, 0xa3, b'p', b'o', b's', 0x92, 0x01, 0x02, 0xa1, b'n', 0xa1, b'x'];
        let frame = binary_game_data_message(&sender, &payload);
        let expected = "83ab66726f6d5f706c61796572c410a94e872433874fce97b12976e4a3034da8656e636f64696e67ac6d6573736167655f7061636ba77061796c6f6164c40c82a3706f73920102a16ea178";
        assert_eq!(hex(&frame), expected);
    }

    #[test]
    fn the_v3_envelope_adds_seq_and_epoch() {
        let sender: Uuid = "a94e8724-3387-4fce-97b1-2976e4a3034d".parse().unwrap();
        let payload = [0x82, 0xa3, b'p', b'o', b's', 0x92, 0x01, 0x02, 0xa1, b'n', 0xa1, b'x'];
        let frame = stamped_binary_game_data_message(&sender, &payload, Stamp { epoch: 2, seq: 7 });
        let expected = "85ab66726f6d5f706c61796572c410a94e872433874fce97b12976e4a3034da8656e636f64696e67ac6d6573736167655f7061636ba77061796c6f6164c40c82a3706f73920102a16ea178a373657107a565706f636802";
        assert_eq!(hex(&frame), expected);
        let wide = stamped_binary_game_data_message(&sender, &[0xc0], Stamp { epoch: 70_000, seq: 300 });
        assert!(hex(&wide).ends_with("a3736571cd012ca565706f6368ce00011170"), "{}", hex(&wide));
        #[derive(serde::Deserialize)]
        struct Envelope {
            #[serde(with = "serde_bytes_like")]
            payload: Vec<u8>,
            seq: u64,
            epoch: u32,
        }
        mod serde_bytes_like {
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
                let bytes: &[u8] = serde::Deserialize::deserialize(d)?;
                Ok(bytes.to_vec())
            }
        }
        let decoded: Envelope = rmp_serde::from_slice(&frame).expect("a MessagePack map");
        assert_eq!((decoded.payload, decoded.seq, decoded.epoch), (payload.to_vec(), 7, 2));
        let parsed = parse_stamped_binary_game_data_message(&wide).expect("parses back");
        assert_eq!(parsed, (sender, &[0xc0][..], Stamp { epoch: 70_000, seq: 300 }));
        assert_eq!(parse_binary_game_data_message(&frame), None, "not a v2 envelope");
        assert_eq!(
            parse_stamped_binary_game_data_message(&binary_game_data_message(&sender, &payload)),
            None
        );
    }

    #[test]
    fn frames_parse_back_into_sender_and_payload() {
        let sender: Uuid = "a94e8724-3387-4fce-97b1-2976e4a3034d".parse().unwrap();
        for len in [0usize, 5, 255, 256, 70_000] {
            let payload = vec![7u8; len];
            let frame = binary_game_data_message(&sender, &payload);
            assert_eq!(parse_binary_game_data_message(&frame), Some((sender, &payload[..])), "{len}");
        }
        assert_eq!(parse_binary_game_data_message(&[0x83, 1, 2]), None);
    }

    #[test]
    fn large_payloads_use_bin16_and_bin32() {
        let sender = Uuid::nil();
        let frame = binary_game_data_message(&sender, &vec![0u8; 300]);
        let at = frame.len() - 300 - 3;
        assert_eq!(&frame[at..at + 3], &[0xc5, 0x01, 0x2c]);
        let frame = binary_game_data_message(&sender, &vec![0u8; 70_000]);
        let at = frame.len() - 70_000 - 5;
        assert_eq!(&frame[at..at + 5], &[0xc6, 0x00, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn translation_to_json_sorts_keys() {
        let sender: Uuid = "a94e8724-3387-4fce-97b1-2976e4a3034d".parse().unwrap();
        let payload = [0x82, 0xa3, b'p', b'o', b's', 0x92, 0x01, 0x02, 0xa1, b'n', 0xa1, b'x'];
        let frame = translate_to_json_message(&sender, &payload, usize::MAX).unwrap();
        assert_eq!(
            std::str::from_utf8(&frame).unwrap(),
            r#"{"type":"GameData","data":{"from_player":"a94e8724-3387-4fce-97b1-2976e4a3034d","data":{"n":"x","pos":[1,2]}}}"#
        );
    }

    #[test]
    fn untranslatable_payloads_are_refused() {
        let sender = Uuid::nil();
        assert!(translate_to_json_message(&sender, &[0xc4, 0x01, 0x00], usize::MAX).is_none(), "bin value");
        assert!(translate_to_json_message(&sender, &[0x81, 0x01, 0x02], usize::MAX).is_none(), "int key");
        assert!(translate_to_json_message(&sender, &[0xc1], usize::MAX).is_none(), "reserved byte");
        assert!(translate_to_json_message(&sender, &[0x01, 0x02], usize::MAX).is_none(), "trailing bytes");
        assert!(translate_to_json_message(&sender, &[], usize::MAX).is_none(), "empty");
        assert!(translate_to_json_message(&sender, &[0xd4, 0x01, 0x00], usize::MAX).is_none(), "ext");
    }

    #[test]
    fn translations_stay_within_json_nesting_limits() {
        let sender = Uuid::nil();
        let nested = |depth: usize| {
            let mut payload = vec![0x91; depth];
            payload.push(0x01);
            payload
        };
        let frame =
            translate_to_json_message(&sender, &nested(MAX_DEPTH - 1), usize::MAX).expect("deep but allowed");
        serde_json::from_slice::<serde_json::Value>(&frame).expect("parses with the default limit");
        assert!(translate_to_json_message(&sender, &nested(MAX_DEPTH), usize::MAX).is_none());
        assert!(
            translate_to_json_message(&sender, &nested(127), usize::MAX).is_none(),
            "the fuzzer's crash input"
        );
    }

    #[test]
    fn translations_are_bounded_by_the_recipients_limit() {
        let sender = Uuid::nil();
        // 65,536 bytes: an array32 of 65,531 one-byte integers, about 2 bytes of JSON each.
        let mut payload = vec![0xdd];
        payload.extend_from_slice(&65_531u32.to_be_bytes());
        payload.extend(std::iter::repeat_n(0x01, 65_531));
        assert_eq!(payload.len(), 65_536);
        let unbounded = translate_to_json_message(&sender, &payload, usize::MAX).expect("translates");
        assert!(unbounded.len() > 130_000, "{}", unbounded.len());
        assert!(translate_to_json_message(&sender, &payload, 65_536).is_none());
        assert!(translate_to_json_message(&sender, &[0x92, 0x01, 0x02], 5).is_some(), "[1,2] is 5 bytes");
        assert!(translate_to_json_message(&sender, &[0x92, 0x01, 0x02], 4).is_none());
    }
}
