//! A Bloom filter over the merged ids of one day, so the writer asks SQLite about a possible
//! duplicate only when the filter says "maybe" (about 1 % of fresh events) instead of for every
//! event of a day that already has merged ids.
//!
//! It grows by segments, each twice the capacity of the previous one, at ≥ 10 bits per id and
//! 7 probes. It is blocked: all of an id's probes fall in one 64-byte block (one cache line), so
//! a probe costs one cache miss rather than seven, for a slightly higher false-positive rate
//! (≈1–1.5 % per segment). Ids are SHA-256 derived, so their bits are already uniform: the
//! block comes from `h`, the seven bit positions from nine bits of `h2` each.

const FIRST_SEGMENT_IDS: usize = 1 << 16;
const BITS_PER_ID: usize = 10;
const PROBES: u32 = 7;

#[derive(Default)]
pub(crate) struct IdFilter {
    segments: Vec<Segment>,
}

struct Segment {
    /// A power of two of 512-bit blocks.
    blocks: Vec<[u64; 8]>,
    len: usize,
    capacity: usize,
}

impl Segment {
    fn new(capacity: usize) -> Self {
        let blocks = (capacity * BITS_PER_ID).div_ceil(512).next_power_of_two();
        Self {
            blocks: vec![[0; 8]; blocks],
            len: 0,
            capacity,
        }
    }

    /// The block of an id and its seven (word, bit mask) probes in it.
    fn probes(&self, h: i64, h2: i64) -> (usize, impl Iterator<Item = (usize, u64)> + use<>) {
        let block = (h as u64 as usize) & (self.blocks.len() - 1);
        let bits = h2 as u64;
        let probes = (0..PROBES).map(move |i| {
            let p = (bits >> (9 * i)) & 511;
            ((p >> 6) as usize, 1u64 << (p & 63))
        });
        (block, probes)
    }

    fn contains(&self, h: i64, h2: i64) -> bool {
        let (block, mut probes) = self.probes(h, h2);
        let words = &self.blocks[block];
        probes.all(|(w, mask)| words[w] & mask != 0)
    }
}

impl IdFilter {
    pub fn insert(&mut self, h: i64, h2: i64) {
        if self.segments.last().is_none_or(|s| s.len >= s.capacity) {
            let capacity = FIRST_SEGMENT_IDS << self.segments.len().min(8);
            self.segments.push(Segment::new(capacity));
        }
        if let Some(seg) = self.segments.last_mut() {
            let (block, probes) = seg.probes(h, h2);
            let mut words = seg.blocks[block];
            for (w, mask) in probes {
                words[w] |= mask;
            }
            seg.blocks[block] = words;
            seg.len += 1;
        }
    }

    /// `false` means certainly absent.
    pub fn may_contain(&self, h: i64, h2: i64) -> bool {
        self.segments.iter().any(|s| s.contains(h, h2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> (i64, i64) {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 29);
        (
            x as i64,
            x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9) as i64,
        )
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = IdFilter::default();
        for i in 0..200_000 {
            let (a, b) = id(i);
            f.insert(a, b);
        }
        assert!((0..200_000).all(|i| {
            let (a, b) = id(i);
            f.may_contain(a, b)
        }));
        let false_positives = (1_000_000..1_100_000).filter(|&i| {
            let (a, b) = id(i);
            f.may_contain(a, b)
        });
        assert!(false_positives.count() < 5_000, "too many false positives");
    }
}
