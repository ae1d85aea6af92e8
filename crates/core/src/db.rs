//! The SQLite handle: one writer, many readers, WAL, and a forward-only migration runner.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer mamori (schema {found}, this build knows {known}); upgrade mamori"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("migration {step} of {path} failed: {source}")]
    Migrate {
        path: String,
        step: usize,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("stored data is damaged: {0}")]
    Damaged(String),
}

/// Takes group and other permissions off `dir` and every entry directly in it (links are
/// left alone): the data directory holds secrets, sealed or hashed, and every tenant's data.
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = |p: &Path, m: &std::fs::Metadata| -> std::io::Result<()> {
            let mode = m.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        };
        private(dir, &std::fs::metadata(dir)?)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let m = entry.metadata()?;
            if !m.file_type().is_symlink() {
                private(&entry.path(), &m)?;
            }
        }
    }
    Ok(())
}

/// Opens (creating if needed) a database file with the pragmas every mamori store uses:
/// WAL (readers never block the writer), `synchronous=FULL` (a commit is on disk before it is
/// acknowledged), incremental auto-vacuum (dropped partitions give their pages back to the OS),
/// and a busy timeout so readers wait rather than fail during checkpoints.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    open_with_page_size(path, None)
}

/// [`open`], creating a new database with pages of `page_size` bytes (a power of two from 512
/// to 65536). An existing database keeps the page size it was created with.
pub fn open_with_page_size(path: &Path, page_size: Option<u32>) -> Result<Connection, DbError> {
    let p = path.display().to_string();
    let conn = Connection::open(path).map_err(|source| DbError::Open {
        path: p.clone(),
        source,
    })?;
    // 0600 whatever the umask (SQLite gives its -wal and -shm files the database's mode).
    #[cfg(unix)]
    if let Ok(m) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = m.permissions().mode();
        if mode & 0o077 != 0 {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700));
        }
    }
    if let Some(size) = page_size {
        // Only takes effect before the first table exists (and before WAL mode is set below).
        conn.execute_batch(&format!("PRAGMA page_size = {size};"))?;
    }
    // auto_vacuum only takes effect before the first table exists; harmless afterwards.
    conn.execute_batch(
        "PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 10000;
         PRAGMA cache_size = -32768;",
    )
    .map_err(|source| DbError::Open { path: p, source })?;
    Ok(conn)
}

/// Applies `steps[user_version..]` in one transaction each and bumps `user_version`.
pub fn migrate(conn: &mut Connection, path: &Path, steps: &[&str]) -> Result<(), DbError> {
    let p = path.display().to_string();
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = steps.len() as i64;
    if current > known {
        return Err(DbError::TooNew {
            path: p,
            found: current,
            known,
        });
    }
    for (i, sql) in steps.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|source| DbError::Migrate {
            path: p.clone(),
            step: i + 1,
            source,
        })?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// A bounded pool of read-only connections. SQLite readers in WAL mode see the last committed
/// state and never block the writer. At most `max` connections exist (each keeps its own page
/// cache); a caller past that waits for one to come back — memory stays bounded however many
/// requests read at once, and on a machine of few cores more readers would not go faster.
pub struct ReadPool {
    path: std::path::PathBuf,
    max: usize,
    /// Idle connections, and how many exist in all.
    state: Mutex<(Vec<Connection>, usize)>,
    returned: std::sync::Condvar,
}

/// Each reader's page cache, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;

impl ReadPool {
    /// A pool of at most twice the cores' worth of readers (4 to 16).
    pub fn new(path: &Path) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_max(path, (cores * 2).clamp(4, 16))
    }

    pub fn with_max(path: &Path, max: usize) -> Self {
        Self {
            path: path.to_path_buf(),
            max: max.max(1),
            state: Mutex::new((Vec::new(), 0)),
            returned: std::sync::Condvar::new(),
        }
    }

    fn open(&self) -> Result<Connection, DbError> {
        let c = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| DbError::Open {
            path: self.path.display().to_string(),
            source,
        })?;
        c.execute_batch(&format!(
            "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -{READER_CACHE_KIB};"
        ))?;
        Ok(c)
    }

    /// Runs `f` with a pooled connection (opened on demand up to the bound, returned after).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, DbError>) -> Result<T, DbError> {
        let conn = {
            let mut st = self.state.lock().map_err(|_| poisoned())?;
            loop {
                if let Some(c) = st.0.pop() {
                    break Some(c);
                }
                if st.1 < self.max {
                    st.1 += 1;
                    break None;
                }
                st = self.returned.wait(st).map_err(|_| poisoned())?;
            }
        };
        let conn = match conn {
            Some(c) => c,
            None => match self.open() {
                Ok(c) => c,
                Err(e) => {
                    if let Ok(mut st) = self.state.lock() {
                        st.1 -= 1;
                    }
                    self.returned.notify_one();
                    return Err(e);
                }
            },
        };
        let out = f(&conn);
        if let Ok(mut st) = self.state.lock() {
            st.0.push(conn);
        }
        self.returned.notify_one();
        out
    }
}

fn poisoned() -> DbError {
    DbError::Sql(rusqlite::Error::InvalidQuery)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_refuse_newer_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut c = open(&path).unwrap();
        migrate(&mut c, &path, &["CREATE TABLE a(x)", "CREATE TABLE b(y)"]).unwrap();
        migrate(&mut c, &path, &["CREATE TABLE a(x)", "CREATE TABLE b(y)"]).unwrap();
        let err = migrate(&mut c, &path, &["CREATE TABLE a(x)"]).unwrap_err();
        assert!(err.to_string().contains("newer mamori"), "{err}");
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn the_read_pool_never_opens_more_than_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let mut c = open(&path).unwrap();
        migrate(&mut c, &path, &["CREATE TABLE a(x)"]).unwrap();
        let pool = std::sync::Arc::new(ReadPool::with_max(&path, 2));
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, busy, most) = (pool.clone(), busy.clone(), most.clone());
                std::thread::spawn(move || {
                    pool.with(|c| {
                        let n = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        let one: i64 = c.query_row("SELECT count(*) FROM a", [], |r| r.get(0))?;
                        busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(one)
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 0);
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(pool.state.lock().unwrap().1, 2);
    }
}
