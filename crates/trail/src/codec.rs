//! Byte layouts of the history's two blob kinds.
//!
//! - A **block** holds up to [`BLOCK_SLOTS`] records of one day, compressed together as one zstd
//!   frame (similar records compress several times better together than apart). Inside the
//!   frame: `u16 slot count`, one little-endian `u32` end offset per slot, then the records' exact
//!   bytes. A slot whose event turned out to be a duplicate stays in the block but is not indexed.
//! - A **posting list** is the (eventTime ms, seq) pairs of the events of one commit that carry
//!   one attribute value, sorted ascending, as varint deltas (time unsigned, seq zigzag).

/// Records per block; `seq = block * BLOCK_SLOTS + slot`.
pub const BLOCK_SLOTS: i64 = 64;

pub fn encode_block(slots: &[Option<&[u8]>]) -> Vec<u8> {
    let total: usize = slots.iter().flatten().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(2 + 4 * slots.len() + total);
    out.extend_from_slice(&(slots.len() as u16).to_le_bytes());
    let mut end = 0u32;
    for s in slots {
        end += s.map_or(0, |s| s.len() as u32);
        out.extend_from_slice(&end.to_le_bytes());
    }
    for s in slots.iter().flatten() {
        out.extend_from_slice(s);
    }
    out
}

/// The compressed record in `slot`, or `None` for a hole or a damaged block.
pub fn block_slot(block: &[u8], slot: usize) -> Option<&[u8]> {
    let n = u16::from_le_bytes(block.get(0..2)?.try_into().ok()?) as usize;
    if slot >= n {
        return None;
    }
    let end_at = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(block.get(2 + 4 * i..6 + 4 * i)?.try_into().ok()?) as usize)
    };
    let start = if slot == 0 { 0 } else { end_at(slot - 1)? };
    let end = end_at(slot)?;
    let base = 2 + 4 * n;
    if start >= end {
        return None;
    }
    block.get(base + start..base + end)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes pairs that are already sorted ascending.
pub fn encode_postings(pairs: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 4);
    let (mut t0, mut s0) = (0i64, 0i64);
    for &(t, s) in pairs {
        put_varint(&mut out, t.wrapping_sub(t0) as u64);
        let d = s.wrapping_sub(s0);
        put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        (t0, s0) = (t, s);
    }
    out
}

/// Decodes a posting list, calling `f` for each pair; `false` when the data is damaged.
pub fn decode_postings(data: &[u8], mut f: impl FnMut(i64, i64)) -> bool {
    let mut pos = 0;
    let (mut t, mut s) = (0i64, 0i64);
    while pos < data.len() {
        let (Some(dt), Some(ds)) = (get_varint(data, &mut pos), get_varint(data, &mut pos)) else {
            return false;
        };
        t = t.wrapping_add(dt as i64);
        s = s.wrapping_add(((ds >> 1) as i64) ^ -((ds & 1) as i64));
        f(t, s);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_holes_and_frames() {
        let b = encode_block(&[Some(b"abc"), None, Some(b""), Some(b"de")]);
        assert_eq!(block_slot(&b, 0), Some(&b"abc"[..]));
        assert_eq!(block_slot(&b, 1), None);
        assert_eq!(block_slot(&b, 2), None);
        assert_eq!(block_slot(&b, 3), Some(&b"de"[..]));
        assert_eq!(block_slot(&b, 4), None);
        assert_eq!(
            block_slot(&b[..5], 3),
            None,
            "a truncated block is not read past its end"
        );
    }

    #[test]
    fn postings_round_trip() {
        let pairs = vec![
            (-5_000, 9),
            (0, 3),
            (1_700_000_000_000, 2),
            (1_700_000_000_000, 70_000),
            (i64::MAX, i64::MAX),
        ];
        let mut back = Vec::new();
        assert!(decode_postings(&encode_postings(&pairs), |t, s| back.push((t, s))));
        assert_eq!(back, pairs);
        assert!(!decode_postings(&[0x80], |_, _| {}));
    }
}
