//! The history's single writer thread: appends committed blocks, keeps the staged index,
//! merges it into the day tables in slices, applies retention, and rebuilds the stage after a
//! crash. Only this thread writes `trail.db`; see [`crate::store`] for the layout.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::{Connection, Transaction, params};

use crate::codec::{self, BLOCK_SLOTS};
use crate::idfilter::IdFilter;
use crate::idruns;
use crate::ingest::{Attr, Limits, StoreBatch};
use crate::staged::{Staged, Stages};
use crate::store::{
    AppendReply, Command, GROUP_EVENTS, IDLE_MERGE, KEY_ALL, KEY_READ_ONLY, ListKey, MERGE_BATCHES,
    MERGE_EVENTS, Outcome, RetainReport, StoreError, blocks_table, id_hash, lists_table,
    postings_table, slots_table,
};

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

/// A frozen stage on its way into the tables.
struct MergeProgress {
    /// (day, h, h2) → seq, sorted.
    ids: Vec<((u32, i64, i64), i64)>,
    /// The list rows to write, in key order.
    lists: Vec<ListRow>,
    next_list: usize,
    /// Every block up to this one is indexed once the merge completes.
    mark: i64,
}

/// The events of one merge that carry the values of one bucket: a row of `lists_YYYYMMDD`.
struct ListRow {
    account: i64,
    day: u32,
    key: i64,
    bucket: i64,
    min_time: i64,
    max_time: i64,
    first_seq: i64,
    n: i64,
    /// [`codec::push_list_entry`] of each value.
    data: Vec<u8>,
}

impl ListRow {
    fn insert(&self, tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
        tx.prepare_cached(&format!(
            "INSERT INTO {} (account, key, bucket, max_time, first_seq, min_time, n, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            lists_table(self.day)
        ))?
        .execute(params![
            self.account,
            self.key,
            self.bucket,
            self.max_time,
            self.first_seq,
            self.min_time,
            self.n,
            self.data
        ])?;
        Ok(())
    }

    /// Adds another part of the same bucket (from the other encoding thread).
    fn absorb(&mut self, other: ListRow) {
        self.min_time = self.min_time.min(other.min_time);
        self.max_time = self.max_time.max(other.max_time);
        self.first_seq = self.first_seq.min(other.first_seq);
        self.n += other.n;
        self.data.extend_from_slice(&other.data);
    }
}

/// List rows of a merge by (account, day, key, bucket).
type ListRows = HashMap<(i64, u32, i64, i64), ListRow>;

/// Each staged event's place in (eventTime, seq) order.
struct Ranks {
    /// The staged (eventTime ms, seq) pairs in order.
    sorted: Vec<(i64, i64)>,
    /// Stage index → place in `sorted`.
    rank: Vec<u32>,
}

impl Ranks {
    fn new(events: &[(i64, i64)]) -> Self {
        let mut order: Vec<u32> = (0..events.len() as u32).collect();
        order.sort_unstable_by_key(|&i| events[i as usize]);
        let sorted = order.iter().map(|&i| events[i as usize]).collect();
        let mut rank = vec![0u32; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Ranks { sorted, rank }
    }

    /// The list rows of `groups` (a part of the stage's sorted groups).
    fn rows(&self, stage: &Staged, groups: &[(u64, u32, u32)], list_key: &ListKey) -> ListRows {
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        let mut rows = ListRows::new();
        stage.merged_groups(groups, |g| {
            let mut ranks = g.members;
            for r in ranks.iter_mut() {
                *r = self.rank.get(*r as usize).copied().unwrap_or(u32::MAX);
            }
            if !ranks.is_sorted() {
                ranks.sort_unstable();
            }
            pairs.clear();
            pairs.extend(
                ranks
                    .iter()
                    .filter_map(|&r| self.sorted.get(r as usize).copied()),
            );
            let (Some(&(min_time, _)), Some(&(max_time, _))) = (pairs.first(), pairs.last()) else {
                return;
            };
            let first_seq = pairs.iter().map(|p| p.1).min().unwrap_or(0);
            let bucket = list_key.bucket(g.key, g.value);
            let row = rows
                .entry((g.account, g.day, g.key, bucket))
                .or_insert_with(|| ListRow {
                    account: g.account,
                    day: g.day,
                    key: g.key,
                    bucket,
                    min_time,
                    max_time,
                    first_seq,
                    n: 0,
                    data: Vec::new(),
                });
            row.min_time = row.min_time.min(min_time);
            row.max_time = row.max_time.max(max_time);
            row.first_seq = row.first_seq.min(first_seq);
            row.n += pairs.len() as i64;
            codec::push_list_entry(&mut row.data, g.value, &codec::encode_postings(&pairs));
        });
        rows
    }
}

/// Rows written per merge slice: small enough that ingest never waits long for the writer.
const MERGE_SLICE: usize = 20_000;

/// A merge's encoding thread panicked (a bug): the merge is not written, the stage stays.
fn encoder_failed() -> rusqlite::Error {
    rusqlite::Error::InvalidParameterName("encoding the merge's posting rows failed".into())
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

    fn merge_logged(&mut self) {
        if let Err(e) = self.merge() {
            tracing::error!(error = %e, "merging the staged index failed; it stays staged and will be retried");
        }
    }

    /// Advances the merge by one slice: continues one in progress, or starts one when the
    /// stage is large enough (or, when `idle`, not empty).
    ///
    /// The slice grows with the events just appended, so merging outpaces ingest and the stage
    /// stays bounded; if the stage still doubles its threshold mid-merge, the merge finishes now
    /// (back-pressure on ingest rather than unbounded memory).
    fn merge_step_logged(&mut self, idle: bool, appended: usize) {
        if !self.auto_merge {
            return;
        }
        let (active, batches) = self
            .staged
            .read()
            .map(|s| (s.active.len(), s.active.batches()))
            .unwrap_or((0, 0));
        let start = self.merging.is_none()
            && (active >= MERGE_EVENTS || batches >= MERGE_BATCHES || (idle && active > 0));
        let budget = if self.merging.is_some() && active >= 2 * MERGE_EVENTS {
            usize::MAX
        } else {
            MERGE_SLICE + 4 * appended
        };
        let result = if start { self.start_merge() } else { Ok(()) }
            .and_then(|()| self.merge_slice(budget).map(|_| ()));
        if let Err(e) = result {
            tracing::error!(error = %e, "merging the staged index failed; it stays staged and will be retried");
        }
    }

    /// Merges everything staged, now (retention, shutdown, recovery, tests).
    fn merge(&mut self) -> Result<(), rusqlite::Error> {
        loop {
            if self.merging.is_none() {
                if self.staged.read().map_err(|_| poisoned())?.active.len() == 0 {
                    return Ok(());
                }
                self.start_merge()?;
            }
            while !self.merge_slice(usize::MAX)? {}
        }
    }

    /// Freezes the active stage; lookups keep seeing it until its merge completes.
    fn start_merge(&mut self) -> Result<(), rusqlite::Error> {
        let mut guard = self.staged.write().map_err(|_| poisoned())?;
        let (stage, mark) = match (&guard.frozen, self.frozen_mark) {
            // A merge is in progress.
            (Some(_), _) if self.merging.is_some() => return Ok(()),
            // Frozen, but encoding it failed: try again, with the mark of the freeze.
            (Some(frozen), Some(mark)) => (frozen.clone(), mark),
            _ if guard.active.len() == 0 => return Ok(()),
            _ => {
                // The next stage is likely to fill as this one did.
                let room = guard.active.len().min(2 * MERGE_EVENTS);
                let stage = Arc::new(std::mem::replace(
                    &mut guard.active,
                    Staged::with_capacity(room),
                ));
                guard.frozen = Some(stage.clone());
                self.frozen_mark = Some(self.max_block);
                (stage, self.max_block)
            }
        };
        drop(guard);
        let mut ids: Vec<((u32, i64, i64), i64)> =
            stage.ids.iter().map(|(k, v)| (*k, *v)).collect();
        ids.sort_unstable();
        // Every posting row of the merge, encoded now in one pass over the stage's maps; the
        // slices only insert them. Rows are ordered by (account, day, key) only: ordering the
        // values too cost string comparisons and bought nothing (the rows of one value from
        // successive merges land apart in the table anyway).
        // Each staged event's rank in (eventTime, seq) order: a list is sorted as 4-byte ranks
        // (often already in order) instead of as 16-byte pairs.
        let helper = || std::thread::Builder::new().name("trail-merge".into());
        let (ranks, groups) = std::thread::scope(|s| {
            let groups = helper().spawn_scoped(s, || stage.sorted_groups());
            let ranks = Ranks::new(&stage.events);
            groups.map(|h| h.join().map(|g| (ranks, g)))
        })
        .map_err(|_| encoder_failed())?
        .map_err(|_| encoder_failed())?;
        // Rows are encoded on two threads (the writer's other work waits for them anyway, and at
        // shutdown this is all that runs): the groups split where the hash changes.
        let mid = groups.len() / 2;
        let split = groups
            .get(mid..)
            .and_then(|rest| rest.iter().position(|g| g.0 != groups[mid].0))
            .map_or(groups.len(), |p| mid + p);
        let (left, right) = groups.split_at(split);
        let list_key = self.list_key;
        let mut rows = std::thread::scope(|s| {
            let other = helper().spawn_scoped(s, || ranks.rows(&stage, right, &list_key));
            let mut rows = ranks.rows(&stage, left, &list_key);
            other.map(|h| {
                h.join().map(|more| {
                    for (k, row) in more {
                        match rows.entry(k) {
                            std::collections::hash_map::Entry::Occupied(mut o) => {
                                o.get_mut().absorb(row)
                            }
                            std::collections::hash_map::Entry::Vacant(v) => {
                                v.insert(row);
                            }
                        }
                    }
                    rows
                })
            })
        })
        .map_err(|_| encoder_failed())?
        .map_err(|_| encoder_failed())?;
        // In key order, so each slice's inserts walk the table's pages once.
        let mut lists: Vec<ListRow> = rows.drain().map(|(_, row)| row).collect();
        lists.sort_unstable_by_key(|r| (r.account, r.day, r.key, r.bucket));
        self.merging = Some(MergeProgress {
            ids,
            lists,
            next_list: 0,
            mark,
        });
        Ok(())
    }

    /// Writes up to `budget` rows of the merge in progress in one transaction; `true` when the
    /// merge is complete (or there is none). The last slice moves the merge mark and drops the
    /// frozen stage under the stage's write lock, so lookups, which hold its read lock, never
    /// miss an event; until then a pair may be both in the tables and in the frozen stage, and
    /// lookups deduplicate.
    fn merge_slice(&mut self, budget: usize) -> Result<bool, rusqlite::Error> {
        let Some(m) = self.merging.as_mut() else {
            return Ok(true);
        };
        let tx = self.conn.transaction()?;
        let mut rows = 0;
        while let Some(r) = m.lists.get(m.next_list)
            && rows < budget
        {
            m.next_list += 1;
            Self::ensure_day(&tx, &mut self.days, r.day)?;
            r.insert(&tx)?;
            rows += (r.n as usize).div_ceil(64).max(1);
        }
        if m.next_list < m.lists.len() {
            tx.commit()?;
            return Ok(false);
        }
        // The ids last, one run per day, in the transaction that moves the merge mark: a run is
        // whole or absent.
        for run in m.ids.chunk_by(|a, b| a.0.0 == b.0.0) {
            let day = run[0].0.0;
            Self::ensure_day(&tx, &mut self.days, day)?;
            let entries: Vec<idruns::Entry> =
                run.iter().map(|&((_, h, h2), seq)| (h, h2, seq)).collect();
            idruns::add_run(&tx, day, &entries)?;
        }
        tx.execute(
            "UPDATE counters SET value = ?1 WHERE name = 'merged_block'",
            params![m.mark],
        )?;
        let staged = self.staged.clone();
        let mut guard = staged.write().map_err(|_| poisoned())?;
        tx.commit()?;
        let frozen = guard.frozen.take();
        self.frozen_mark = None;
        drop(guard);
        if let Some(m) = self.merging.take() {
            for &((day, h, h2), _) in &m.ids {
                // A day new to the tables starts a filter; a day whose filter is not loaded yet
                // will read these ids from its table when it is.
                if let Some(filter) = self
                    .merged
                    .entry(day)
                    .or_insert_with(|| Some(IdFilter::default()))
                {
                    filter.insert(h, h2);
                }
            }
            // Freeing a stage touches an allocation per attribute value: not on the writer's
            // time (without a thread, it is freed here).
            let _ = std::thread::Builder::new()
                .name("trail-free".into())
                .spawn(move || drop((frozen, m)));
        }
        Ok(true)
    }

    /// Rebuilds the stage from the blocks committed after the last merge (a crash or kill
    /// left them unmerged), then merges it.
    pub(crate) fn recover(&mut self) -> Result<(), StoreError> {
        let merged: i64 = self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'merged_block'",
            [],
            |r| r.get(0),
        )?;
        // Ids stored one row each (before runs) become one run per day.
        let old: Vec<u32> = day_tables(&self.conn, "ids")?;
        if !old.is_empty() {
            let tx = self.conn.transaction()?;
            for day in old {
                idruns::convert_rows(&tx, day)?;
            }
            tx.commit()?;
        }
        self.upgrade_layout()?;
        // Every day with runs holds merged ids.
        let existing: Vec<u32> = {
            let mut st = self.conn.prepare("SELECT DISTINCT day FROM id_runs")?;
            st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        self.merged.extend(existing.into_iter().map(|d| (d, None)));
        self.max_block = self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'next_block'",
            [],
            |r| r.get::<_, i64>(0),
        )? - 1;
        if self.max_block <= merged {
            return Ok(());
        }
        let days: Vec<u32> = day_tables(&self.conn, "blocks")?;
        // A merge cut short wrote some of its posting rows (the slices before the crash) but not
        // its ids or its mark: those rows are exactly the ones holding a seq past the mark, and
        // the merge below writes them again.
        {
            let tx = self.conn.transaction()?;
            for day in day_tables(&tx, "lists")? {
                tx.execute(
                    &format!("DELETE FROM {} WHERE first_seq >= ?1", lists_table(day)),
                    [(merged + 1) * BLOCK_SLOTS],
                )?;
            }
            tx.commit()?;
        }
        let mut staged = Staged::default();
        let mut pending = Pending::default();
        for day in days {
            let mut st = self.conn.prepare(&format!(
                "SELECT block, account, live, data FROM {} WHERE block > ?1",
                blocks_table(day)
            ))?;
            let mut rows = st.query([merged])?;
            while let Some(row) = rows.next()? {
                let (block, account, live): (i64, i64, i64) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                let data = block_data(row.get_ref(3)?, day, block)?;
                for slot in 0..BLOCK_SLOTS as usize {
                    if live & (1i64 << slot) == 0 {
                        continue;
                    }
                    let p = slot_record(&data, day, block, slot)?;
                    let seq = block * BLOCK_SLOTS + slot as i64;
                    if pending.account != account || pending.events.len() >= 4096 {
                        pending.stage(&mut staged);
                        pending.account = account;
                    }
                    pending.ids.push(id_hash(account, &p.event_id));
                    pending.events.push(p);
                    pending.seqs.push(seq);
                }
            }
        }
        pending.stage(&mut staged);
        tracing::info!(
            events = staged.len(),
            "rebuilt the staged index from blocks committed after the last merge"
        );
        self.staged.write().map_err(|_| StoreError::Closed)?.active = staged;
        self.merge()?;
        Ok(())
    }

    /// Brings a history written by an earlier version to the current layout.
    fn upgrade_layout(&mut self) -> Result<(), StoreError> {
        self.backfill_slots()?;
        for day in day_tables(&self.conn, "postings")? {
            self.convert_postings(day)?;
        }
        Ok(())
    }

    /// Moves a day's posting lists of one row per value into list rows (a bucket of values per
    /// row), leaving out those that slots rows replace: "every event", ReadOnly and the
    /// EventCategory values CloudTrail defines.
    fn convert_postings(&mut self, day: u32) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        Self::ensure_day(&tx, &mut self.days, day)?;
        // Rows of one merge, key and bucket become one row (as a merge writes them now).
        let mut rows: HashMap<(i64, i64, i64, i64, i64), ListRow> = HashMap::new();
        {
            let mut st = tx.prepare(&format!(
                "SELECT account, key, value, max_time, first_seq, min_time, n, data FROM {}",
                postings_table(day)
            ))?;
            let mut old = st.query([])?;
            while let Some(r) = old.next()? {
                let (account, key, value): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                if key == KEY_ALL
                    || key == KEY_READ_ONLY
                    || (key == Attr::EventCategory.code()
                        && crate::classify::Category::known(&value).is_some())
                {
                    continue;
                }
                let bucket = self.list_key.bucket(key, &value);
                let mut data = Vec::new();
                let postings = r
                    .get_ref(7)?
                    .as_blob()
                    .map_err(|e| StoreError::Damaged(format!("posting list of day {day}: {e}")))?;
                codec::push_list_entry(&mut data, &value, postings);
                let part = ListRow {
                    account,
                    day,
                    key,
                    bucket,
                    max_time: r.get(3)?,
                    first_seq: r.get(4)?,
                    min_time: r.get(5)?,
                    n: r.get(6)?,
                    data,
                };
                match rows.entry((account, key, bucket, part.max_time, part.first_seq)) {
                    std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().absorb(part),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(part);
                    }
                }
            }
            for r in rows.values() {
                r.insert(&tx)?;
            }
        }
        tx.execute_batch(&format!("DROP TABLE {}", postings_table(day)))?;
        tx.commit()?;
        tracing::info!(
            day,
            rows = rows.len(),
            "moved a day's posting lists into bucketed list rows"
        );
        Ok(())
    }

    /// Fills the slots rows of blocks stored before the history had them (once: a counter
    /// records it), from the blocks' own records.
    fn backfill_slots(&mut self) -> Result<(), StoreError> {
        let done: i64 = self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'slots_backfilled'",
            [],
            |r| r.get(0),
        )?;
        if done != 0 {
            return Ok(());
        }
        for day in day_tables(&self.conn, "blocks")? {
            let tx = self.conn.transaction()?;
            Self::ensure_day(&tx, &mut self.days, day)?;
            let mut filled = 0usize;
            {
                let mut st = tx.prepare(&format!(
                    "SELECT block, account, live, data FROM {}",
                    blocks_table(day)
                ))?;
                let mut insert = tx.prepare(&format!(
                    "INSERT OR REPLACE INTO {} (block, account, live, min_time, max_time, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    slots_table(day)
                ))?;
                let mut rows = st.query([])?;
                while let Some(row) = rows.next()? {
                    let (block, account, live): (i64, i64, i64) =
                        (row.get(0)?, row.get(1)?, row.get(2)?);
                    let data = block_data(row.get_ref(3)?, day, block)?;
                    // Slots past the last live one are never read; a dead slot's class is 0.
                    let mut slots: Vec<(i64, u8)> = Vec::new();
                    for slot in 0..(64 - (live as u64).leading_zeros()) as usize {
                        if live & (1i64 << slot) == 0 {
                            let t = slots.last().map_or(0, |s| s.0);
                            slots.push((t, 0));
                        } else {
                            let p = slot_record(&data, day, block, slot)?;
                            slots.push((p.time_ms, p.class()));
                        }
                    }
                    let live_times = || {
                        slots
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| live & (1i64 << i) != 0)
                            .map(|(_, s)| s.0)
                    };
                    let (min, max) = (
                        live_times().min().unwrap_or(0),
                        live_times().max().unwrap_or(0),
                    );
                    insert.execute(params![
                        block,
                        account,
                        live,
                        min,
                        max,
                        codec::encode_slots(slots)
                    ])?;
                    filled += 1;
                }
            }
            tx.commit()?;
            tracing::info!(
                day,
                blocks = filled,
                "filled the slots rows of a day stored before them"
            );
        }
        self.conn.execute(
            "UPDATE counters SET value = 1 WHERE name = 'slots_backfilled'",
            [],
        )?;
        Ok(())
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

    fn retain(&mut self, oldest_day: u32) -> Result<RetainReport, StoreError> {
        let tx = self.conn.transaction()?;
        let mut report = RetainReport::default();
        let expired: Vec<(u32, i64)> = {
            let mut st =
                tx.prepare("SELECT day, events FROM partitions WHERE day < ?1 ORDER BY day")?;
            st.query_map([oldest_day], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        // Tables may exist without a partitions row if a day was created and never committed into.
        let orphan_days: HashSet<u32> = day_tables(&tx, "blocks")?
            .into_iter()
            .filter(|d| *d < oldest_day)
            .collect();
        let mut days: HashSet<u32> = expired.iter().map(|(d, _)| *d).collect();
        days.extend(orphan_days);
        for day in &days {
            tx.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                blocks_table(*day),
                slots_table(*day),
                lists_table(*day),
                postings_table(*day),
                idruns::table(*day)
            ))?;
            self.days.remove(day);
            self.merged.remove(day);
        }
        if !days.is_empty() {
            tx.execute("DELETE FROM partitions WHERE day < ?1", [oldest_day])?;
            idruns::forget_before(&tx, oldest_day)?;
        }
        tx.commit()?;
        report.events_dropped = expired.iter().map(|(_, n)| n).sum();
        report.days_dropped = {
            let mut d: Vec<u32> = days.into_iter().collect();
            d.sort_unstable();
            d
        };
        if !report.days_dropped.is_empty() {
            // incremental_vacuum frees one page per step: step it to the end.
            let mut st = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(st);
            self.conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        Ok(report)
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

/// Events re-read from committed blocks by recovery, staged a few thousand at a time (the stage
/// keeps batches, as ingest hands them over).
#[derive(Default)]
struct Pending {
    account: i64,
    events: Vec<crate::ingest::Prepared>,
    seqs: Vec<i64>,
    ids: Vec<(i64, i64)>,
}

impl Pending {
    fn stage(&mut self, staged: &mut Staged) {
        if self.events.is_empty() {
            return;
        }
        let mut batch = StoreBatch {
            times: self.events.iter().map(|p| p.time_ms).collect(),
            days: self.events.iter().map(|p| p.day).collect(),
            blocks: Vec::new(),
            ids: std::mem::take(&mut self.ids),
            postings: crate::ingest::BatchPostings::build(&self.events),
        };
        staged.add_batch(self.account, &mut batch, &self.seqs);
        self.events.clear();
        self.seqs.clear();
    }
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
