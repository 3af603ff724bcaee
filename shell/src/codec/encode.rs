//! Writing server frames (RFC 6455 §5.2): never fragmented, never masked (§5.1), the
//! shortest length encoding. The engine's text frames are serialised JSON, valid UTF-8
//! by construction, so they are framed as they are, without checking again.

use signal_fish_core::Outbound;

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PONG: u8 = 0xA;
/// Longest close reason: a control frame holds 125 bytes, two are the code.
const MAX_CLOSE_REASON: usize = 123;

/// Appends a final, unmasked frame header for a payload of `len` bytes.
fn header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends one engine frame, header and payload.
pub(crate) fn data_frame(out: &mut Vec<u8>, frame: &Outbound) {
    let (opcode, payload) = match frame {
        Outbound::Text(bytes) => (OP_TEXT, bytes),
        Outbound::Binary(bytes) => (OP_BINARY, bytes),
    };
    header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a pong answering a ping with this payload (at most 125 bytes).
pub(crate) fn pong(out: &mut Vec<u8>, payload: &[u8]) {
    header(out, OP_PONG, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame: with a code and a reason (cut to 123 bytes at a character
/// boundary), or empty when answering a close frame that had no code (§5.5.1).
pub(crate) fn close(out: &mut Vec<u8>, status: Option<(u16, &str)>) {
    let Some((code, reason)) = status else {
        header(out, OP_CLOSE, 0);
        return;
    };
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    header(out, OP_CLOSE, 2 + end);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn lengths_use_the_shortest_encoding() {
        for (len, head) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xff, 0xff]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let frame = Outbound::Text(Bytes::from(vec![b'a'; len]));
            let mut out = Vec::new();
            data_frame(&mut out, &frame);
            assert_eq!(&out[..head.len()], &head[..], "{len}");
            assert_eq!(out.len(), head.len() + len);
        }
        let mut out = Vec::new();
        data_frame(&mut out, &Outbound::Binary(Bytes::from_static(&[1, 2])));
        assert_eq!(out, [0x82, 2, 1, 2]);
    }

    #[test]
    fn control_frames() {
        let mut out = Vec::new();
        pong(&mut out, b"hi");
        assert_eq!(out, [0x8A, 2, b'h', b'i']);
        out.clear();
        close(&mut out, None);
        assert_eq!(out, [0x88, 0]);
        out.clear();
        close(&mut out, Some((1008, "Slow consumer")));
        assert_eq!(&out[..4], [0x88, 15, 0x03, 0xf0]);
        assert_eq!(&out[4..], b"Slow consumer");
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        // 62 two-byte characters: 124 bytes, one too many.
        let reason = "é".repeat(62);
        let mut out = Vec::new();
        close(&mut out, Some((1000, &reason)));
        assert_eq!(out[1], 2 + 122);
        assert_eq!(std::str::from_utf8(&out[4..]).unwrap(), "é".repeat(61));
        let mut out = Vec::new();
        close(&mut out, Some((1000, &"a".repeat(500))));
        assert_eq!(out.len(), 2 + 125);
    }
}
