//! The merged event ids of one day, as sorted runs: deduplication on (account, eventID) and
//! EventId lookups.
//!
//! Each merge of the staged index writes the ids it staged for a day as one **run**: entries
//! (h, h2, seq) sorted by (h, h2), cut into chunks of [`CHUNK`] entries, one row per chunk in
//! `idrun_YYYYMMDD(run, last_h, last_h2, data)`, keyed by the chunk's last entry. Finding an id
//! in a run is one B-tree seek (the first chunk whose last entry is not below it) and a binary
//! search in that chunk.
//!
//! Why not one row per id: ids are SHA-256 derived, so a merge inserts them all over the
//! day's B-tree; every merge dirtied most of its leaf pages, which then went through the WAL and
//! back (the ids were ~40 % of the single writer's time). A run is written front to back, once.
//!
//! Runs are registered in `id_runs(day, run, ids)`. After a merge adds a run, the newest runs
//! of the day are combined while the newest holds at least half as many ids as the one before it
//! (a binary counter), so a day has O(log n) runs and each id is rewritten O(log n) times; runs
//! past [`MAX_COMBINED`] ids are left alone so one combination never stalls the writer long.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Entries per chunk row: 32 × 24 bytes stay within one B-tree cell of a 4 KiB page.
pub(crate) const CHUNK: usize = 32;
/// Runs are not combined into one larger than this.
const MAX_COMBINED: i64 = 4_000_000;
const ENTRY: usize = 24;

/// One merged id: (h, h2) → seq.
pub(crate) type Entry = (i64, i64, i64);

pub(crate) fn table(day: u32) -> String {
    format!("idrun_{day:08}")
}

pub(crate) fn create_sql(day: u32) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (run INTEGER NOT NULL, last_h INTEGER NOT NULL, last_h2 INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run, last_h, last_h2)) WITHOUT ROWID;",
        table(day)
    )
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY);
    for &(h, h2, seq) in entries {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&h2.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
    }
    out
}

/// The entries of a chunk; `None` when its length is not a whole number of entries.
fn decode(data: &[u8]) -> Option<impl Iterator<Item = Entry> + '_> {
    if !data.len().is_multiple_of(ENTRY) {
        return None;
    }
    let word = |b: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        i64::from_le_bytes(w)
    };
    Some(
        data.chunks_exact(ENTRY)
            .map(move |e| (word(e, 0), word(e, 1), word(e, 2))),
    )
}

fn damaged(day: u32, run: i64) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(
        0,
        format!(
            "{} run {run}: chunk length is not a whole number of entries",
            table(day)
        ),
        rusqlite::types::Type::Blob,
    )
}

/// The runs of `day`, oldest first: (run, ids).
pub(crate) fn runs(conn: &Connection, day: u32) -> Result<Vec<(i64, i64)>, rusqlite::Error> {
    let mut st = conn.prepare_cached("SELECT run, ids FROM id_runs WHERE day = ?1 ORDER BY run")?;
    let rows = st.query_map([day], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Writes `entries` (sorted by (h, h2), no two alike) as a new run of `day` and combines runs
/// as the policy says. The day's table must exist.
pub(crate) fn add_run(
    tx: &Transaction<'_>,
    day: u32,
    entries: &[Entry],
) -> Result<(), rusqlite::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let run: i64 = tx.query_row("SELECT coalesce(max(run), 0) + 1 FROM id_runs", [], |r| {
        r.get(0)
    })?;
    write_run(tx, day, run, entries)?;
    combine(tx, day)
}

fn write_run(
    tx: &Transaction<'_>,
    day: u32,
    run: i64,
    entries: &[Entry],
) -> Result<(), rusqlite::Error> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO {} (run, last_h, last_h2, data) VALUES (?1, ?2, ?3, ?4)",
        table(day)
    ))?;
    for chunk in entries.chunks(CHUNK) {
        let &(h, h2, _) = chunk.last().expect("chunks are never empty");
        insert.execute(params![run, h, h2, encode(chunk)])?;
    }
    tx.prepare_cached("INSERT INTO id_runs (day, run, ids) VALUES (?1, ?2, ?3)")?
        .execute(params![day, run, entries.len() as i64])?;
    Ok(())
}

/// Combines the newest two runs while the newest holds at least half as many ids as the one
/// before it and the result stays under [`MAX_COMBINED`].
fn combine(tx: &Transaction<'_>, day: u32) -> Result<(), rusqlite::Error> {
    loop {
        let runs = runs(tx, day)?;
        let [.., (older, older_ids), (newer, newer_ids)] = runs[..] else {
            return Ok(());
        };
        if newer_ids * 2 < older_ids || older_ids + newer_ids > MAX_COMBINED {
            return Ok(());
        }
        let mut entries = Vec::with_capacity((older_ids + newer_ids) as usize);
        for run in [older, newer] {
            read_run(tx, day, run, |e| entries.push(e))?;
        }
        // Each run is sorted: a stable sort of two sorted halves is a merge.
        entries.sort();
        entries.dedup_by_key(|e| (e.0, e.1));
        for run in [older, newer] {
            tx.execute(&format!("DELETE FROM {} WHERE run = ?1", table(day)), [run])?;
            tx.execute(
                "DELETE FROM id_runs WHERE day = ?1 AND run = ?2",
                params![day, run],
            )?;
        }
        write_run(tx, day, newer, &entries)?;
    }
}

fn read_run(
    conn: &Connection,
    day: u32,
    run: i64,
    mut f: impl FnMut(Entry),
) -> Result<(), rusqlite::Error> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT data FROM {} WHERE run = ?1 ORDER BY last_h, last_h2",
        table(day)
    ))?;
    let mut rows = st.query([run])?;
    while let Some(row) = rows.next()? {
        let data = row.get_ref(0)?.as_blob()?;
        decode(data)
            .ok_or_else(|| damaged(day, run))?
            .for_each(&mut f);
    }
    Ok(())
}

/// Every merged id of `day`, run by run.
pub(crate) fn for_each(
    conn: &Connection,
    day: u32,
    mut f: impl FnMut(Entry),
) -> Result<(), rusqlite::Error> {
    for (run, _) in runs(conn, day)? {
        read_run(conn, day, run, &mut f)?;
    }
    Ok(())
}

/// The seq of (h, h2) among `day`'s runs.
pub(crate) fn find(
    conn: &Connection,
    day: u32,
    (h, h2): (i64, i64),
) -> Result<Option<i64>, rusqlite::Error> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT data FROM {} WHERE run = ?1 AND (last_h, last_h2) >= (?2, ?3) ORDER BY last_h, last_h2 LIMIT 1",
        table(day)
    ))?;
    for (run, _) in runs(conn, day)?.into_iter().rev() {
        let data: Option<Vec<u8>> = st.query_row(params![run, h, h2], |r| r.get(0)).optional()?;
        let Some(data) = data else { continue };
        let entries: Vec<Entry> = decode(&data).ok_or_else(|| damaged(day, run))?.collect();
        if let Ok(i) = entries.binary_search_by(|e| (e.0, e.1).cmp(&(h, h2))) {
            return Ok(Some(entries[i].2));
        }
    }
    Ok(None)
}

/// Forgets the runs of days before `oldest_day` (their tables are dropped by the caller).
pub(crate) fn forget_before(tx: &Transaction<'_>, oldest_day: u32) -> Result<(), rusqlite::Error> {
    tx.execute("DELETE FROM id_runs WHERE day < ?1", [oldest_day])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE id_runs (day INTEGER NOT NULL, run INTEGER NOT NULL, ids INTEGER NOT NULL, PRIMARY KEY (day, run));",
        )
        .unwrap();
        c.execute_batch(&create_sql(1)).unwrap();
        c
    }

    fn entry(i: i64) -> Entry {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Few distinct h values, so equal h with different h2 straddle chunk boundaries.
        ((x % 7) as i64 - 3, x.rotate_left(17) as i64, i)
    }

    fn add(c: &mut Connection, range: std::ops::Range<i64>) {
        let mut e: Vec<Entry> = range.map(entry).collect();
        e.sort();
        let tx = c.transaction().unwrap();
        add_run(&tx, 1, &e).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn every_id_is_found_in_whichever_run_holds_it_and_no_other_is() {
        let mut c = db();
        let sizes = |c: &Connection| runs(c, 1).unwrap().iter().map(|r| r.1).collect::<Vec<_>>();
        // Runs of falling sizes stay apart; one at least half its neighbour combines with it.
        add(&mut c, 0..1000);
        add(&mut c, 1000..1300);
        add(&mut c, 1300..1400);
        assert_eq!(sizes(&c), vec![1000, 300, 100]);
        add(&mut c, 1400..1490);
        assert_eq!(sizes(&c), vec![1000, 490], "100 + 90, then 300 + 190");
        add(&mut c, 1490..1500);
        assert_eq!(sizes(&c), vec![1000, 490, 10]);
        for i in 0..1500 {
            let (h, h2, seq) = entry(i);
            assert_eq!(find(&c, 1, (h, h2)).unwrap(), Some(seq), "id {i}");
        }
        for i in 1500..3000 {
            let (h, h2, _) = entry(i);
            assert_eq!(find(&c, 1, (h, h2)).unwrap(), None, "id {i}");
        }
        let mut n = 0;
        for_each(&c, 1, |_| n += 1).unwrap();
        assert_eq!(n, 1500);
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_miss() {
        let mut c = db();
        add(&mut c, 0..10);
        c.execute(&format!("UPDATE {} SET data = x'0102'", table(1)), [])
            .unwrap();
        let (h, h2, _) = entry(3);
        assert!(find(&c, 1, (h, h2)).is_err());
    }
}
