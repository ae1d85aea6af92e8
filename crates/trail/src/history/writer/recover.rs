//! Rebuilding the staged index after a crash or kill, from blocks committed after the last
//! merge.

use super::*;

impl Writer {
    /// Rebuilds the stage from the blocks committed after the last merge (a crash or kill
    /// left them unmerged), then merges it.
    pub(crate) fn recover(&mut self) -> Result<(), StoreError> {
        let merged: i64 = self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'merged_block'",
            [],
            |r| r.get(0),
        )?;
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
