//! A Bloom filter over the merged ids of one day, so the writer asks SQLite about a possible
//! duplicate only when the filter says "maybe" (about 1 % of fresh events) instead of for every
//! event of a day that already has merged ids.
//!
//! It grows by segments, each twice the capacity of the previous one, at ~10 bits per id and
//! 7 probes (≈1 % false positives per segment). Ids are SHA-256 derived, so their bits are
//! already uniform: probe positions come straight from them (Kirsch–Mitzenmacher double hashing).

const FIRST_SEGMENT_IDS: usize = 1 << 16;
const BITS_PER_ID: usize = 10;
const PROBES: u64 = 7;

#[derive(Default)]
pub(crate) struct IdFilter {
    segments: Vec<Segment>,
}

struct Segment {
    bits: Vec<u64>,
    len: usize,
    capacity: usize,
}

impl Segment {
    fn new(capacity: usize) -> Self {
        Self {
            bits: vec![0; (capacity * BITS_PER_ID).div_ceil(64)],
            len: 0,
            capacity,
        }
    }

    fn positions(&self, h: i64, h2: i64) -> impl Iterator<Item = usize> + '_ {
        let n = (self.bits.len() * 64) as u64;
        let (a, b) = (h as u64, (h2 as u64) | 1);
        (0..PROBES).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) % n) as usize)
    }

    fn contains(&self, h: i64, h2: i64) -> bool {
        self.positions(h, h2)
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }
}

impl IdFilter {
    pub fn insert(&mut self, h: i64, h2: i64) {
        if self.segments.last().is_none_or(|s| s.len >= s.capacity) {
            let capacity = FIRST_SEGMENT_IDS << self.segments.len().min(8);
            self.segments.push(Segment::new(capacity));
        }
        if let Some(seg) = self.segments.last_mut() {
            let positions: Vec<usize> = seg.positions(h, h2).collect();
            for p in positions {
                seg.bits[p / 64] |= 1 << (p % 64);
            }
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
