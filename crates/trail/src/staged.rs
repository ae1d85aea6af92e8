//! The staged index: posting lists and ids of committed blocks that are not yet merged into the
//! day tables.
//!
//! Merging per commit would dirty a page per attribute value and per id at random places in the
//! B-trees, so a commit of a few thousand events would rewrite megabytes. Instead a commit writes
//! only its blocks (appends) and the writer keeps their index here, in memory, shared with
//! lookups; every few hundred thousand events (or when idle, or at shutdown) it merges the whole
//! stage in one transaction, where each attribute value becomes one posting row. The blocks are
//! the source of truth: after a crash the stage is rebuilt from the blocks past the merge mark.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::ingest::{Prepared, StoreBatch};
use crate::store::{KEY_ALL, KEY_READ_ONLY};

/// foldhash: fast, and seeded per process so crafted attribute values cannot aim collisions.
pub(crate) type Map<K, V> = HashMap<K, V, RandomState>;

/// (account, day, posting key) → attribute value → the staged events carrying it (indexes into
/// [`Staged::events`]).
pub(crate) type StagedPostings = Map<(i64, u32, i64), Map<Value, Vec<u32>>>;

/// Bytes of a value kept in place in the map.
const INLINE: usize = 30;

/// An attribute value as a staged map key. Values up to [`INLINE`] bytes (event names and
/// sources, user names, access key ids…) live in the map's own slot, so a probe that finds one
/// compares it without following a pointer: the writer stages thousands of values per batch,
/// and that pointer was a cache miss for each.
#[derive(Clone)]
pub(crate) enum Value {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Value {
    fn new(v: &str) -> Self {
        let b = v.as_bytes();
        match b.len() {
            n if n <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..n].copy_from_slice(b);
                Value::Inline(n as u8, bytes)
            }
            _ => Value::Heap(b.into()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Inline(n, bytes) => &bytes[..*n as usize],
            Value::Heap(b) => b,
        }
    }

    /// The value as text (it was made from a `&str`).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl std::borrow::Borrow<[u8]> for Value {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that a lookup by `&[u8]` finds it.
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

/// The staged index. Each staged event is stored once, as (eventTime ms, seq); posting lists
/// hold 4-byte indexes into that array, so a staged event costs ~100 bytes whatever the number
/// of its attributes, and a batch is staged with one slice copy per attribute value.
#[derive(Default)]
pub(crate) struct Staged {
    /// (eventTime ms, seq) of every staged event.
    pub events: Vec<(i64, i64)>,
    pub postings: StagedPostings,
    /// (day, id hash) → seq.
    pub ids: Map<(u32, i64, i64), i64>,
}

impl Staged {
    /// An empty stage with room for `events` events and their ids, so that filling it never
    /// rehashes the ids map (a rehash moves every id staged so far).
    pub fn with_capacity(events: usize) -> Self {
        Staged {
            events: Vec::with_capacity(events),
            postings: StagedPostings::default(),
            ids: Map::with_capacity_and_hasher(events, RandomState::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Appends stage indexes to one value's list (one map probe when the value is known).
    fn extend(
        &mut self,
        (account, day, key): (i64, u32, i64),
        value: &str,
        indexes: impl IntoIterator<Item = u32>,
    ) {
        let values = self.postings.entry((account, day, key)).or_default();
        match values.get_mut(value.as_bytes()) {
            Some(list) => list.extend(indexes),
            None => {
                values.insert(Value::new(value), indexes.into_iter().collect());
            }
        }
    }

    /// Stages one event (crash recovery rebuilds the stage from committed blocks this way).
    pub fn add(&mut self, account: i64, day: u32, p: &Prepared, seq: i64, id: (i64, i64)) {
        let index = self.events.len() as u32;
        self.events.push((p.time_ms, seq));
        self.extend((account, day, KEY_ALL), "", [index]);
        if let Some(ro) = p.read_only {
            let value = if ro { "true" } else { "false" };
            self.extend((account, day, KEY_READ_ONLY), value, [index]);
        }
        for (attr, value) in p.attrs.iter() {
            self.extend((account, day, attr.code()), value, [index]);
        }
        self.ids.insert((day, id.0, id.1), seq);
    }

    /// Adds a committed batch; `seqs[i]` is event i's seq, or negative for a duplicate.
    pub fn add_batch(&mut self, account: i64, batch: &StoreBatch, seqs: &[i64]) {
        // Batch index → stage index; duplicates get none.
        let mut local = Vec::with_capacity(seqs.len());
        for (i, &seq) in seqs.iter().enumerate() {
            if seq >= 0 {
                local.push(self.events.len() as u32);
                self.events.push((batch.times[i], seq));
                let (h, h2) = batch.ids[i];
                self.ids.insert((batch.days[i], h, h2), seq);
            } else {
                local.push(u32::MAX);
            }
        }
        for posting in batch.postings.iter() {
            let indexes = posting
                .members
                .iter()
                .map(|&m| local.get(m as usize).copied().unwrap_or(u32::MAX))
                .filter(|&l| l != u32::MAX);
            self.extend((account, posting.day, posting.key), posting.value, indexes);
        }
    }

    /// The (eventTime ms, seq) pairs staged under one attribute value, in staging order.
    pub fn pairs(
        &self,
        account: i64,
        day: u32,
        key: i64,
        value: &str,
    ) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.postings
            .get(&(account, day, key))
            .and_then(|v| v.get(value.as_bytes()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&i| self.events.get(i as usize).copied())
    }
}

/// What lookups and the writer see: the stage being filled and, while a merge is in progress,
/// the frozen stage being written into the tables piece by piece.
#[derive(Default)]
pub(crate) struct Stages {
    pub active: Staged,
    pub frozen: Option<std::sync::Arc<Staged>>,
}

impl Stages {
    /// Staged pairs of both stages. While a merge is in progress some of the frozen pairs may
    /// already be in the tables too: callers deduplicate when [`Stages::merging`] is true.
    pub fn pairs<'a>(
        &'a self,
        account: i64,
        day: u32,
        key: i64,
        value: &'a str,
    ) -> impl Iterator<Item = (i64, i64)> + 'a {
        let frozen = self
            .frozen
            .as_deref()
            .into_iter()
            .flat_map(move |f| f.pairs(account, day, key, value));
        self.active.pairs(account, day, key, value).chain(frozen)
    }

    pub fn merging(&self) -> bool {
        self.frozen.is_some()
    }

    pub fn id(&self, day: u32, h: i64, h2: i64) -> Option<i64> {
        let key = (day, h, h2);
        self.active
            .ids
            .get(&key)
            .or_else(|| self.frozen.as_deref().and_then(|f| f.ids.get(&key)))
            .copied()
    }

    #[cfg(test)]
    pub fn events(&self) -> usize {
        self.active.len() + self.frozen.as_deref().map_or(0, Staged::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_short_and_long_are_found_by_their_bytes() {
        let mut m: Map<Value, u32> = Map::default();
        let long = "arn:aws:iam::123456789012:role/a-role-name-longer-than-thirty-bytes";
        for (i, v) in ["", "x", &"y".repeat(INLINE), &"z".repeat(INLINE + 1), long]
            .iter()
            .enumerate()
        {
            m.insert(Value::new(v), i as u32);
        }
        assert_eq!(m.get(long.as_bytes()), Some(&4));
        assert_eq!(m.get("y".repeat(INLINE).as_bytes()), Some(&2));
        assert_eq!(m.get("z".repeat(INLINE + 1).as_bytes()), Some(&3));
        assert_eq!(m.get("".as_bytes()), Some(&0));
        assert_eq!(m.get("y".as_bytes()), None);
        assert_eq!(Value::new(long).to_text(), long);
    }
}
