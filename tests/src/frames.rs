//! Reading what the engine sends: hex, the MessagePack game-data envelope of PROTOCOL
//! §2.2, and UUIDs in their wire form.

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Bytes from hex; spaces are ignored so long payloads can be grouped.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("hex `{text}` has an odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| format!("`{text}` is not hex"))?;
            u8::from_str_radix(s, 16).map_err(|_| format!("`{text}` is not hex"))
        })
        .collect()
}

/// A UUID's 16 bytes in the hyphenated lowercase form used on the wire.
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let h = to_hex(bytes);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Whether `text` is a hyphenated lowercase UUID (the form the engine emits).
pub fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// A binary game-data frame: `{"from_player": bin16, "encoding": "message_pack",
/// "payload": bin}` as a 3-entry fixmap with keys in that order, or for v3 recipients a
/// 5-entry one that goes on with `"seq": uint, "epoch": uint` (PROTOCOL §12.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryGameData {
    /// The sender's player id.
    pub from_player: String,
    /// The encoding string (always `message_pack`).
    pub encoding: String,
    /// The payload bytes exactly as the sender sent them.
    pub payload: Vec<u8>,
    /// v3: the sender's (seq, epoch).
    pub stamp: Option<(u64, u64)>,
}

/// Parses the envelope strictly; `None` if the bytes are anything else.
pub fn parse_binary_game_data(bytes: &[u8]) -> Option<BinaryGameData> {
    let mut r = Reader { bytes, at: 0 };
    let stamped = match r.byte()? {
        0x83 => false,
        0x85 => true,
        _ => return None,
    };
    if r.str()? != "from_player" {
        return None;
    }
    let id = r.bin()?;
    let id: [u8; 16] = id.try_into().ok()?;
    if r.str()? != "encoding" {
        return None;
    }
    let encoding = r.str()?.to_owned();
    if r.str()? != "payload" {
        return None;
    }
    let payload = r.bin()?.to_vec();
    let stamp = match stamped {
        false => None,
        true => {
            (r.str()? == "seq").then_some(())?;
            let seq = r.uint()?;
            (r.str()? == "epoch").then_some(())?;
            Some((seq, r.uint()?))
        }
    };
    if r.at != bytes.len() {
        return None;
    }
    Some(BinaryGameData { from_player: uuid_text(&id), encoding, payload, stamp })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn be(&mut self, n: usize) -> Option<usize> {
        Some(self.take(n)?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => Some(self.be(1)? as u64),
            0xcd => Some(self.be(2)? as u64),
            0xce => Some(self.be(4)? as u64),
            0xcf => Some(self.take(8)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))),
            _ => None,
        }
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be(1)?,
            0xc5 => self.be(2)?,
            0xc6 => self.be(4)?,
            _ => return None,
        };
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_protocol_example() {
        let hex = "83ab66726f6d5f706c61796572c410a94e872433874fce97b12976e4a3034da8656e636f64696e67\
                   ac6d6573736167655f7061636ba77061796c6f6164c40c82a3706f73920102a16ea178";
        let frame = parse_binary_game_data(&from_hex(hex).unwrap()).unwrap();
        assert_eq!(frame.from_player, "a94e8724-3387-4fce-97b1-2976e4a3034d");
        assert_eq!(frame.encoding, "message_pack");
        assert_eq!(to_hex(&frame.payload), "82a3706f73920102a16ea178");
        assert!(parse_binary_game_data(&from_hex("80").unwrap()).is_none());
        assert_eq!(frame.stamp, None);
    }

    #[test]
    fn parses_the_v3_envelope() {
        let hex = "85ab66726f6d5f706c61796572c410a94e872433874fce97b12976e4a3034da8656e636f64696e67\
                   ac6d6573736167655f7061636ba77061796c6f6164c40c82a3706f73920102a16ea178\
                   a3736571cd012ca565706f636802";
        let frame = parse_binary_game_data(&from_hex(hex).unwrap()).unwrap();
        assert_eq!(to_hex(&frame.payload), "82a3706f73920102a16ea178");
        assert_eq!(frame.stamp, Some((300, 2)));
        let truncated = &from_hex(hex).unwrap()[..hex.len() / 2 - 1];
        assert!(parse_binary_game_data(truncated).is_none());
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("a94e8724-3387-4fce-97b1-2976e4a3034d"));
        assert!(!is_uuid("A94E8724-3387-4fce-97b1-2976e4a3034d"));
        assert!(!is_uuid("a94e87243387-4fce-97b1-2976e4a3034d0"));
        assert_eq!(from_hex("0a ff").unwrap(), vec![10, 255]);
        assert!(from_hex("0").is_err());
    }
}
