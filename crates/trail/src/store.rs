//! The event history: SQLite (WAL), one table pair per UTC day of eventTime.
//!
//! - `events_YYYYMMDD(seq, account, time_ms, read_only, category, record)`: the record's exact
//!   bytes, zstd-compressed; `seq` is a global, gap-free-per-commit sequence that downstream
//!   consumers (delivery, detection) follow with a committed cursor.
//! - `attrs_YYYYMMDD(account, key, value, time_ms, seq)`: one row per lookup attribute value,
//!   clustered so that "attribute = value, newest first" is one index range scan.
//! - `event_ids(account, event_id) → (day, seq)`: deduplication and EventId lookups.
//!
//! Retention drops whole days (`DROP TABLE`) and then `incremental_vacuum` gives the pages
//! back to the file system. One writer thread owns the write connection and commits groups of
//! requests together (group commit); a request is answered only after its commit, so an
//! acknowledged event survives a crash of the process.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::Utc;
use mamori_core::db::{self, DbError, ReadPool};
use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use crate::ingest::{Limits, Prepared};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the event history's writer has stopped; see the server log")]
    Closed,
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

type AppendReply = oneshot::Sender<Result<Vec<Outcome>, StoreError>>;

enum Command {
    Append {
        account: i64,
        events: Vec<Prepared>,
        reply: AppendReply,
    },
    Retain {
        oldest_day: u32,
        reply: oneshot::Sender<Result<RetainReport, StoreError>>,
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
    path: PathBuf,
    options: HistoryOptions,
}

const MIGRATIONS: &[&str] = &["
CREATE TABLE event_ids (
    account  INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    day      INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (account, event_id)
) WITHOUT ROWID;
CREATE INDEX event_ids_day ON event_ids(day);
CREATE TABLE partitions (
    day     INTEGER PRIMARY KEY,
    min_seq INTEGER NOT NULL,
    max_seq INTEGER NOT NULL,
    events  INTEGER NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('next_seq', 1);
CREATE TABLE channels (
    id         TEXT PRIMARY KEY,
    account    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account, name)
);
"];

/// Most events committed in one transaction when requests are grouped.
const GROUP_EVENTS: usize = 50_000;

impl History {
    /// Opens (creating if needed) `trail.db` in `dir` and starts the writer thread.
    pub fn open(dir: &Path, options: HistoryOptions) -> Result<Arc<Self>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Db(DbError::Open {
                path: dir.display().to_string(),
                source: rusqlite::Error::InvalidPath(format!("{e}").into()),
            })
        })?;
        let path = dir.join("trail.db");
        let mut conn = db::open(&path)?;
        db::migrate(&mut conn, &path, MIGRATIONS)?;
        conn.set_prepared_statement_cache_capacity(128);
        let (tx, rx) = sync_channel::<Command>(256);
        let writer = std::thread::Builder::new()
            .name("trail-writer".into())
            .spawn(move || Writer::new(conn).run(rx))
            .map_err(|e| {
                StoreError::Db(DbError::Open {
                    path: "trail-writer thread".into(),
                    source: rusqlite::Error::InvalidPath(format!("{e}").into()),
                })
            })?;
        Ok(Arc::new(Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            reads: ReadPool::new(&path),
            path,
            options,
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

    /// Stores `events` for `account`; resolves once they are committed (durable).
    pub fn append(
        &self,
        account: i64,
        events: Vec<Prepared>,
    ) -> Result<oneshot::Receiver<Result<Vec<Outcome>, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Append {
            account,
            events,
            reply,
        })?;
        Ok(rx)
    }

    pub async fn append_async(
        &self,
        account: i64,
        events: Vec<Prepared>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let rx = self.append(account, events)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// For callers outside an async runtime (file import, benchmarks, self-audit).
    pub fn append_blocking(
        &self,
        account: i64,
        events: Vec<Prepared>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let rx = self.append(account, events)?;
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

pub(crate) fn events_table(day: u32) -> String {
    format!("events_{day:08}")
}

pub(crate) fn attrs_table(day: u32) -> String {
    format!("attrs_{day:08}")
}

struct DaySql {
    insert_event: String,
    insert_attr: String,
}

struct Writer {
    conn: Connection,
    days: HashMap<u32, DaySql>,
}

impl Writer {
    fn new(conn: Connection) -> Self {
        Self {
            conn,
            days: HashMap::new(),
        }
    }

    fn run(mut self, rx: Receiver<Command>) {
        let mut held: Option<Command> = None;
        loop {
            let cmd = match held.take() {
                Some(c) => c,
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            match cmd {
                Command::Retain { oldest_day, reply } => {
                    let r = self.retain(oldest_day);
                    if r.is_err() {
                        self.days.clear();
                    }
                    let _ = reply.send(r);
                }
                Command::Append {
                    account,
                    events,
                    reply,
                } => {
                    let mut total = events.len();
                    let mut group = vec![(account, events, reply)];
                    while total < GROUP_EVENTS {
                        match rx.try_recv() {
                            Ok(Command::Append {
                                account,
                                events,
                                reply,
                            }) => {
                                total += events.len();
                                group.push((account, events, reply));
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    match self.append_group(&group) {
                        Ok(outcomes) => {
                            for ((_, _, reply), out) in group.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(out));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "event history commit failed; the batch was not stored");
                            self.days.clear();
                            for (_, _, reply) in group {
                                let _ = reply.send(Err(StoreError::Db(DbError::Sql(
                                    rusqlite::Error::InvalidQuery,
                                ))));
                            }
                        }
                    }
                }
            }
        }
        // A clean stop: fold the WAL back into the main file.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn ensure_day(
        tx: &Transaction<'_>,
        days: &mut HashMap<u32, DaySql>,
        day: u32,
    ) -> Result<(), rusqlite::Error> {
        if days.contains_key(&day) {
            return Ok(());
        }
        let (e, a) = (events_table(day), attrs_table(day));
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {e} (
                 seq INTEGER PRIMARY KEY, account INTEGER NOT NULL, time_ms INTEGER NOT NULL,
                 read_only INTEGER, category TEXT NOT NULL, record BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS {e}_time ON {e}(account, time_ms);
             CREATE TABLE IF NOT EXISTS {a} (
                 account INTEGER NOT NULL, key INTEGER NOT NULL, value TEXT NOT NULL,
                 time_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
                 PRIMARY KEY (account, key, value, time_ms, seq)) WITHOUT ROWID;"
        ))?;
        days.insert(
            day,
            DaySql {
                insert_event: format!("INSERT INTO {e} (seq, account, time_ms, read_only, category, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                insert_attr: format!("INSERT OR IGNORE INTO {a} (account, key, value, time_ms, seq) VALUES (?1, ?2, ?3, ?4, ?5)"),
            },
        );
        Ok(())
    }

    fn append_group(
        &mut self,
        group: &[(i64, Vec<Prepared>, AppendReply)],
    ) -> Result<Vec<Vec<Outcome>>, rusqlite::Error> {
        let tx = self.conn.transaction()?;
        let mut seq: i64 = tx.query_row(
            "SELECT value FROM counters WHERE name = 'next_seq'",
            [],
            |r| r.get(0),
        )?;
        let mut touched: HashMap<u32, (i64, i64, i64)> = HashMap::new();
        let mut all = Vec::with_capacity(group.len());
        for (account, events, _) in group {
            let mut outcomes = Vec::with_capacity(events.len());
            for p in events {
                Self::ensure_day(&tx, &mut self.days, p.day)?;
                let inserted = tx
                    .prepare_cached("INSERT OR IGNORE INTO event_ids (account, event_id, day, seq) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![account, p.event_id, p.day, seq])?;
                if inserted == 0 {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                let sql = &self.days[&p.day];
                tx.prepare_cached(&sql.insert_event)?.execute(params![
                    seq,
                    account,
                    p.time_ms,
                    p.read_only,
                    p.category.as_str(),
                    p.blob
                ])?;
                let mut insert_attr = tx.prepare_cached(&sql.insert_attr)?;
                for (attr, value) in &p.attrs {
                    insert_attr.execute(params![account, attr.code(), value, p.time_ms, seq])?;
                }
                let t = touched.entry(p.day).or_insert((seq, seq, 0));
                t.0 = t.0.min(seq);
                t.1 = t.1.max(seq);
                t.2 += 1;
                outcomes.push(Outcome::Accepted { seq });
                seq += 1;
            }
            all.push(outcomes);
        }
        for (day, (min, max, n)) in touched {
            tx.prepare_cached(
                "INSERT INTO partitions (day, min_seq, max_seq, events) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(day) DO UPDATE SET min_seq = min(min_seq, ?2), max_seq = max(max_seq, ?3), events = events + ?4",
            )?
            .execute(params![day, min, max, n])?;
        }
        tx.execute(
            "UPDATE counters SET value = ?1 WHERE name = 'next_seq'",
            params![seq],
        )?;
        tx.commit()?;
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
        let orphan_days: HashSet<u32> = {
            let mut st = tx.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'events_%'",
            )?;
            st.query_map([], |r| r.get::<_, String>(0))?
                .filter_map(|n| n.ok()?.strip_prefix("events_")?.parse().ok())
                .filter(|d| *d < oldest_day)
                .collect()
        };
        let mut days: HashSet<u32> = expired.iter().map(|(d, _)| *d).collect();
        days.extend(orphan_days);
        for day in &days {
            tx.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                events_table(*day),
                attrs_table(*day)
            ))?;
            self.days.remove(day);
        }
        tx.execute("DELETE FROM partitions WHERE day < ?1", [oldest_day])?;
        tx.execute("DELETE FROM event_ids WHERE day < ?1", [oldest_day])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::{LookupAttribute, LookupQuery};
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

    fn store(h: &History, raws: &[Box<RawValue>]) -> crate::ingest::IngestReport {
        let refs: Vec<&RawValue> = raws.iter().map(|r| r.as_ref()).collect();
        crate::ingest_blocking(h, 7, &refs).unwrap()
    }

    fn count(h: &History) -> usize {
        let q = LookupQuery {
            account: 7,
            attributes: vec![LookupAttribute::parse("EventName", "GetObject").unwrap()],
            start_ms: None,
            end_ms: None,
            max_results: 1000,
            after: None,
        };
        h.lookup(&q).unwrap().events.len()
    }

    #[test]
    fn retention_drops_whole_days_and_gives_the_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(
            dir.path(),
            HistoryOptions {
                retention_days: 0,
                max_event_bytes: 1 << 20,
            },
        )
        .unwrap();
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
    fn duplicates_are_detected_within_a_batch_and_across_days() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(
            dir.path(),
            HistoryOptions {
                retention_days: 0,
                max_event_bytes: 1 << 20,
            },
        )
        .unwrap();
        let mut raws = events("2026-01-01", 3, "d");
        raws.extend(events("2026-01-02", 3, "d"));
        let r = store(&h, &raws);
        assert_eq!((r.accepted, r.duplicate), (3, 3));
        // The writer survives a reopen with its sequence intact.
        drop(h);
        let h = History::open(
            dir.path(),
            HistoryOptions {
                retention_days: 0,
                max_event_bytes: 1 << 20,
            },
        )
        .unwrap();
        let r = store(&h, &events("2026-01-03", 2, "e"));
        assert_eq!(r.accepted, 2);
        assert_eq!(h.totals().unwrap(), (5, 2));
    }
}
