//! Byte layouts of the history's two blob kinds.
//!
//! - A **block** holds up to [`BLOCK_SLOTS`] records of one day, compressed together (similar
//!   records compress several times better together than apart): the byte `L`, the
//!   little-endian `u32` length of the plain block, then the plain block as one LZ4 block.
//!   Histories written before LZ4 hold zstd frames (magic `28 B5 2F FD`); both are read. The
//!   plain block: `u16 slot count`, one little-endian `u32` end offset per slot, then the
//!   records' exact bytes. A slot whose event turned out to be a duplicate stays in the block
//!   but is not indexed.
//! - A block's **slots** row holds what time-only, ReadOnly and EventCategory lookups need of
//!   each of its records without opening the block: per slot, a class byte (see
//!   [`crate::ingest::class_of`]) and eventTime in ms as a zigzag varint delta from the previous
//!   slot's (the first from 0).
//! - A **posting list** is the (eventTime ms, seq) pairs of the events of one merge that carry
//!   one attribute value, sorted ascending, as varint deltas (time unsigned, seq zigzag).
//! - A **list row** holds the posting lists of the values of one bucket (see
//!   [`crate::history::store::ListKey`]): per value, its length and bytes, then its posting list's
//!   length and bytes, lengths as varints.

/// Records per block; `seq = block * BLOCK_SLOTS + slot`.
pub const BLOCK_SLOTS: i64 = 64;

/// First byte of an LZ4 block (a zstd frame starts with 0x28).
const LZ4_TAG: u8 = b'L';
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Largest plain block read back: every slot at the largest event accepted (256 KB), with room
/// to spare. A damaged length cannot make a read allocate more.
const MAX_PLAIN_BLOCK: usize = 64 << 20;

/// LZ4 acceleration: 2 compresses records ~15 % faster than 1 for ~1 % more bytes.
const LZ4_ACCELERATION: i32 = 2;

/// Compresses a plain block (see [`encode_block`]) for storage. LZ4 writes into a buffer kept
/// by the thread; the block gets an allocation of its own size only.
pub fn compress_block(plain: &[u8]) -> Vec<u8> {
    use lz4::block::{CompressionMode, compress_bound, compress_to_buffer};
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // A plain block is at most BLOCK_SLOTS events of at most 256 KB: far below LZ4's limit.
    let bound = compress_bound(plain.len()).unwrap_or(plain.len() + plain.len() / 255 + 16);
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < bound {
            scratch.resize(bound, 0);
        }
        let mode = Some(CompressionMode::FAST(LZ4_ACCELERATION));
        // The scratch has the room LZ4 can need for this input, so this cannot fail.
        let n = compress_to_buffer(plain, mode, false, &mut scratch[..]).unwrap_or(0);
        let mut out = Vec::with_capacity(5 + n);
        out.push(LZ4_TAG);
        out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        out.extend_from_slice(&scratch[..n]);
        out
    })
}

/// The plain block of a stored one (LZ4, or zstd from older histories).
pub fn decompress_block(stored: &[u8]) -> Result<Vec<u8>, String> {
    match stored {
        [LZ4_TAG, a, b, c, d, rest @ ..] => {
            let len = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
            if len > MAX_PLAIN_BLOCK {
                return Err(format!(
                    "block claims {len} bytes, more than any block holds"
                ));
            }
            let mut plain = vec![0u8; len];
            match lz4::block::decompress_to_buffer(rest, Some(len as i32), &mut plain) {
                Ok(n) if n == len => Ok(plain),
                Ok(n) => Err(format!("block holds {n} bytes, its header says {len}")),
                Err(e) => Err(format!("block does not decompress: {e}")),
            }
        }
        _ if stored.starts_with(&ZSTD_MAGIC) => {
            zstd::decode_all(stored).map_err(|e| format!("block does not decompress: {e}"))
        }
        _ => Err("block is neither LZ4 nor zstd data".into()),
    }
}

pub fn encode_block(slots: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_block_into(&mut out, slots);
    out
}

/// [`encode_block`] into a buffer the caller reuses (cleared first).
pub fn encode_block_into(out: &mut Vec<u8>, slots: &[Option<&[u8]>]) {
    let total: usize = slots.iter().flatten().map(|s| s.len()).sum();
    out.clear();
    out.reserve(2 + 4 * slots.len() + total);
    out.extend_from_slice(&(slots.len() as u16).to_le_bytes());
    let mut end = 0u32;
    for s in slots {
        end += s.map_or(0, |s| s.len() as u32);
        out.extend_from_slice(&end.to_le_bytes());
    }
    for s in slots.iter().flatten() {
        out.extend_from_slice(s);
    }
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

/// Encodes each slot's (eventTime ms, class) for a block's slots row.
pub fn encode_slots(slots: impl IntoIterator<Item = (i64, u8)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 * BLOCK_SLOTS as usize);
    let mut t0 = 0i64;
    for (t, class) in slots {
        out.push(class);
        let d = t.wrapping_sub(t0);
        put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        t0 = t;
    }
    out
}

/// Decodes a slots row, calling `f(slot, eventTime ms, class)` for each slot; `false` when the
/// data is damaged (more slots than a block holds, or a cut varint).
pub fn decode_slots(data: &[u8], mut f: impl FnMut(usize, i64, u8)) -> bool {
    let (mut pos, mut slot, mut t) = (0, 0usize, 0i64);
    while let Some(&class) = data.get(pos) {
        pos += 1;
        let Some(d) = get_varint(data, &mut pos) else {
            return false;
        };
        if slot >= BLOCK_SLOTS as usize {
            return false;
        }
        t = t.wrapping_add(((d >> 1) as i64) ^ -((d & 1) as i64));
        f(slot, t, class);
        slot += 1;
    }
    true
}

/// Appends one value's entry to a list row: the value's length and bytes, then its posting
/// list's length and bytes (see [`encode_postings`]).
pub fn push_list_entry(out: &mut Vec<u8>, value: &str, postings: &[u8]) {
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
    put_varint(out, postings.len() as u64);
    out.extend_from_slice(postings);
}

/// Calls `f(value, postings)` for each entry of a list row; `false` when the row is damaged.
pub fn list_entries<'a>(data: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) -> bool {
    let mut pos = 0;
    let field = |pos: &mut usize| -> Option<&'a [u8]> {
        let len = usize::try_from(get_varint(data, pos)?).ok()?;
        let bytes = data.get(*pos..pos.checked_add(len)?)?;
        *pos += len;
        Some(bytes)
    };
    while pos < data.len() {
        let (Some(value), Some(postings)) = (field(&mut pos), field(&mut pos)) else {
            return false;
        };
        f(value, postings);
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
    fn blocks_compress_and_come_back_exactly() {
        let plain = encode_block(&[
            Some(br#"{"eventName":"GetObject"}"#),
            None,
            Some(&[7u8; 5000]),
        ]);
        let stored = compress_block(&plain);
        assert_eq!(stored[0], b'L');
        assert!(stored.len() < plain.len());
        assert_eq!(decompress_block(&stored).unwrap(), plain);
    }

    #[test]
    fn blocks_written_by_older_histories_as_zstd_are_read() {
        let plain = encode_block(&[Some(b"abc"), Some(b"de")]);
        let stored = zstd::bulk::compress(&plain, -3).unwrap();
        assert_eq!(decompress_block(&stored).unwrap(), plain);
    }

    #[test]
    fn damaged_blocks_are_errors_not_garbage() {
        let plain = encode_block(&[Some(&[1u8; 3000])]);
        let stored = compress_block(&plain);
        let cut = &stored[..stored.len() / 2];
        assert!(decompress_block(cut).is_err(), "truncated");
        let mut huge = stored.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decompress_block(&huge).unwrap_err();
        assert!(err.contains("more than any block"), "{err}");
        let mut short = stored.clone();
        short[1..5].copy_from_slice(&((plain.len() + 1) as u32).to_le_bytes());
        assert!(decompress_block(&short).is_err(), "length mismatch");
        assert!(decompress_block(b"").is_err());
        assert!(decompress_block(b"{not a block}").is_err());
    }

    #[test]
    fn slots_round_trip_and_damage_is_refused() {
        let slots = [
            (1_700_000_000_123i64, 5u8),
            (1_700_000_000_100, 9),
            (-5, 0),
            (i64::MAX, 255),
        ];
        let data = encode_slots(slots);
        let mut got = Vec::new();
        assert!(decode_slots(&data, |i, t, c| got.push((i, t, c))));
        let want: Vec<(usize, i64, u8)> = slots
            .iter()
            .enumerate()
            .map(|(i, &(t, c))| (i, t, c))
            .collect();
        assert_eq!(got, want);
        assert!(!decode_slots(&data[..data.len() - 1], |_, _, _| ()));
        let too_many = encode_slots((0..=BLOCK_SLOTS).map(|i| (i, 1)));
        assert!(!decode_slots(&too_many, |_, _, _| ()));
        assert!(decode_slots(&[], |_, _, _| panic!("no slots")));
    }

    #[test]
    fn list_rows_hold_each_value_with_its_postings() {
        let mut row = Vec::new();
        let a = encode_postings(&[(1, 2), (3, 4)]);
        push_list_entry(&mut row, "alice", &a);
        push_list_entry(&mut row, "", &[]);
        push_list_entry(&mut row, &"b".repeat(300), &a);
        let mut got = Vec::new();
        assert!(list_entries(&row, |v, p| got.push((v.to_vec(), p.to_vec()))));
        assert_eq!(
            got,
            vec![
                (b"alice".to_vec(), a.clone()),
                (vec![], vec![]),
                (vec![b'b'; 300], a.clone())
            ]
        );
        for cut in 1..row.len() {
            let mut n = 0;
            let ok = list_entries(&row[..cut], |_, _| n += 1);
            assert!(!ok || n < 3, "a row cut at {cut} is damaged or shorter");
        }
        let mut huge = Vec::new();
        put_varint(&mut huge, u64::MAX);
        assert!(!list_entries(&huge, |_, _| ()));
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
