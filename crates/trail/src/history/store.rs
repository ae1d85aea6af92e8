//! The event history: SQLite (WAL), partitioned by UTC day of eventTime.
//!
//! A commit appends blocks; the index of committed-but-unmerged blocks lives in memory
//! ([`crate::history::staged`]) and is merged into the day tables in large batches:
//! - `blocks_YYYYMMDD(block, account, live, data)`: up to 64 records of one account and day,
//!   compressed together ([`crate::history::codec`]); `live` has a bit per slot whose event was accepted
//!   (a duplicate stays in its block, unindexed). An event's `seq` is
//!   `block * 64 + slot`: global, increasing in commit order — the order downstream consumers
//!   (delivery, detection) follow with a committed cursor.
//! - `slots_YYYYMMDD(block, account, live, min_time, max_time, data)`: written with each block,
//!   each slot's eventTime and class byte (ReadOnly and a CloudTrail-defined EventCategory).
//!   Time-only, ReadOnly and EventCategory lookups read these: their posting lists held every
//!   event of the day, or half of it.
//! - `lists_YYYYMMDD(account, key, bucket, max_time, first_seq, min_time, n, data)`: the other
//!   lookup attributes. One merge's sorted (eventTime, seq) pairs of each value, the values of
//!   one bucket ([`ListKey::bucket`], 1,024 per key) in one row. A lookup reads its values'
//!   buckets, intersects the lists, filters by class if asked, and decompresses only the
//!   records it returns. (Histories from before slots and buckets had `postings_YYYYMMDD`, one
//!   row per value; they are converted when opened.)
//! - `idrun_YYYYMMDD`: deduplication on (account, eventID) and EventId lookups, keyed by the
//!   first 128 bits of SHA-256(account, eventID), as sorted runs written once per merge
//!   ([`crate::history::idruns`]). Kept per day of eventTime: a duplicate delivery carries the same
//!   record, hence the same eventTime and day, so a check reads one day's runs. (The same eventID
//!   with a different day is a conflicting record, and both are kept as evidence.)
//!
//! Retention drops whole days (`DROP TABLE`), forgets their ids, and steps `incremental_vacuum`
//! so the pages go back to the file system. A request is answered only after its commit
//! (`synchronous=FULL`), so an acknowledged event survives a crash of the process.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use mamori_core::db::{self, DbError, ReadPool};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::history::staged::Stages;
use crate::history::writer::Writer;
use crate::ingest::{Limits, StoreBatch};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the event history's writer has stopped; see the server log")]
    Closed,
    #[error("stored data is damaged: {0}")]
    Damaged(String),
}

/// Every history failure is the server's, not the caller's: answered as internal, logged in full.
impl mamori_core::service::ServiceError for StoreError {
    fn code(&self) -> mamori_core::ErrorCode {
        mamori_core::ErrorCode::Internal
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sql(e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted { seq: i64 },
    Duplicate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetainReport {
    pub days_dropped: Vec<u32>,
    pub events_dropped: i64,
}

pub(crate) type AppendReply = oneshot::Sender<Result<Vec<Outcome>, StoreError>>;

pub(crate) enum Command {
    Append {
        account: i64,
        batch: StoreBatch,
        reply: AppendReply,
    },
    Retain {
        oldest_day: u32,
        reply: oneshot::Sender<Result<RetainReport, StoreError>>,
    },
    Merge {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Starts a merge if none is running and writes one slice of it (tests).
    #[cfg(test)]
    MergeSlice {
        budget: usize,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// Settings of the history store.
#[derive(Clone, Copy, Debug)]
pub struct HistoryOptions {
    pub retention_days: u32,
    pub max_event_bytes: usize,
}

pub struct History {
    tx: Mutex<Option<SyncSender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) reads: ReadPool,
    /// Index of committed blocks not yet merged; lookups hold its read lock while they run.
    pub(crate) staged: Arc<RwLock<Stages>>,
    path: PathBuf,
    options: HistoryOptions,
    pub(crate) list_key: ListKey,
}

/// Posting lists are stored a bucket of values per row: each merge writes one row per
/// (account, key, bucket) of each day rather than one per value (a merge of 160 k events wrote
/// ~20 k rows per day, most of them a few events of one user or access key; inserting them was
/// a quarter of the writer's time). A lookup reads its value's bucket.
pub(crate) const LIST_BUCKETS: u64 = 1024;

/// The history's own secret for [`ListKey::bucket`], made when the history is created, so that
/// values cannot be crafted to pile into one bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListKey([u8; 16]);

impl ListKey {
    pub(crate) fn load(conn: &Connection) -> Result<Self, rusqlite::Error> {
        let word = |name: &str| -> Result<i64, rusqlite::Error> {
            conn.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
                r.get(0)
            })
        };
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&word("list_key_0")?.to_le_bytes());
        key[8..].copy_from_slice(&word("list_key_1")?.to_le_bytes());
        Ok(ListKey(key))
    }

    /// The bucket of (posting key, value): SHA-256 (stable across versions, unlike the
    /// in-memory hashes) over the secret, the key and the value.
    pub(crate) fn bucket(&self, key: i64, value: &str) -> i64 {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(key.to_le_bytes());
        h.update(value.as_bytes());
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        (u64::from_le_bytes(first) % LIST_BUCKETS) as i64
    }
}

const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE partitions (
    day     INTEGER PRIMARY KEY,
    min_seq INTEGER NOT NULL,
    max_seq INTEGER NOT NULL,
    events  INTEGER NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('next_block', 1);
INSERT INTO counters VALUES ('merged_block', 0);
CREATE TABLE channels (
    id         TEXT PRIMARY KEY,
    account    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account, name)
);
",
    "
CREATE TABLE id_runs (
    day INTEGER NOT NULL,
    run INTEGER NOT NULL,
    ids INTEGER NOT NULL,
    PRIMARY KEY (day, run)
);
",
    // Kept so that step numbers stay as written; the counter is no longer read.
    "INSERT INTO counters VALUES ('slots_backfilled', 0);",
    // The secret that spreads attribute values over list rows (see `ListKey`).
    "INSERT INTO counters VALUES ('list_key_0', random());
     INSERT INTO counters VALUES ('list_key_1', random());",
];

/// Page size of a new history: a compressed block of 64 records (~14 KB) is stored in place
/// instead of as a chain of 4 KiB overflow pages, and the WAL carries a quarter of the frames.
/// Measured on 1M records: the writer's time 3.2 → 2.4 s, 226 bytes per event either way.
const PAGE_SIZE: u32 = 65536;

/// Most events committed in one transaction when requests are grouped.
pub(crate) const GROUP_EVENTS: usize = 100_000;
/// Staged events that trigger a merge into the day tables.
pub(crate) const MERGE_EVENTS: usize = 160_000;
/// Staged batches that trigger a merge: lookups search each staged batch, so many small
/// requests (one event each, say) are merged long before they add up to MERGE_EVENTS.
pub(crate) const MERGE_BATCHES: usize = 1024;
/// A writer idle this long merges what is staged.
pub(crate) const IDLE_MERGE: Duration = Duration::from_secs(1);

/// The dedup key of (account, eventID): the first 128 bits of SHA-256 over both, as two i64.
pub(crate) fn id_hash(account: i64, event_id: &str) -> (i64, i64) {
    // One contiguous input (account, then eventID) hashes without the streaming state's copies.
    let mut buf = [0u8; 8 + 256];
    let d = match buf.get_mut(8..8 + event_id.len()) {
        Some(tail) => {
            tail.copy_from_slice(event_id.as_bytes());
            buf[..8].copy_from_slice(&account.to_le_bytes());
            Sha256::digest(&buf[..8 + event_id.len()])
        }
        None => {
            let mut h = Sha256::new();
            h.update(account.to_le_bytes());
            h.update(event_id.as_bytes());
            h.finalize()
        }
    };
    let word = |i: usize| {
        i64::from_le_bytes([
            d[i],
            d[i + 1],
            d[i + 2],
            d[i + 3],
            d[i + 4],
            d[i + 5],
            d[i + 6],
            d[i + 7],
        ])
    };
    (word(0), word(8))
}

fn io_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(DbError::Open {
        path: what.to_string(),
        source: rusqlite::Error::InvalidPath(e.to_string().into()),
    })
}

impl History {
    /// Opens (creating if needed) `trail.db` in `dir` and starts the writer thread.
    pub fn open(dir: &Path, options: HistoryOptions) -> Result<Arc<Self>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(&dir.display().to_string(), e))?;
        let path = dir.join("trail.db");
        let mut conn = db::open_with_page_size(&path, Some(PAGE_SIZE))?;
        db::migrate(&mut conn, &path, MIGRATIONS)?;
        conn.set_prepared_statement_cache_capacity(128);
        // The writer appends and merges in key order; a 16 MiB page cache is enough for that,
        // and ingest's memory is better spent on files in flight.
        // A checkpoint every 256 pages keeps the WAL near 16 MiB with 64 KiB pages (the default
        // 1,000 pages let it reach 64 MiB, all copied and synced in one go at close).
        conn.execute_batch("PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 256;")?;
        let list_key = ListKey::load(&conn)?;
        let staged = Arc::new(RwLock::new(Stages::default()));
        let mut writer = Writer::new(conn, staged.clone(), list_key);
        writer.recover()?;
        let (tx, rx) = sync_channel::<Command>(64);
        let handle = std::thread::Builder::new()
            .name("trail-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| io_error("trail-writer thread", e))?;
        Ok(Arc::new(Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            reads: ReadPool::new(&path),
            staged,
            path,
            options,
            list_key,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> HistoryOptions {
        self.options
    }

    /// The limits records are checked against now (the retention window moves with the clock).
    pub fn limits(&self) -> Limits {
        Limits {
            max_event_bytes: self.options.max_event_bytes,
            oldest_day: self.oldest_day(),
        }
    }

    pub fn oldest_day(&self) -> Option<u32> {
        if self.options.retention_days == 0 {
            return None;
        }
        let oldest =
            Utc::now() - chrono::Duration::days(i64::from(self.options.retention_days) - 1);
        Some(crate::ingest::day_of(oldest))
    }

    fn send(&self, cmd: Command) -> Result<(), StoreError> {
        let guard = self.tx.lock().map_err(|_| StoreError::Closed)?;
        guard
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(cmd)
            .map_err(|_| StoreError::Closed)
    }

    /// Stores `batch` for `account`; resolves once they are committed (durable).
    pub fn append(
        &self,
        account: i64,
        batch: StoreBatch,
    ) -> Result<oneshot::Receiver<Result<Vec<Outcome>, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Append {
            account,
            batch,
            reply,
        })?;
        Ok(rx)
    }

    pub async fn append_async(
        &self,
        account: i64,
        batch: StoreBatch,
    ) -> Result<Vec<Outcome>, StoreError> {
        let rx = self.append(account, batch)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// For callers outside an async runtime (file import, benchmarks, self-audit).
    pub fn append_blocking(
        &self,
        account: i64,
        batch: StoreBatch,
    ) -> Result<Vec<Outcome>, StoreError> {
        let rx = self.append(account, batch)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Drops every day before `oldest_day` (the configured window when `None`).
    pub fn retain_blocking(&self, oldest_day: Option<u32>) -> Result<RetainReport, StoreError> {
        let Some(oldest_day) = oldest_day.or_else(|| self.oldest_day()) else {
            return Ok(RetainReport::default());
        };
        let (reply, rx) = oneshot::channel();
        self.send(Command::Retain { oldest_day, reply })?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Merges the staged index into the day tables now (the writer also does it on its own).
    pub fn merge_blocking(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Merge { reply })?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Number of stored events (all accounts) and of day partitions.
    pub fn totals(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.reads.with(|c| {
            Ok(c.query_row(
                "SELECT coalesce(sum(events), 0), count(*) FROM partitions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })?)
    }

    /// Events stored for `account` on each day from `from_day` to `to_day` (YYYYMMDD, by event
    /// time), days without events left out. Counts the live slots of the account's blocks.
    pub fn events_per_day(
        &self,
        account: i64,
        from_day: u32,
        to_day: u32,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        Ok(self.reads.with(|c| {
            let days: Vec<u32> = c
                .prepare_cached(
                    "SELECT day FROM partitions WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
                )?
                .query_map([from_day, to_day], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(days.len());
            for day in days {
                let mut st = c.prepare(&format!(
                    "SELECT live FROM {} WHERE account = ?1",
                    slots_table(day)
                ))?;
                let mut rows = st.query([account])?;
                let mut n = 0u64;
                while let Some(r) = rows.next()? {
                    n += u64::from(r.get::<_, i64>(0)?.count_ones());
                }
                if n > 0 {
                    out.push((day, n));
                }
            }
            Ok(out)
        })?)
    }

    /// Stops the writer after it has committed everything already sent.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut w) = self.writer.lock()
            && let Some(handle) = w.take()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.close();
    }
}

pub(crate) fn blocks_table(day: u32) -> String {
    format!("blocks_{day:08}")
}

pub(crate) fn slots_table(day: u32) -> String {
    format!("slots_{day:08}")
}

pub(crate) fn lists_table(day: u32) -> String {
    format!("lists_{day:08}")
}

/// Where (account, eventID) is stored among `days` (newest first): (day, seq).
pub(crate) fn find_id(
    c: &Connection,
    staged: &Stages,
    account: i64,
    event_id: &str,
    days: &[u32],
) -> Result<Option<(u32, i64)>, rusqlite::Error> {
    let (h, h2) = id_hash(account, event_id);
    for &day in days {
        if let Some(seq) = staged.id(day, h, h2) {
            return Ok(Some((day, seq)));
        }
        if let Some(seq) = crate::history::idruns::find(c, day, (h, h2))? {
            return Ok(Some((day, seq)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::lookup::{LookupAttribute, LookupQuery};
    use serde_json::value::RawValue;

    fn events(day: &str, n: usize, tag: &str) -> Vec<Box<RawValue>> {
        (0..n)
            .map(|i| {
                // Incompressible padding, so the history's size is dominated by the records.
                let pad: String = (0..32).map(|k| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{tag}{i}-{k}")))).collect();
                RawValue::from_string(format!(
                    r#"{{"eventTime":"{day}T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"{tag}-{i}","requestParameters":{{"pad":"{pad}{i}"}}}}"#
                ))
                .unwrap()
            })
            .collect()
    }

    /// What a crash leaves on disk now: the committed state (the WAL included), copied.
    fn crash_copy(dir: &std::path::Path) -> tempfile::TempDir {
        let crashed = tempfile::tempdir().unwrap();
        for name in ["trail.db", "trail.db-wal"] {
            let from = dir.join(name);
            if from.exists() {
                std::fs::copy(&from, crashed.path().join(name)).unwrap();
            }
        }
        crashed
    }

    fn open(dir: &std::path::Path) -> Arc<History> {
        History::open(
            dir,
            HistoryOptions {
                retention_days: 0,
                max_event_bytes: 1 << 20,
            },
        )
        .unwrap()
    }

    fn store(h: &History, raws: &[Box<RawValue>]) -> crate::ingest::IngestReport {
        let refs: Vec<&str> = raws.iter().map(|r| r.get()).collect();
        crate::ingest_blocking(h, 7, &refs).unwrap()
    }

    /// Events of account 7 found by EventId.
    fn by_event_id(h: &History, id: &str) -> usize {
        let q = LookupQuery {
            account: 7,
            attributes: vec![LookupAttribute::EventId(id.into())],
            start_ms: None,
            end_ms: None,
            max_results: 5,
            after: None,
        };
        h.lookup(&q).unwrap().events.len()
    }

    /// Events of account 7 named GetObject, every page followed.
    fn count(h: &History) -> usize {
        let mut q = LookupQuery {
            account: 7,
            attributes: vec![LookupAttribute::parse("EventName", "GetObject").unwrap()],
            start_ms: None,
            end_ms: None,
            max_results: 1000,
            after: None,
        };
        let mut seen = 0;
        loop {
            let page = h.lookup(&q).unwrap();
            seen += page.events.len();
            match page.next {
                Some(after) => q.after = Some(after),
                None => return seen,
            }
        }
    }

    #[test]
    fn the_id_hash_is_sha256_of_account_then_event_id() {
        for id in ["", "e", &"x".repeat(256), &"y".repeat(300)] {
            let mut h = Sha256::new();
            h.update(7i64.to_le_bytes());
            h.update(id.as_bytes());
            let d = h.finalize();
            let (a, b) = id_hash(7, id);
            assert_eq!(a.to_le_bytes(), d[..8], "{}", id.len());
            assert_eq!(b.to_le_bytes(), d[8..16], "{}", id.len());
        }
    }

    #[test]
    fn many_small_batches_are_merged_long_before_the_event_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        let n = MERGE_BATCHES + 50;
        for raw in events("2026-01-02", n, "small") {
            assert_eq!(store(&h, std::slice::from_ref(&raw)).accepted, 1);
        }
        // Lookups search each staged batch: the stage must not hold them all.
        let staged = h.staged.read().unwrap().events();
        assert!(
            staged < MERGE_BATCHES,
            "{staged} of {n} one-event batches still staged"
        );
        assert!(
            n < MERGE_EVENTS,
            "the event threshold alone would not merge"
        );
        assert_eq!(count(&h), n, "every event found once, merged or staged");
    }

    #[test]
    fn retention_drops_whole_days_and_gives_the_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        assert_eq!(store(&h, &events("2026-01-01", 300, "old")).accepted, 300);
        assert_eq!(store(&h, &events("2026-03-01", 10, "new")).accepted, 10);
        assert_eq!(count(&h), 310);
        let before = std::fs::metadata(h.path()).unwrap().len()
            + std::fs::metadata(h.path().with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        let r = h.retain_blocking(Some(20260201)).unwrap();
        assert_eq!(
            r,
            RetainReport {
                days_dropped: vec![20260101],
                events_dropped: 300
            }
        );
        assert_eq!(count(&h), 10);
        let after = std::fs::metadata(h.path()).unwrap().len()
            + std::fs::metadata(h.path().with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        assert!(
            after * 2 < before,
            "expired data must leave the disk: {before} → {after} bytes"
        );
        // Expired ids are forgotten with their day; the newer day is untouched.
        assert_eq!(store(&h, &events("2026-03-01", 10, "new")).duplicate, 10);
        assert_eq!(h.totals().unwrap(), (10, 1));
    }

    #[test]
    fn lookups_see_the_same_events_before_and_after_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        assert_eq!(store(&h, &events("2026-01-01", 150, "m")).accepted, 150);
        assert_eq!(h.staged.read().unwrap().events(), 150);
        let before = count(&h);
        h.merge_blocking().unwrap();
        assert_eq!(h.staged.read().unwrap().events(), 0);
        assert_eq!((before, count(&h)), (150, 150));
        // Merged ids still deduplicate; new events stage on top of merged ones.
        assert_eq!(store(&h, &events("2026-01-01", 150, "m")).duplicate, 150);
        assert_eq!(store(&h, &events("2026-01-01", 10, "n")).accepted, 10);
        assert_eq!(count(&h), 160);
    }

    #[test]
    fn a_crash_in_the_middle_of_a_merge_loses_and_doubles_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        assert_eq!(store(&h, &events("2026-01-01", 120, "c")).accepted, 120);
        let (reply, rx) = oneshot::channel();
        h.send(Command::MergeSlice { budget: 1, reply }).unwrap();
        assert!(
            !rx.blocking_recv().unwrap().unwrap(),
            "one slice, not the whole merge"
        );
        assert_eq!(store(&h, &events("2026-01-02", 5, "d")).accepted, 5);
        let crashed = crash_copy(dir.path());
        drop(h);
        let h = open(crashed.path());
        assert_eq!(count(&h), 125, "every event once after recovery");
        h.merge_blocking().unwrap();
        assert_eq!(count(&h), 125);
        assert_eq!(store(&h, &events("2026-01-01", 120, "c")).duplicate, 120);
        assert_eq!(store(&h, &events("2026-01-02", 5, "d")).duplicate, 5);
        assert_eq!(h.totals().unwrap(), (125, 2));
    }

    #[test]
    fn a_merge_in_slices_never_hides_or_doubles_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        assert_eq!(store(&h, &events("2026-01-01", 120, "s")).accepted, 120);
        let slice = |budget| {
            let (reply, rx) = oneshot::channel();
            h.send(Command::MergeSlice { budget, reply }).unwrap();
            rx.blocking_recv().unwrap().unwrap()
        };
        assert!(
            !slice(1),
            "the first slice writes one posting list; the ids come last"
        );
        assert!(h.staged.read().unwrap().merging());
        // Events arriving mid-merge stage on top; lookups see each event once.
        assert_eq!(store(&h, &events("2026-01-01", 5, "t")).accepted, 5);
        assert_eq!(store(&h, &events("2026-01-01", 120, "s")).duplicate, 120);
        assert_eq!(count(&h), 125);
        assert_eq!(by_event_id(&h, "s-17"), 1);
        while !slice(usize::MAX) {}
        assert!(!h.staged.read().unwrap().merging());
        assert_eq!(count(&h), 125);
        h.merge_blocking().unwrap();
        assert_eq!(h.staged.read().unwrap().events(), 0);
        assert_eq!(count(&h), 125);
    }

    /// Events with every kind of ReadOnly and eventCategory, one second apart over two days:
    /// (eventID, eventTime ms, record).
    fn mixed(from: usize, to: usize) -> Vec<(String, i64, Box<RawValue>)> {
        (from..to)
            .map(|i| {
                let day = 1 + i % 2;
                let t = chrono::NaiveDate::from_ymd_opt(2026, 1, day as u32)
                    .unwrap()
                    .and_hms_opt(10, 0, 0)
                    .unwrap()
                    .and_utc()
                    + chrono::Duration::seconds(i as i64);
                let ro = ["", r#","readOnly":true"#, r#","readOnly":false"#][i % 3];
                let cat = [
                    "",
                    r#","eventCategory":"Management""#,
                    r#","eventCategory":"Data""#,
                    r#","eventCategory":"Weird""#,
                    r#","eventCategory":"NetworkActivity""#,
                ][i % 5];
                let id = format!("x-{i}");
                let raw = RawValue::from_string(format!(
                    r#"{{"eventTime":"{}","eventSource":"ec2.amazonaws.com","eventName":"n{}","eventID":"{id}"{ro}{cat}}}"#,
                    t.format("%Y-%m-%dT%H:%M:%SZ"),
                    i % 7
                ))
                .unwrap();
                (id, t.timestamp_millis(), raw)
            })
            .collect()
    }

    /// A lookup's (start, end) in ms.
    type Window = (Option<i64>, Option<i64>);

    /// The eventIDs a lookup returns, every page followed.
    fn lookup_ids(
        h: &History,
        account: i64,
        attrs: &[(&str, &str)],
        window: Window,
    ) -> Vec<String> {
        let mut q = LookupQuery {
            account,
            attributes: attrs
                .iter()
                .map(|(k, v)| LookupAttribute::parse(k, v).unwrap())
                .collect(),
            start_ms: window.0,
            end_ms: window.1,
            max_results: 37,
            after: None,
        };
        let mut ids = Vec::new();
        loop {
            let page = h.lookup(&q).unwrap();
            for text in &page.events {
                let v: serde_json::Value = serde_json::from_str(text).unwrap();
                ids.push(v["eventID"].as_str().unwrap().to_string());
            }
            match page.next {
                Some(after) => q.after = Some(after),
                None => return ids,
            }
        }
    }

    /// Time-only, ReadOnly and EventCategory lookups (alone, together, with a posting-list
    /// attribute, in a window) against the same filters applied to the records themselves.
    fn check_class_lookups(h: &History, all: &[(String, i64, Box<RawValue>)]) {
        let mid = all[all.len() / 3].1;
        let late = all[2 * all.len() / 3].1;
        let queries: Vec<(Vec<(&str, &str)>, Window)> = vec![
            (vec![], (None, None)),
            (vec![], (Some(mid), Some(late))),
            (vec![("ReadOnly", "true")], (None, None)),
            (vec![("ReadOnly", "false")], (Some(mid), None)),
            (vec![("EventCategory", "Management")], (None, None)),
            (
                vec![("EventCategory", "Data"), ("ReadOnly", "true")],
                (None, Some(late)),
            ),
            (vec![("EventCategory", "Weird")], (None, None)),
            (
                vec![("EventCategory", "NetworkActivity"), ("EventName", "n3")],
                (None, None),
            ),
            (
                vec![("EventName", "n2"), ("ReadOnly", "false")],
                (Some(mid), None),
            ),
            (
                vec![("ReadOnly", "true"), ("ReadOnly", "false")],
                (None, None),
            ),
            (
                vec![("EventCategory", "Data"), ("EventCategory", "Management")],
                (None, None),
            ),
            (vec![("EventCategory", "Insight")], (None, None)),
        ];
        for (attrs, window) in queries {
            let mut want: Vec<(i64, &str)> = all
                .iter()
                .filter(|(_, t, raw)| {
                    let v: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
                    let cat = v["eventCategory"].as_str().unwrap_or("Management");
                    window.0.is_none_or(|s| *t >= s)
                        && window.1.is_none_or(|e| *t <= e)
                        && attrs.iter().all(|(k, val)| match *k {
                            "ReadOnly" => {
                                v["readOnly"].as_bool().map(|b| b.to_string()).as_deref()
                                    == Some(*val)
                            }
                            "EventCategory" => cat == *val,
                            "EventName" => v["eventName"] == *val,
                            _ => unreachable!(),
                        })
                })
                .map(|(id, t, _)| (*t, id.as_str()))
                .collect();
            want.sort_by(|a, b| b.cmp(a));
            let want: Vec<&str> = want.into_iter().map(|(_, id)| id).collect();
            assert_eq!(
                lookup_ids(h, 7, &attrs, window),
                want,
                "{attrs:?} {window:?}"
            );
            assert!(
                lookup_ids(h, 9, &attrs, window).is_empty(),
                "another account's events"
            );
        }
    }

    #[test]
    fn time_read_only_and_category_lookups_find_exactly_the_matching_events() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        let all = mixed(0, 300);
        let store_range = |range: std::ops::Range<usize>| {
            let refs: Vec<&str> = all[range].iter().map(|(_, _, r)| r.get()).collect();
            crate::ingest_blocking(&h, 7, &refs).unwrap()
        };
        assert_eq!(store_range(0..200).accepted, 200);
        // Half duplicates: their slots stay in the new blocks, not live.
        let r = store_range(100..300);
        assert_eq!((r.accepted, r.duplicate), (100, 100));
        check_class_lookups(&h, &all);
        h.merge_blocking().unwrap();
        check_class_lookups(&h, &all);
        drop(h);
        let h = open(dir.path());
        check_class_lookups(&h, &all);
    }

    #[test]
    fn duplicates_are_detected_within_a_batch_and_across_requests() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path());
        let mut raws = events("2026-01-01", 3, "d");
        raws.extend(events("2026-01-01", 3, "d"));
        let r = store(&h, &raws);
        assert_eq!((r.accepted, r.duplicate), (3, 3));
        assert_eq!(store(&h, &events("2026-01-01", 3, "d")).duplicate, 3);
        // The same eventID on another day is a different record, kept as evidence.
        assert_eq!(store(&h, &events("2026-01-02", 1, "d")).accepted, 1);
        // Another account's identical ids are its own.
        let refs: Vec<Box<RawValue>> = events("2026-01-01", 3, "d");
        let refs: Vec<&str> = refs.iter().map(|r| r.get()).collect();
        assert_eq!(crate::ingest_blocking(&h, 8, &refs).unwrap().accepted, 3);
        // The writer survives a reopen with its sequence intact.
        drop(h);
        let h = open(dir.path());
        let r = store(&h, &events("2026-01-03", 2, "e"));
        assert_eq!(r.accepted, 2);
        assert_eq!(h.totals().unwrap(), (9, 3));
        // Ids merged before the reopen are found again (the day's filter loads from its table).
        let r = store(&h, &events("2026-01-01", 4, "d"));
        assert_eq!((r.accepted, r.duplicate), (1, 3));
    }
}
