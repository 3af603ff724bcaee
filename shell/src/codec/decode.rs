//! Reading client frames (RFC 6455 §5): an incremental decoder fed whatever each socket
//! read returned, so a frame may arrive in any number of pieces.
//!
//! It keeps no raw input: a frame header (at most 14 bytes) is collected in place, and
//! payload bytes are unmasked straight into the message they belong to, which becomes
//! the event's `String` or `Bytes` without another copy. What one connection can make it
//! hold is bounded by the hard cap: a data message (all its fragments) above the cap is
//! refused as soon as a header announces it, before its payload is buffered. Below the
//! cap, memory follows the bytes that actually arrived (at most twice as many), never
//! the length a header announces: a client that announces a large message and then
//! trickles it costs only what it sent.
//!
//! A text message that cannot become UTF-8 whatever follows is refused as soon as the
//! offending bytes arrive, not when the message ends: a partial message is checked as it
//! grows (only the bytes new since the last check), a complete one as a whole.

use bytes::Bytes;

use super::mask::unmask;

/// Largest payload of a control frame (§5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, a 64-bit length and the masking key.
const MAX_HEADER: usize = 14;

/// One complete client message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// A text message, all fragments joined; valid UTF-8.
    Text(String),
    /// A binary message, all fragments joined.
    Binary(Bytes),
    /// A ping, with its payload (at most 125 bytes) for the pong.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame, with its code and reason if it had any. Nothing after it is read.
    Close(Option<CloseFrame>),
}

/// The status code and reason of a client's close frame (§5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseFrame {
    /// A code a client may send (§7.4).
    pub code: u16,
    /// The reason, valid UTF-8.
    pub reason: String,
}

/// Why the input cannot be read on: the connection ends with a close frame saying so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A data message (all fragments together) above the hard cap.
    TooLarge,
    /// A text message or a close reason that is not UTF-8.
    InvalidUtf8,
    /// Any other breach of RFC 6455.
    Protocol(Fault),
}

/// Which rule of RFC 6455 a client broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Clients must mask every frame (§5.1).
    Unmasked,
    /// RSV1–3 set without a negotiated extension (§5.2).
    ReservedBits,
    /// An opcode RFC 6455 reserves (3–7, 0xB–0xF).
    ReservedOpcode(u8),
    /// A control frame without FIN (§5.5).
    FragmentedControl,
    /// A control frame above 125 bytes (§5.5).
    ControlTooLong,
    /// A continuation frame with no fragmented message to continue (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame inside a fragmented message (§5.4).
    ExpectedContinuation,
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthOverflow,
    /// A close frame with a one-byte payload (§5.5.1).
    CloseLength,
    /// A close code no endpoint may send (§7.4).
    CloseCode(u16),
}

impl Fault {
    /// Names the fault for the close frame's reason.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Fault::Unmasked => "protocol error: unmasked client frame",
            Fault::ReservedBits => "protocol error: reserved bits set",
            Fault::ReservedOpcode(_) => "protocol error: reserved opcode",
            Fault::FragmentedControl => "protocol error: fragmented control frame",
            Fault::ControlTooLong => "protocol error: control frame above 125 bytes",
            Fault::UnexpectedContinuation => "protocol error: continuation frame without a message",
            Fault::ExpectedContinuation => "protocol error: new message inside a fragmented one",
            Fault::LengthOverflow => "protocol error: frame length above 2^63",
            Fault::CloseLength => "protocol error: close frame with a one-byte payload",
            Fault::CloseCode(_) => "protocol error: invalid close code",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn parse(bits: u8) -> Result<Opcode, DecodeError> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(DecodeError::Protocol(Fault::ReservedOpcode(other))),
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct FrameState {
    opcode: Opcode,
    fin: bool,
    key: [u8; 4],
    len: usize,
    done: usize,
    /// For data frames: the length of the message once this frame is complete.
    message_end: usize,
}

/// See the module documentation. One per connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// The hard cap on a data message.
    cap: usize,
    header: [u8; MAX_HEADER],
    header_len: usize,
    frame: Option<FrameState>,
    /// The data message being assembled: its opcode and the payload so far.
    message: Option<(Opcode, Vec<u8>)>,
    /// For a text message being assembled: how many of its first bytes are known to be
    /// UTF-8 (they end at a character boundary).
    checked: usize,
    /// The current control frame's payload.
    control: Vec<u8>,
    /// A close frame was read; the rest of the input is ignored.
    closed: bool,
}

impl Decoder {
    /// A decoder refusing data messages above `cap` bytes.
    pub(crate) fn new(cap: usize) -> Decoder {
        Decoder {
            cap,
            header: [0; MAX_HEADER],
            header_len: 0,
            frame: None,
            message: None,
            checked: 0,
            control: Vec::new(),
            closed: false,
        }
    }

    /// Decodes `input`, appending every message it completes to `out`. After an error
    /// the messages before the faulty frame are in `out` and the decoder must not be fed
    /// again; after a close frame the rest of the input is ignored.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<Message>) -> Result<(), DecodeError> {
        while !input.is_empty() && !self.closed {
            input = match self.frame {
                None => self.read_header(input, out)?,
                Some(_) => self.read_payload(input, out)?,
            };
        }
        Ok(())
    }

    /// Whether a close frame was read.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes held for an incomplete data message (what the global budget for unfinished
    /// messages counts).
    pub(crate) fn held(&self) -> usize {
        self.message.as_ref().map_or(0, |(_, data)| data.capacity())
    }

    /// Bytes reserved for an incomplete message (for the memory bound's tests).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn reserved(&self) -> usize {
        self.message.as_ref().map_or(0, |(_, data)| data.capacity()) + self.control.capacity()
    }

    fn read_header<'a>(&mut self, input: &'a [u8], out: &mut Vec<Message>) -> Result<&'a [u8], DecodeError> {
        let mut input = input;
        if self.header_len < 2 {
            input = self.collect_header(input, 2);
            if self.header_len < 2 {
                return Ok(input);
            }
            self.check_first_bytes()?;
        }
        let size = header_size(self.header[1]);
        input = self.collect_header(input, size);
        if self.header_len == size {
            self.header_len = 0;
            self.start_frame(size)?;
            if self.frame.as_ref().is_some_and(|f| f.len == 0) {
                self.finish_frame(out)?;
            }
        }
        Ok(input)
    }

    /// Moves header bytes from `input` until `size` are collected.
    fn collect_header<'a>(&mut self, input: &'a [u8], size: usize) -> &'a [u8] {
        let take = (size - self.header_len).min(input.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        &input[take..]
    }

    /// The checks the first two bytes allow, before the rest of the header arrives.
    fn check_first_bytes(&self) -> Result<(), DecodeError> {
        let [b0, b1] = [self.header[0], self.header[1]];
        if b0 & 0x70 != 0 {
            return Err(DecodeError::Protocol(Fault::ReservedBits));
        }
        let opcode = Opcode::parse(b0 & 0x0f)?;
        if b1 & 0x80 == 0 {
            return Err(DecodeError::Protocol(Fault::Unmasked));
        }
        if opcode.is_control() {
            if b0 & 0x80 == 0 {
                return Err(DecodeError::Protocol(Fault::FragmentedControl));
            }
            if usize::from(b1 & 0x7f) > MAX_CONTROL_PAYLOAD {
                return Err(DecodeError::Protocol(Fault::ControlTooLong));
            }
        }
        match (opcode, self.message.is_some()) {
            (Opcode::Continuation, false) => Err(DecodeError::Protocol(Fault::UnexpectedContinuation)),
            (Opcode::Text | Opcode::Binary, true) => Err(DecodeError::Protocol(Fault::ExpectedContinuation)),
            _ => Ok(()),
        }
    }

    fn start_frame(&mut self, size: usize) -> Result<(), DecodeError> {
        let h = &self.header;
        let len = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            short => u64::from(short),
        };
        if len >> 63 != 0 {
            return Err(DecodeError::Protocol(Fault::LengthOverflow));
        }
        let key = [h[size - 4], h[size - 3], h[size - 2], h[size - 1]];
        let fin = h[0] & 0x80 != 0;
        // Checked by `check_first_bytes`.
        let opcode = Opcode::parse(h[0] & 0x0f)?;
        let too_large = |so_far: usize| len > (self.cap - so_far.min(self.cap)) as u64;
        // Fits in usize from here on: every length is at most the cap or 125.
        let mut message_end = 0;
        match opcode {
            Opcode::Text | Opcode::Binary => {
                if too_large(0) {
                    return Err(DecodeError::TooLarge);
                }
                // Nothing reserved yet: the payload may never come (see the module docs).
                self.message = Some((opcode, Vec::new()));
                self.checked = 0;
                message_end = len as usize;
            }
            Opcode::Continuation => {
                let so_far = self.message.as_ref().map_or(0, |(_, data)| data.len());
                if too_large(so_far) {
                    return Err(DecodeError::TooLarge);
                }
                message_end = so_far + len as usize;
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {
                // Exactly the announced length (at most 125): growing by doubling while
                // the payload arrives in pieces could reserve twice that.
                self.control.clear();
                self.control.reserve_exact(len as usize);
            }
        }
        self.frame = Some(FrameState { opcode, fin, key, len: len as usize, done: 0, message_end });
        Ok(())
    }

    fn read_payload<'a>(&mut self, input: &'a [u8], out: &mut Vec<Message>) -> Result<&'a [u8], DecodeError> {
        let Some(frame) = self.frame.as_mut() else { return Ok(input) };
        let take = (frame.len - frame.done).min(input.len());
        let target = if frame.opcode.is_control() {
            &mut self.control
        } else {
            match self.message.as_mut() {
                Some((_, data)) => {
                    grow(data, take, frame.message_end);
                    data
                }
                None => return Err(DecodeError::Protocol(Fault::UnexpectedContinuation)),
            }
        };
        let start = target.len();
        target.extend_from_slice(&input[..take]);
        unmask(&mut target[start..], frame.key, frame.done);
        frame.done += take;
        if frame.done == frame.len {
            self.finish_frame(out)?;
        } else if !frame.opcode.is_control() {
            self.check_partial_text()?;
        }
        Ok(&input[take..])
    }

    fn finish_frame(&mut self, out: &mut Vec<Message>) -> Result<(), DecodeError> {
        let Some(frame) = self.frame.take() else { return Ok(()) };
        match frame.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                if !frame.fin {
                    return self.check_partial_text();
                }
                let Some((opcode, data)) = self.message.take() else { return Ok(()) };
                out.push(if opcode == Opcode::Text {
                    Message::Text(String::from_utf8(data).map_err(|_| DecodeError::InvalidUtf8)?)
                } else {
                    Message::Binary(Bytes::from(data))
                });
            }
            Opcode::Ping => out.push(Message::Ping(std::mem::take(&mut self.control))),
            Opcode::Pong => out.push(Message::Pong),
            Opcode::Close => {
                let close = parse_close(&self.control)?;
                self.closed = true;
                out.push(Message::Close(close));
            }
        }
        Ok(())
    }

    /// Fails fast on a text message that is not complete yet: refuses it when the bytes
    /// that arrived since the last check cannot be part of UTF-8 whatever follows (an
    /// incomplete character at the end may still be completed). The whole message is
    /// checked again when it ends, so a message that arrives at once is checked once.
    fn check_partial_text(&mut self) -> Result<(), DecodeError> {
        let Some((Opcode::Text, data)) = &self.message else { return Ok(()) };
        match std::str::from_utf8(&data[self.checked..]) {
            Ok(_) => self.checked = data.len(),
            Err(error) if error.error_len().is_none() => self.checked += error.valid_up_to(),
            Err(_) => return Err(DecodeError::InvalidUtf8),
        }
        Ok(())
    }
}

/// Header bytes announced by the second byte: 2, the extended length, the masking key.
fn header_size(b1: u8) -> usize {
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + 4
}

/// Makes room for `more` arriving bytes of a message: doubling (so a message arriving in
/// many small pieces costs linear time) but never beyond `end`, the message's length
/// once the current frame is complete (itself at most the cap).
fn grow(data: &mut Vec<u8>, more: usize, end: usize) {
    let needed = data.len() + more;
    if data.capacity() < needed {
        let target = needed.max(data.capacity().saturating_mul(2)).min(end.max(needed));
        data.reserve_exact(target - data.len());
    }
}

/// A close frame's payload: nothing, or a code a client may send and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, DecodeError> {
    match payload {
        [] => Ok(None),
        [_] => Err(DecodeError::Protocol(Fault::CloseLength)),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(DecodeError::Protocol(Fault::CloseCode(code)));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| DecodeError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason: reason.to_owned() }))
        }
    }
}

/// Codes RFC 6455 §7.4 and the IANA registry allow in a close frame: 1004 is reserved,
/// 1005, 1006 and 1015 are for reporting only, 1016–2999 are unassigned, 3000–4999 are
/// for libraries and applications.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame (header bytes as given, payload masked with `KEY`).
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        masked(first, payload, KEY)
    }

    /// A client frame with the first byte `first`, its payload masked with `key`.
    fn masked(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;
    const TEXT_FIRST: u8 = 0x01;
    const CONT: u8 = 0x00;
    const CONT_LAST: u8 = 0x80;
    const CLOSE: u8 = 0x88;
    const PING: u8 = 0x89;
    const PONG: u8 = 0x8A;

    fn decode(input: &[u8], cap: usize) -> (Vec<Message>, Result<(), DecodeError>) {
        let mut decoder = Decoder::new(cap);
        let mut out = Vec::new();
        let result = decoder.feed(input, &mut out);
        (out, result)
    }

    fn error(input: &[u8]) -> DecodeError {
        decode(input, 1024).1.expect_err("an error")
    }

    /// A stream with every kind of frame: lengths in all three encodings, a fragmented
    /// text message with a control frame between its fragments and a UTF-8 character
    /// split across them, empty frames, a close. With `long`, a 70,000-byte binary message too (a 64-bit length).
    fn sample_stream(long: bool) -> (Vec<u8>, Vec<Message>) {
        let long: Vec<u8> = (0..if long { 70_000u32 } else { 0 }).map(|i| i as u8).collect();
        let medium = "é".repeat(100);
        let mut input = Vec::new();
        input.extend(frame(TEXT, br#"{"type":"Ping"}"#));
        if !long.is_empty() {
            input.extend(frame(BINARY, &long));
        }
        input.extend(frame(TEXT, medium.as_bytes()));
        input.extend(frame(TEXT, b""));
        input.extend(frame(TEXT_FIRST, b"ab\xc3"));
        input.extend(frame(PING, b"are you there"));
        input.extend(frame(CONT, b""));
        input.extend(frame(CONT_LAST, b"\xa9cd"));
        input.extend(frame(PONG, b""));
        input.extend(frame(0x02, &[1, 2]));
        input.extend(frame(CONT_LAST, &[3]));
        input.extend(frame(CLOSE, b"\x03\xe8bye"));
        let mut expected = vec![Message::Text(r#"{"type":"Ping"}"#.to_owned())];
        if !long.is_empty() {
            expected.push(Message::Binary(Bytes::from(long)));
        }
        expected.extend([
            Message::Text(medium),
            Message::Text(String::new()),
            Message::Ping(b"are you there".to_vec()),
            Message::Text("abécd".to_owned()),
            Message::Pong,
            Message::Binary(Bytes::from_static(&[1, 2, 3])),
            Message::Close(Some(CloseFrame { code: 1000, reason: "bye".to_owned() })),
        ]);
        (input, expected)
    }

    #[test]
    fn decodes_every_kind_of_frame() {
        let (input, expected) = sample_stream(true);
        let (out, result) = decode(&input, 1 << 20);
        result.unwrap();
        assert_eq!(out, expected);
    }

    /// Decodes `input` in two pieces, split at each of `points`.
    fn assert_splits_decode_the_same(
        input: &[u8],
        expected: &[Message],
        points: impl Iterator<Item = usize>,
    ) {
        for split in points {
            let mut decoder = Decoder::new(1 << 20);
            let mut out = Vec::new();
            decoder.feed(&input[..split], &mut out).unwrap();
            decoder.feed(&input[split..], &mut out).unwrap();
            assert_eq!(out, expected, "split at {split}");
        }
    }

    #[test]
    fn a_stream_split_at_any_byte_boundary_decodes_the_same() {
        let (input, expected) = sample_stream(false);
        assert_splits_decode_the_same(&input, &expected, 0..=input.len());
        // With a 64-bit length: every boundary in the headers and the payload's first
        // and last bytes, a sample in between.
        let (input, expected) = sample_stream(true);
        let long_end = input.len() - 400;
        let points = (0..200).chain((200..long_end).step_by(61)).chain(long_end - 200..=input.len());
        assert_splits_decode_the_same(&input, &expected, points);
    }

    #[test]
    fn a_stream_fed_one_byte_at_a_time_decodes_the_same() {
        let mut input = Vec::new();
        input.extend(frame(TEXT, "x".repeat(300).as_bytes()));
        input.extend(frame(TEXT_FIRST, b"h\xc3"));
        input.extend(frame(PING, b"p"));
        input.extend(frame(CONT_LAST, b"\xa9llo"));
        input.extend(frame(BINARY, b""));
        input.extend(frame(CLOSE, b""));
        let expected = vec![
            Message::Text("x".repeat(300)),
            Message::Ping(b"p".to_vec()),
            Message::Text("héllo".to_owned()),
            Message::Binary(Bytes::new()),
            Message::Close(None),
        ];
        let mut decoder = Decoder::new(1024);
        let mut out = Vec::new();
        for byte in &input {
            decoder.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn sixty_four_bit_lengths_are_read_whole() {
        let payload = vec![7u8; 65_536];
        let (out, result) = decode(&frame(BINARY, &payload), 1 << 20);
        result.unwrap();
        assert_eq!(out, [Message::Binary(Bytes::from(payload))]);
    }

    #[test]
    fn nothing_after_a_close_frame_is_read() {
        let mut input = frame(CLOSE, b"");
        input.extend(frame(TEXT, b"late"));
        input.extend([0xff, 0xff]);
        let mut decoder = Decoder::new(1024);
        let mut out = Vec::new();
        decoder.feed(&input, &mut out).unwrap();
        decoder.feed(&frame(TEXT, b"later"), &mut out).unwrap();
        assert_eq!(out, [Message::Close(None)]);
        assert!(decoder.is_closed());
    }

    #[test]
    fn protocol_violations_are_named() {
        let protocol = |fault| DecodeError::Protocol(fault);
        let mut unmasked = vec![TEXT, 2];
        unmasked.extend(b"hi");
        assert_eq!(error(&unmasked), protocol(Fault::Unmasked));
        for rsv in [0x40, 0x20, 0x10] {
            let mut f = frame(TEXT, b"x");
            f[0] |= rsv;
            assert_eq!(error(&f), protocol(Fault::ReservedBits));
        }
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(error(&frame(0x80 | opcode, b"")), protocol(Fault::ReservedOpcode(opcode)));
        }
        for control in [CLOSE, PING, PONG] {
            assert_eq!(error(&frame(control & 0x0f, b"")), protocol(Fault::FragmentedControl));
            assert_eq!(error(&frame(control, &[0; 126])), protocol(Fault::ControlTooLong));
        }
        assert_eq!(error(&frame(CONT_LAST, b"x")), protocol(Fault::UnexpectedContinuation));
        let mut interleaved = frame(TEXT_FIRST, b"{");
        interleaved.extend(frame(BINARY, b"x"));
        assert_eq!(error(&interleaved), protocol(Fault::ExpectedContinuation));
        let mut overflow = vec![BINARY, 0x80 | 127];
        overflow.extend((1u64 << 63).to_be_bytes());
        overflow.extend(KEY);
        assert_eq!(error(&overflow), protocol(Fault::LengthOverflow));
        assert_eq!(error(&frame(CLOSE, b"x")), protocol(Fault::CloseLength));
    }

    #[test]
    fn violations_are_found_from_the_first_two_bytes() {
        // A client may stop sending after two bytes: the fault is known already.
        let mut unmasked = vec![TEXT, 127];
        assert_eq!(error(&unmasked), DecodeError::Protocol(Fault::Unmasked));
        unmasked[1] = 0x80 | 126;
        unmasked[0] = 0x83;
        assert_eq!(error(&unmasked), DecodeError::Protocol(Fault::ReservedOpcode(3)));
    }

    #[test]
    fn close_codes_and_reasons_are_checked() {
        for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1011, 1013, 1014, 3000, 4999] {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend(b"why");
            let (out, result) = decode(&frame(CLOSE, &payload), 1024);
            result.unwrap();
            assert_eq!(out, [Message::Close(Some(CloseFrame { code, reason: "why".into() }))], "{code}");
        }
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let error = error(&frame(CLOSE, &code.to_be_bytes()));
            assert_eq!(error, DecodeError::Protocol(Fault::CloseCode(code)), "{code}");
        }
        assert_eq!(error(&frame(CLOSE, b"\x03\xe8\xff")), DecodeError::InvalidUtf8);
    }

    #[test]
    fn text_must_be_utf8_as_a_whole_message() {
        for bad in [&b"\x80"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xf4\x90\x80\x80"] {
            assert_eq!(error(&frame(TEXT, bad)), DecodeError::InvalidUtf8, "{bad:?}");
        }
        // Valid halves of nothing: a character cut off at the end of the message.
        let mut cut = frame(TEXT_FIRST, b"ab");
        cut.extend(frame(CONT_LAST, b"\xe2\x28"));
        assert_eq!(error(&cut), DecodeError::InvalidUtf8);
        // Binary messages may hold anything.
        let (out, result) = decode(&frame(BINARY, b"\xff\xfe"), 1024);
        result.unwrap();
        assert_eq!(out, [Message::Binary(Bytes::from_static(b"\xff\xfe"))]);
    }

    #[test]
    fn invalid_utf8_is_refused_as_soon_as_it_arrives() {
        // Autobahn 6.4.1: a valid first fragment, then one holding a code point above
        // U+10FFFF, then the rest after a pause. The second fragment is refused at once.
        let mut decoder = Decoder::new(1024);
        let mut out = Vec::new();
        decoder.feed(&frame(TEXT_FIRST, "κόσμε".as_bytes()), &mut out).unwrap();
        assert_eq!(decoder.feed(&frame(CONT, b"\xf4\x90\x80\x80"), &mut out), Err(DecodeError::InvalidUtf8));
        assert!(out.is_empty());
        // Autobahn 6.4.3: one frame in pieces; refused with the piece that breaks it,
        // even when that piece ends in the middle of what would be a character.
        let whole = frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xf4\x90\x80\x80edited");
        let header = whole.len() - 15;
        let mut decoder = Decoder::new(1024);
        decoder.feed(&whole[..header + 5], &mut out).unwrap();
        assert_eq!(decoder.feed(&whole[header + 5..header + 7], &mut out), Err(DecodeError::InvalidUtf8));
        // A character cut between fragments or reads is not refused for being cut.
        let mut decoder = Decoder::new(1024);
        let mut input = frame(TEXT_FIRST, b"a\xe2");
        input.extend(frame(CONT, b"\x82"));
        input.extend(frame(CONT_LAST, b"\xacb"));
        for byte in &input {
            decoder.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert_eq!(out, [Message::Text("a€b".to_owned())]);
        // Binary messages are never checked.
        let mut decoder = Decoder::new(1024);
        decoder.feed(&frame(0x02, b"\xff"), &mut out).unwrap();
    }

    #[test]
    fn messages_before_a_faulty_frame_are_kept() {
        let mut input = frame(TEXT, b"first");
        input.extend(frame(PING, b""));
        input.extend(frame(TEXT, b"\xff"));
        input.extend(frame(TEXT, b"never"));
        let (out, result) = decode(&input, 1024);
        assert_eq!(result, Err(DecodeError::InvalidUtf8));
        assert_eq!(out, [Message::Text("first".into()), Message::Ping(Vec::new())]);
    }

    #[test]
    fn the_cap_counts_the_whole_message_and_is_checked_before_buffering() {
        let cap = 4096;
        let (out, result) = decode(&frame(TEXT, &vec![b'x'; cap]), cap);
        result.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(decode(&frame(TEXT, &vec![b'x'; cap + 1]), cap).1, Err(DecodeError::TooLarge));
        // Fragments each under the cap, together above it.
        let mut fragments = frame(TEXT_FIRST, &vec![b'x'; 3000]);
        fragments.extend(frame(CONT_LAST, &vec![b'x'; 3000]));
        assert_eq!(decode(&fragments, cap).1, Err(DecodeError::TooLarge));
        // A header announcing 2^62 bytes is refused on its own.
        let mut lying = vec![TEXT, 0x80 | 127];
        lying.extend((1u64 << 62).to_be_bytes());
        lying.extend(KEY);
        let mut decoder = Decoder::new(cap);
        assert_eq!(decoder.feed(&lying, &mut Vec::new()), Err(DecodeError::TooLarge));
        assert_eq!(decoder.reserved(), 0);
    }

    #[test]
    fn an_incomplete_message_holds_at_most_the_cap() {
        let cap = 10_000;
        // A frame just under the cap, all but its last byte sent.
        let mut decoder = Decoder::new(cap);
        let whole = frame(BINARY, &vec![1; cap]);
        decoder.feed(&whole[..whole.len() - 1], &mut Vec::new()).unwrap();
        assert!(decoder.reserved() <= cap, "{}", decoder.reserved());
        // Thousands of one-byte fragments: the buffer grows by doubling, up to the cap.
        let mut decoder = Decoder::new(cap);
        let mut out = Vec::new();
        decoder.feed(&frame(0x02, b"a"), &mut out).unwrap();
        for _ in 1..cap - 1 {
            decoder.feed(&frame(CONT, b"b"), &mut out).unwrap();
            assert!(decoder.reserved() <= cap, "{}", decoder.reserved());
        }
        decoder.feed(&frame(CONT_LAST, b"c"), &mut out).unwrap();
        assert!(matches!(&out[..], [Message::Binary(data)] if data.len() == cap));
        // Empty fragments cost nothing at all.
        let mut decoder = Decoder::new(cap);
        decoder.feed(&frame(TEXT_FIRST, b"{"), &mut out).unwrap();
        for _ in 0..10_000 {
            decoder.feed(&frame(CONT, b""), &mut out).unwrap();
        }
        assert!(decoder.reserved() <= 16);
    }

    #[test]
    fn an_announced_message_costs_only_what_arrived() {
        // A header announcing 200 KiB, then 10 bytes of payload: nothing near 200 KiB is
        // reserved (it was, before: 1,000 such connections held 229 MiB).
        let cap = 256 * 1024;
        let mut decoder = Decoder::new(cap);
        let whole = frame(BINARY, &vec![1; 200 * 1024]);
        let header = whole.len() - 200 * 1024;
        decoder.feed(&whole[..header], &mut Vec::new()).unwrap();
        assert_eq!(decoder.held(), 0);
        decoder.feed(&whole[header..header + 10], &mut Vec::new()).unwrap();
        assert!(decoder.held() >= 10 && decoder.held() <= 64, "{}", decoder.held());
        // The rest in pieces: at most twice what arrived, never more than the message.
        let mut out = Vec::new();
        let mut at = header + 10;
        while at < whole.len() {
            let end = (at + 7_000).min(whole.len());
            decoder.feed(&whole[at..end], &mut out).unwrap();
            let arrived = end - header;
            if end < whole.len() {
                assert!(decoder.held() <= 2 * arrived && decoder.held() <= 200 * 1024, "{}", decoder.held());
            }
            at = end;
        }
        assert!(matches!(&out[..], [Message::Binary(data)] if data.len() == 200 * 1024));
        assert_eq!(decoder.held(), 0);
    }

    #[test]
    fn a_control_frame_in_pieces_reserves_only_its_length() {
        // A fuzz finding: 50 + 40 + 35 bytes of a 125-byte pong grew the buffer to 200.
        let pong = frame(PONG, &[7; MAX_CONTROL_PAYLOAD]);
        let mut decoder = Decoder::new(16);
        let mut out = Vec::new();
        let (head, payload) = pong.split_at(pong.len() - MAX_CONTROL_PAYLOAD);
        decoder.feed(head, &mut out).unwrap();
        for piece in [&payload[..50], &payload[50..90], &payload[90..]] {
            decoder.feed(piece, &mut out).unwrap();
            assert!(decoder.reserved() <= MAX_CONTROL_PAYLOAD, "{}", decoder.reserved());
        }
        assert_eq!(out, vec![Message::Pong]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A message as a client would send it: its kind, payload and how it is cut
        /// into fragments (payload lengths of all but the last fragment).
        #[derive(Clone, Debug)]
        enum Sent {
            Text(String, Vec<usize>),
            Binary(Vec<u8>, Vec<usize>),
            Ping(Vec<u8>),
            Pong(Vec<u8>),
        }

        fn sent() -> impl Strategy<Value = Sent> {
            let cuts = prop::collection::vec(0usize..300, 0..4);
            prop_oneof![
                (".{0,200}", cuts.clone()).prop_map(|(t, c)| Sent::Text(t, c)),
                (prop::collection::vec(any::<u8>(), 0..70_000), cuts).prop_map(|(b, c)| Sent::Binary(b, c)),
                prop::collection::vec(any::<u8>(), 0..=125).prop_map(Sent::Ping),
                prop::collection::vec(any::<u8>(), 0..=125).prop_map(Sent::Pong),
            ]
        }

        /// Frames of one data message, cut where `cuts` say (within the payload).
        fn fragments(opcode: u8, payload: &[u8], cuts: &[usize], key: [u8; 4]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut rest = payload;
            let mut first = true;
            for &cut in cuts {
                let cut = cut.min(rest.len());
                let op = if first { opcode } else { 0 };
                out.extend(masked(op, &rest[..cut], key));
                rest = &rest[cut..];
                first = false;
            }
            out.extend(masked(0x80 | if first { opcode } else { 0 }, rest, key));
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Whatever the messages, fragmentation, masking keys and read sizes, the
            /// decoder gives back exactly the messages sent.
            #[test]
            fn every_message_comes_back_whatever_the_reads(
                messages in prop::collection::vec((sent(), any::<[u8; 4]>()), 0..12),
                reads in prop::collection::vec(1usize..5000, 1..20),
            ) {
                let mut input = Vec::new();
                let mut expected = Vec::new();
                for (message, key) in &messages {
                    match message {
                        Sent::Text(text, cuts) => {
                            input.extend(fragments(0x1, text.as_bytes(), cuts, *key));
                            expected.push(Message::Text(text.clone()));
                        }
                        Sent::Binary(data, cuts) => {
                            input.extend(fragments(0x2, data, cuts, *key));
                            expected.push(Message::Binary(Bytes::from(data.clone())));
                        }
                        Sent::Ping(data) => {
                            input.extend(masked(0x89, data, *key));
                            expected.push(Message::Ping(data.clone()));
                        }
                        Sent::Pong(data) => {
                            input.extend(masked(0x8A, data, *key));
                            expected.push(Message::Pong);
                        }
                    }
                }
                let mut decoder = Decoder::new(1 << 20);
                let mut out = Vec::new();
                let mut rest = &input[..];
                for size in reads.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (now, later) = rest.split_at((*size).min(rest.len()));
                    decoder.feed(now, &mut out).unwrap();
                    rest = later;
                }
                prop_assert_eq!(out, expected);
            }
        }
    }
}
