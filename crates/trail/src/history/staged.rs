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

use crate::ingest::{BatchPosting, BatchPostings, StoreBatch};

/// foldhash: fast, and seeded per process so crafted attribute values cannot aim collisions.
pub(crate) type Map<K, V> = HashMap<K, V, RandomState>;

/// One committed batch as the stage keeps it: its posting groups as the preparing thread laid
/// them out (in hash order), and where its events went in [`Staged::events`].
struct StagedBatch {
    account: i64,
    postings: BatchPostings,
    /// Batch index → stage index (`u32::MAX` for a duplicate, which is not staged).
    local: Vec<u32>,
}

/// The staged index. Each staged event is stored once, as (eventTime ms, seq); batches are kept
/// whole, so staging a batch is a few pushes whatever the number of its values (a map of values
/// cost the single writer a cache miss or three per value), and lookups binary-search each
/// batch. A merge brings equal values of all batches together by sorting hashes.
#[derive(Default)]
pub(crate) struct Staged {
    /// (eventTime ms, seq) of every staged event.
    pub events: Vec<(i64, i64)>,
    batches: Vec<StagedBatch>,
    /// (day, id hash) → seq.
    pub ids: Map<(u32, i64, i64), i64>,
}

/// The staged events of one (account, day, key, value), as stage indexes, from every batch.
pub(crate) struct MergedGroup<'a> {
    pub account: i64,
    pub day: u32,
    pub key: i64,
    pub value: &'a str,
    pub members: Vec<u32>,
}

impl Staged {
    /// An empty stage with room for `events` events and their ids, so that filling it never
    /// rehashes the ids map (a rehash moves every id staged so far).
    pub fn with_capacity(events: usize) -> Self {
        Staged {
            events: Vec::with_capacity(events),
            batches: Vec::new(),
            ids: Map::with_capacity_and_hasher(events, RandomState::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Number of batches staged (each is searched by lookups).
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// Adds a committed batch; `seqs[i]` is event i's seq, or negative for a duplicate.
    pub fn add_batch(&mut self, account: i64, batch: &mut StoreBatch, seqs: &[i64]) {
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
        self.batches.push(StagedBatch {
            account,
            postings: std::mem::take(&mut batch.postings),
            local,
        });
    }

    /// The (eventTime ms, seq) pairs staged under one attribute value, in staging order.
    pub fn pairs<'a>(
        &'a self,
        account: i64,
        day: u32,
        key: i64,
        value: &'a str,
    ) -> impl Iterator<Item = (i64, i64)> + 'a {
        self.batches
            .iter()
            .filter(move |b| b.account == account)
            .flat_map(move |b| {
                b.postings
                    .find(day, key, value)
                    .iter()
                    .filter_map(|&m| b.local.get(m as usize).copied())
            })
            .filter_map(|i| self.events.get(i as usize).copied())
    }

    /// Every staged group of every batch as (hash, batch, group), sorted by hash then account
    /// (each batch is already in hash order, so the sort mostly merges runs). Equal values of
    /// all batches are neighbours: [`Staged::merged_groups`] joins them.
    pub fn sorted_groups(&self) -> Vec<(u64, u32, u32)> {
        let mut all: Vec<(u64, u32, u32)> = Vec::new();
        for (b, batch) in self.batches.iter().enumerate() {
            all.extend(
                batch
                    .postings
                    .iter()
                    .enumerate()
                    .map(|(g, p)| (p.hash, b as u32, g as u32)),
            );
        }
        all.sort_by_key(|&(hash, b, _)| (hash, self.batches[b as usize].account));
        all
    }

    /// Calls `f` with every (account, day, key, value) of `sorted` (a part of
    /// [`Staged::sorted_groups`] that does not split a hash) and its events, each once. Groups
    /// whose hashes collide are told apart by value.
    pub fn merged_groups(&self, sorted: &[(u64, u32, u32)], mut f: impl FnMut(MergedGroup<'_>)) {
        let group = |&(_, b, g): &(u64, u32, u32)| -> Option<(i64, BatchPosting<'_>, &[u32])> {
            let batch = self.batches.get(b as usize)?;
            Some((batch.account, batch.postings.get(g as usize)?, &batch.local))
        };
        for run in sorted.chunk_by(|a, b| a.0 == b.0) {
            let mut pending: Vec<(i64, BatchPosting<'_>, &[u32])> =
                run.iter().filter_map(group).collect();
            // Practically always one (account, day, key, value) per hash.
            while let Some(&(account, first, _)) = pending.first() {
                let mut members = Vec::new();
                pending.retain(|&(acct, p, local)| {
                    if acct == account && p.is(first.day, first.key, first.value) {
                        members.extend(
                            p.members
                                .iter()
                                .filter_map(|&m| local.get(m as usize).copied())
                                .filter(|&i| i != u32::MAX),
                        );
                        false
                    } else {
                        true
                    }
                });
                if !members.is_empty() {
                    f(MergedGroup {
                        account,
                        day: first.day,
                        key: first.key,
                        value: first.value,
                        members,
                    });
                }
            }
        }
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
    use crate::ingest::{Attr, Limits, Prepared, prepare};

    fn batch(users: &[&str]) -> StoreBatch {
        let limits = Limits {
            max_event_bytes: 1 << 20,
            oldest_day: None,
        };
        let events: Vec<Prepared> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let raw = format!(
                    r#"{{"eventTime":"2026-11-28T10:00:{i:02}Z","eventSource":"s","eventName":"n","eventID":"{u}-{i}","userIdentity":{{"type":"IAMUser","userName":"{u}"}}}}"#
                );
                prepare(&raw, &limits).unwrap()
            })
            .collect();
        StoreBatch {
            times: events.iter().map(|p| p.time_ms).collect(),
            days: events.iter().map(|p| p.day).collect(),
            blocks: Vec::new(),
            ids: (0..events.len() as i64).map(|i| (i, i)).collect(),
            postings: crate::ingest::BatchPostings::build(&events),
        }
    }

    #[test]
    fn values_are_found_in_every_batch_and_joined_once_per_account() {
        let day = 20261128;
        let user = Attr::Username.code();
        let mut s = Staged::default();
        // Account 1: two batches; the second one's middle event is a duplicate (not staged).
        s.add_batch(1, &mut batch(&["alice", "bob"]), &[10, 11]);
        s.add_batch(1, &mut batch(&["bob", "alice", "carol"]), &[20, -1, 22]);
        // Account 2 has an "alice" too, never mixed with account 1's.
        s.add_batch(2, &mut batch(&["alice"]), &[30]);
        let seqs = |account, value| -> Vec<i64> {
            let mut v: Vec<i64> = s.pairs(account, day, user, value).map(|p| p.1).collect();
            v.sort();
            v
        };
        assert_eq!(seqs(1, "alice"), vec![10]);
        assert_eq!(seqs(1, "bob"), vec![11, 20]);
        assert_eq!(seqs(2, "alice"), vec![30]);
        assert!(seqs(2, "bob").is_empty());

        let mut joined: Vec<(i64, String, Vec<i64>)> = Vec::new();
        s.merged_groups(&s.sorted_groups(), |g| {
            if g.key == user {
                let mut seqs: Vec<i64> =
                    g.members.iter().map(|&i| s.events[i as usize].1).collect();
                seqs.sort();
                joined.push((g.account, g.value.to_string(), seqs));
            }
        });
        joined.sort();
        assert_eq!(
            joined,
            vec![
                (1, "alice".into(), vec![10]),
                (1, "bob".into(), vec![11, 20]),
                (1, "carol".into(), vec![22]),
                (2, "alice".into(), vec![30]),
            ]
        );
    }
}
