//! Merging the staged index into the day tables, a slice at a time between commits.

use super::*;

/// A frozen stage on its way into the tables.
pub(super) struct MergeProgress {
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

impl Writer {
    pub(super) fn merge_logged(&mut self) {
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
    pub(super) fn merge_step_logged(&mut self, idle: bool, appended: usize) {
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
    pub(super) fn merge(&mut self) -> Result<(), rusqlite::Error> {
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
    pub(super) fn start_merge(&mut self) -> Result<(), rusqlite::Error> {
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
    pub(super) fn merge_slice(&mut self, budget: usize) -> Result<bool, rusqlite::Error> {
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
}
