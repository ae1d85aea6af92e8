//! The history in commit order, for consumers that keep a committed cursor (trail delivery,
//! detection). An event's `seq` only grows with commits, so "everything after seq S" is a stable
//! question: a consumer that stores S in the same transaction as its own output neither skips nor
//! repeats an event across crashes.

use rusqlite::params;

use crate::history::codec::{self, BLOCK_SLOTS};
use crate::history::store::{History, StoreError, blocks_table};

/// One accepted event, as stored.
#[derive(Clone, Debug)]
pub struct FedEvent {
    pub seq: i64,
    pub account: i64,
    pub record: String,
}

impl History {
    /// Up to about `max_events` accepted events with `seq > after`, in seq order (whole blocks,
    /// so a few more may come). Empty when the consumer has caught up.
    pub fn read_after(&self, after: i64, max_events: usize) -> Result<Vec<FedEvent>, StoreError> {
        let after_block = after.div_euclid(BLOCK_SLOTS);
        let max_blocks = max_events.div_ceil(BLOCK_SLOTS as usize).max(1) as i64;
        let rows = self.reads.with(|c| {
            // One snapshot for the day list and the blocks: a day created by a commit between
            // two reads would otherwise hide blocks older than ones already read.
            let tx = c.unchecked_transaction()?;
            let c = &*tx;
            let days: Vec<u32> = c
                .prepare_cached("SELECT day FROM partitions WHERE max_seq > ?1 ORDER BY day")?
                .query_map([after], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut rows: Vec<(i64, i64, i64, Vec<u8>, u32)> = Vec::new();
            for day in days {
                let mut st = c.prepare_cached(&format!(
                    "SELECT block, account, live, data FROM {} WHERE block >= ?1 ORDER BY block LIMIT ?2",
                    blocks_table(day)
                ))?;
                let found = st.query_map(params![after_block, max_blocks], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, day))
                })?;
                for row in found {
                    rows.push(row?);
                }
            }
            Ok(rows)
        })?;
        let mut rows = rows;
        rows.sort_unstable_by_key(|r| r.0);
        rows.truncate(max_blocks as usize);
        let mut out = Vec::new();
        for (block, account, live, data, day) in rows {
            let data = codec::decompress_block(&data)
                .map_err(|e| StoreError::Damaged(format!("block {block} of day {day}: {e}")))?;
            for slot in 0..BLOCK_SLOTS {
                let seq = block * BLOCK_SLOTS + slot;
                if seq <= after || live & (1i64 << slot) == 0 {
                    continue;
                }
                let bytes = codec::block_slot(&data, slot as usize).ok_or_else(|| {
                    StoreError::Damaged(format!("record {seq} of day {day}: missing slot"))
                })?;
                let record = String::from_utf8(bytes.to_vec())
                    .map_err(|e| StoreError::Damaged(format!("record {seq} of day {day}: {e}")))?;
                out.push(FedEvent {
                    seq,
                    account,
                    record,
                });
            }
        }
        Ok(out)
    }

    /// The seq of the newest committed event (0 when empty).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self.reads.with(|c| {
            Ok(c.query_row(
                "SELECT coalesce(max(max_seq), 0) FROM partitions",
                [],
                |r| r.get(0),
            )?)
        })?)
    }
}
