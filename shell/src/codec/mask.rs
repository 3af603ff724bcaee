//! Unmasking client payloads (RFC 6455 §5.3): every payload byte is XORed with the
//! frame's 4-byte key, repeating.

/// XORs `data` in place with `key`, as bytes `offset..` of a frame's payload: a payload
/// that arrives in several reads unmasks the same as in one piece.
pub(crate) fn unmask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotated(key, offset);
    // Eight bytes at a time; the key repeats every four, so two copies make a word.
    let word = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The tail starts at a multiple of eight, so at key byte 0 again.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// The key as seen from payload byte `offset`.
fn rotated(key: [u8; 4], offset: usize) -> [u8; 4] {
    let r = offset % 4;
    [key[r], key[(r + 1) % 4], key[(r + 2) % 4], key[(r + 3) % 4]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ key[(offset + i) % 4]).collect()
    }

    #[test]
    fn matches_the_bytewise_definition_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..67u8).map(|i| i.wrapping_mul(31)).collect();
        for len in 0..data.len() {
            for offset in 0..8 {
                let mut out = data[..len].to_vec();
                unmask(&mut out, key, offset);
                assert_eq!(out, reference(&data[..len], key, offset), "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        unmask(&mut whole, key, 0);
        for split in 0..data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(split);
            unmask(a, key, 0);
            unmask(b, key, split);
            assert_eq!(pieces, whole, "split at {split}");
        }
    }
}
