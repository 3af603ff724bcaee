//! Hand-built WebSocket client frames (RFC 6455 §5.2), including ones no well-behaved
//! client library would produce: wrong masks, reserved bits, lying lengths.

/// Text frame opcode.
pub const TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const BINARY: u8 = 0x2;
/// Continuation frame opcode.
pub const CONTINUATION: u8 = 0x0;
/// Ping frame opcode.
pub const PING: u8 = 0x9;

/// The masking key every frame built here uses (any key is valid).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with the given FIN bit, opcode (its low four bits) and payload.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, opcode, payload.len() as u64, true);
    out.extend(masked_payload(payload));
    out
}

/// The first bytes of a frame's payload as they go on the wire after a masked
/// [`header`] (the payload of a frame that is never finished, say).
pub fn masked_payload(payload: &[u8]) -> Vec<u8> {
    payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]).collect()
}

/// A frame header announcing `len` payload bytes, with no payload after it (the caller
/// sends as much of the payload as it likes, or none).
pub fn header(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
    }
    out
}

/// An unmasked client frame (a protocol violation: clients must mask).
pub fn unmasked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(true, opcode, payload.len() as u64, false);
    out.extend_from_slice(payload);
    out
}

/// A complete masked text frame whose payload need not be UTF-8.
pub fn text_bytes(payload: &[u8]) -> Vec<u8> {
    frame(true, TEXT, payload)
}
