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

/// (account, day, posting key) → attribute value → (eventTime ms, seq) pairs.
pub(crate) type StagedPostings = Map<(i64, u32, i64), Map<String, Vec<(i64, i64)>>>;

#[derive(Default)]
pub(crate) struct Staged {
    pub postings: StagedPostings,
    /// (day, id hash) → seq.
    pub ids: Map<(u32, i64, i64), i64>,
    pub events: usize,
}

impl Staged {
    pub fn add(&mut self, account: i64, day: u32, p: &Prepared, seq: i64, id: (i64, i64)) {
        let pair = (p.time_ms, seq);
        let mut push = |key: i64, value: &str| {
            let values = self.postings.entry((account, day, key)).or_default();
            match values.get_mut(value) {
                Some(list) => list.push(pair),
                None => {
                    values.insert(value.to_string(), vec![pair]);
                }
            }
        };
        push(KEY_ALL, "");
        if let Some(ro) = p.read_only {
            push(KEY_READ_ONLY, if ro { "true" } else { "false" });
        }
        for (attr, value) in &p.attrs {
            push(attr.code(), value);
        }
        self.ids.insert((day, id.0, id.1), seq);
        self.events += 1;
    }

    /// Adds a committed batch; `seqs[i]` is event i's seq, or negative for a duplicate.
    pub fn add_batch(&mut self, account: i64, batch: &StoreBatch, seqs: &[i64]) {
        for (i, &seq) in seqs.iter().enumerate() {
            if seq >= 0 {
                let (h, h2) = batch.ids[i];
                self.ids.insert((batch.events[i].day, h, h2), seq);
                self.events += 1;
            }
        }
        for posting in &batch.postings {
            let values = self
                .postings
                .entry((account, posting.day, posting.key))
                .or_default();
            let list = match values.get_mut(posting.value.as_str()) {
                Some(list) => list,
                None => values.entry(posting.value.clone()).or_default(),
            };
            for &m in &posting.members {
                let seq = seqs[m as usize];
                if seq >= 0 {
                    list.push((batch.events[m as usize].time_ms, seq));
                }
            }
        }
    }

    pub fn pairs(&self, account: i64, day: u32, key: i64, value: &str) -> &[(i64, i64)] {
        self.postings
            .get(&(account, day, key))
            .and_then(|v| v.get(value))
            .map(Vec::as_slice)
            .unwrap_or(&[])
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
    pub fn pairs(
        &self,
        account: i64,
        day: u32,
        key: i64,
        value: &str,
    ) -> impl Iterator<Item = &(i64, i64)> {
        let frozen = self
            .frozen
            .as_deref()
            .map(|f| f.pairs(account, day, key, value))
            .unwrap_or(&[]);
        self.active
            .pairs(account, day, key, value)
            .iter()
            .chain(frozen)
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
        self.active.events + self.frozen.as_deref().map_or(0, |f| f.events)
    }
}
