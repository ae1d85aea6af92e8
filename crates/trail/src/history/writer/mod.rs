//! The history's single writer thread: appends committed blocks, keeps the staged index,
//! merges it into the day tables in slices, applies retention, and rebuilds the stage after a
//! crash. Only this thread writes `trail.db`; see [`crate::history::store`] for the layout.
//!
//! This file holds the run loop and appends; `merge` moves the staged index into the day
//! tables, `recover` rebuilds it after a crash, `retain` drops expired days.

mod merge;
mod recover;
mod retain;

use merge::MergeProgress;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::{Connection, Transaction, params};

use crate::history::codec::{self, BLOCK_SLOTS};
use crate::history::idfilter::IdFilter;
use crate::history::idruns;
use crate::history::staged::{Staged, Stages};
use crate::history::store::{
    AppendReply, Command, GROUP_EVENTS, IDLE_MERGE, ListKey, MERGE_BATCHES, MERGE_EVENTS, Outcome,
    RetainReport, StoreError, blocks_table, id_hash, lists_table, slots_table,
};
use crate::ingest::{Limits, StoreBatch};

pub(crate) struct Writer {
    conn: Connection,
    /// Days whose tables exist.
    days: HashSet<u32>,
    staged: Arc<RwLock<Stages>>,
    /// The newest block committed (everything staged is at or below it).
    max_block: i64,
    /// Days whose ids table holds merged rows, with a filter over those ids (`None` until the
    /// first probe loads it). Other days need no table probe for duplicates.
    merged: HashMap<u32, Option<IdFilter>>,
    /// The merge in progress, written a slice at a time between commits.
    merging: Option<MergeProgress>,
    /// Merges advance on their own (tests turn this off to hold a merge half-way).
    auto_merge: bool,
    /// The newest block of the frozen stage, from its freeze until its merge completes.
    frozen_mark: Option<i64>,
    list_key: ListKey,
}

fn poisoned() -> rusqlite::Error {
    rusqlite::Error::InvalidParameterName("the staged index lock is poisoned".into())
}

impl Writer {
    pub(crate) fn new(conn: Connection, staged: Arc<RwLock<Stages>>, list_key: ListKey) -> Self {
        Writer {
            conn,
            days: HashSet::new(),
            staged,
            max_block: 0,
            merged: HashMap::new(),
            merging: None,
            auto_merge: true,
            frozen_mark: None,
            list_key,
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Command>) {
        let mut held: Option<Command> = None;
        loop {
            let cmd = match held.take() {
                Some(c) => c,
                None => match rx.recv_timeout(if self.merging.is_some() && self.auto_merge {
                    Duration::ZERO
                } else {
                    IDLE_MERGE
                }) {
                    Ok(c) => c,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        self.merge_step_logged(true, 0);
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                },
            };
            match cmd {
                #[cfg(test)]
                Command::MergeSlice { budget, reply } => {
                    self.auto_merge = false;
                    let r = self.start_merge().and_then(|()| self.merge_slice(budget));
                    let _ = reply.send(r.map_err(StoreError::from));
                }
                Command::Merge { reply } => {
                    let _ = reply.send(self.merge().map_err(StoreError::from));
                }
                Command::Retain { oldest_day, reply } => {
                    self.merge_logged();
                    let r = self.retain(oldest_day);
                    if r.is_err() {
                        self.days.clear();
                    }
                    let _ = reply.send(r);
                }
                Command::Append {
                    account,
                    batch,
                    reply,
                } => {
                    let mut total = batch.len();
                    let mut group = vec![(account, batch, reply)];
                    while total < GROUP_EVENTS {
                        match rx.try_recv() {
                            Ok(Command::Append {
                                account,
                                batch,
                                reply,
                            }) => {
                                total += batch.len();
                                group.push((account, batch, reply));
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    match self.append_group(&mut group) {
                        Ok(outcomes) => {
                            for ((_, _, reply), out) in group.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(out));
                            }
                            self.merge_step_logged(false, total);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "event history commit failed; the batch was not stored");
                            self.days.clear();
                            for (_, _, reply) in group {
                                let _ = reply
                                    .send(Err(StoreError::Damaged(format!("commit failed: {e}"))));
                            }
                        }
                    }
                }
            }
        }
        // A clean stop: merge the stage, fold the WAL back into the main file.
        self.merge_logged();
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn ensure_day(
        tx: &Transaction<'_>,
        days: &mut HashSet<u32>,
        day: u32,
    ) -> Result<(), rusqlite::Error> {
        if days.contains(&day) {
            return Ok(());
        }
        let (b, s, l, i) = (
            blocks_table(day),
            slots_table(day),
            lists_table(day),
            idruns::create_sql(day),
        );
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {b} (block INTEGER PRIMARY KEY, account INTEGER NOT NULL, live INTEGER NOT NULL, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS {s} (block INTEGER PRIMARY KEY, account INTEGER NOT NULL, live INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL, data BLOB NOT NULL);
             {i}
             CREATE TABLE IF NOT EXISTS {l} (
                 account INTEGER NOT NULL, key INTEGER NOT NULL, bucket INTEGER NOT NULL,
                 max_time INTEGER NOT NULL, first_seq INTEGER NOT NULL, min_time INTEGER NOT NULL,
                 n INTEGER NOT NULL, data BLOB NOT NULL,
                 PRIMARY KEY (account, key, bucket, max_time, first_seq)) WITHOUT ROWID;"
        ))?;
        days.insert(day);
        Ok(())
    }

    /// Whether `day`'s merged ids hold `id`: the filter answers "certainly not" for almost
    /// every fresh event; the table is asked otherwise.
    fn maybe_merged(
        merged: &mut HashMap<u32, Option<IdFilter>>,
        tx: &Transaction<'_>,
        day: u32,
        id: (i64, i64),
    ) -> Result<bool, rusqlite::Error> {
        let Some(slot) = merged.get_mut(&day) else {
            return Ok(false);
        };
        if slot.is_none() {
            let mut filter = IdFilter::default();
            idruns::for_each(tx, day, |(h, h2, _)| filter.insert(h, h2))?;
            *slot = Some(filter);
        }
        match slot {
            Some(filter) if !filter.may_contain(id.0, id.1) => Ok(false),
            _ => Ok(idruns::find(tx, day, id)?.is_some()),
        }
    }

    fn append_group(
        &mut self,
        group: &mut [(i64, StoreBatch, AppendReply)],
    ) -> Result<Vec<Vec<Outcome>>, rusqlite::Error> {
        let staged = self.staged.clone();
        let tx = self.conn.transaction()?;
        let mut next_block: i64 = tx.query_row(
            "SELECT value FROM counters WHERE name = 'next_block'",
            [],
            |r| r.get(0),
        )?;
        // Per batch: the seq of each accepted event (-1 for a duplicate).
        let mut seqs: Vec<Vec<i64>> = Vec::with_capacity(group.len());
        let mut claimed: HashSet<(u32, i64, i64), foldhash::fast::RandomState> = HashSet::default();
        let mut touched: HashMap<u32, (i64, i64, i64)> = HashMap::new();
        let mut all = Vec::with_capacity(group.len());
        {
            let stage = staged.read().map_err(|_| poisoned())?;
            for (account, batch, _) in group.iter() {
                let account = *account;
                let mut outcomes = vec![Outcome::Duplicate; batch.len()];
                let mut batch_seqs = vec![-1i64; batch.len()];
                for blk in &batch.blocks {
                    let day = blk.day;
                    Self::ensure_day(&tx, &mut self.days, day)?;
                    let block = next_block;
                    next_block += 1;
                    let mut live = 0i64;
                    for (slot, &i) in blk.members.iter().enumerate() {
                        let id = batch.ids[i];
                        let key = (day, id.0, id.1);
                        if claimed.contains(&key)
                            || stage.id(day, id.0, id.1).is_some()
                            || Self::maybe_merged(&mut self.merged, &tx, day, id)?
                        {
                            continue;
                        }
                        claimed.insert(key);
                        let seq = block * BLOCK_SLOTS + slot as i64;
                        live |= 1i64 << slot;
                        outcomes[i] = Outcome::Accepted { seq };
                        batch_seqs[i] = seq;
                        let t = touched.entry(day).or_insert((seq, seq, 0));
                        t.0 = t.0.min(seq);
                        t.1 = t.1.max(seq);
                        t.2 += 1;
                    }
                    // A block whose events were all duplicates is not kept; a partly duplicate one
                    // is kept whole, its duplicate slots not live.
                    if live != 0 {
                        tx.prepare_cached(&format!(
                            "INSERT INTO {} (block, account, live, data) VALUES (?1, ?2, ?3, ?4)",
                            blocks_table(day)
                        ))?
                        .execute(params![block, account, live, blk.data])?;
                        tx.prepare_cached(&format!(
                            "INSERT INTO {} (block, account, live, min_time, max_time, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            slots_table(day)
                        ))?
                        .execute(params![block, account, live, blk.min_time, blk.max_time, blk.slots])?;
                    }
                }
                all.push(outcomes);
                seqs.push(batch_seqs);
            }
        }
        for (day, (min, max, n)) in touched {
            tx.prepare_cached(
                "INSERT INTO partitions (day, min_seq, max_seq, events) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(day) DO UPDATE SET min_seq = min(min_seq, ?2), max_seq = max(max_seq, ?3), events = events + ?4",
            )?
            .execute(params![day, min, max, n])?;
        }
        tx.execute(
            "UPDATE counters SET value = ?1 WHERE name = 'next_block'",
            params![next_block],
        )?;
        // Visible to lookups from the moment it is durable, before anyone is told it is.
        let mut stage = staged.write().map_err(|_| poisoned())?;
        tx.commit()?;
        self.max_block = next_block - 1;
        for ((account, batch, _), batch_seqs) in group.iter_mut().zip(&seqs) {
            stage.active.add_batch(*account, batch, batch_seqs);
        }
        Ok(all)
    }
}

/// A stored block's plain bytes.
fn block_data(
    stored: rusqlite::types::ValueRef<'_>,
    day: u32,
    block: i64,
) -> Result<Vec<u8>, StoreError> {
    let stored = stored
        .as_blob()
        .map_err(|e| StoreError::Damaged(format!("block {block} of day {day}: {e}")))?;
    codec::decompress_block(stored)
        .map_err(|e| StoreError::Damaged(format!("block {block} of day {day}: {e}")))
}

/// The record in `slot` of a stored block, indexed again.
fn slot_record(
    data: &[u8],
    day: u32,
    block: i64,
    slot: usize,
) -> Result<crate::ingest::Prepared, StoreError> {
    let damaged = |e: &dyn std::fmt::Display| {
        StoreError::Damaged(format!("block {block} of day {day}, slot {slot}: {e}"))
    };
    let text = codec::block_slot(data, slot).ok_or_else(|| damaged(&"no record"))?;
    let record: crate::Record = serde_json::from_slice(text).map_err(|e| damaged(&e))?;
    let limits = Limits {
        max_event_bytes: usize::MAX,
        oldest_day: None,
    };
    crate::ingest::index(&record, &limits).map_err(|e| damaged(&e))
}

/// The days that have a `<kind>_YYYYMMDD` table.
fn day_tables(conn: &Connection, kind: &str) -> Result<Vec<u32>, rusqlite::Error> {
    let prefix = format!("{kind}_");
    let mut st =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?1")?;
    let names = st.query_map([format!("{prefix}%")], |r| r.get::<_, String>(0))?;
    Ok(names
        .filter_map(|n| n.ok()?.strip_prefix(&prefix)?.parse().ok())
        .collect())
}
