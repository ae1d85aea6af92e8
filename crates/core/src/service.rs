//! The scaffold every service's HTTP API stands on, written once:
//!
//! - [`ServiceError`]: a library error names its [`ErrorCode`]; `?` turns it into the
//!   [`ApiError`] answer (internal errors are logged in full and answered without detail).
//!   Handlers never choose a status themselves.
//! - [`blocking`]: store work (SQLite with `synchronous=FULL`) runs on a blocking thread, never
//!   on the async workers.
//! - [`Shared`]: the one store shape — the service's writer behind one lock, and a bounded
//!   pool of read-only connections, so reads never wait behind a long write.
//! - [`Auditor`]: records a successful call as a `mamori.<service>` event.
//!
//! The seam for a second metadata backend is each service's store type: API code calls its
//! methods and closures and never names `rusqlite`; only the service's `store` module does.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use rusqlite::Connection;
use serde_json::Value;

use crate::audit::AuditSink;
use crate::db::{DbError, ReadPool};
use crate::{ApiError, Caller, ErrorCode};

/// A library error that knows which kind of failure it is; the kind picks the HTTP status.
pub trait ServiceError: std::error::Error + Send + 'static {
    /// What kind of failure this is (`Internal` for anything the caller cannot fix).
    fn code(&self) -> ErrorCode;
}

impl<E: ServiceError> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.code() {
            ErrorCode::Internal => ApiError::internal(e),
            code => ApiError::new(code, e.to_string()),
        }
    }
}

impl ServiceError for DbError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

/// Runs `f` on a blocking thread and maps its error through [`ServiceError`].
pub async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: ServiceError,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// One writer and a pool of readers over one SQLite file.
///
/// Lock poisoning: a panic while writing leaves SQLite consistent (an open transaction is
/// rolled back when its handle drops), so the next writer takes the lock over rather than
/// failing every request after one bug.
pub struct Shared<W> {
    writer: Mutex<W>,
    reads: ReadPool,
}

impl<W> Shared<W> {
    /// `writer` is the service's read-write handle on the database at `path`.
    pub fn new(writer: W, path: &Path) -> Self {
        Self {
            writer: Mutex::new(writer),
            reads: ReadPool::new(path),
        }
    }

    /// The writer, held until the guard drops (for work that spans several calls).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, W> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the writer (one at a time).
    pub fn write<T, E>(&self, f: impl FnOnce(&mut W) -> Result<T, E>) -> Result<T, E> {
        f(&mut self.lock())
    }

    /// Runs `f` with a read-only connection from the pool (never waits for the writer).
    pub fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut out = None;
        self.reads.with(|c| {
            out = Some(f(c));
            Ok(())
        })?;
        out.unwrap_or_else(|| {
            Err(E::from(DbError::Damaged(
                "read pool returned nothing".into(),
            )))
        })
    }
}

impl<W: Send + 'static> Shared<W> {
    /// [`Shared::write`] on a blocking thread.
    pub async fn write_async<T, E>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut W) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: ServiceError,
    {
        let me = self.clone();
        blocking(move || me.write(f)).await
    }

    /// [`Shared::read`] on a blocking thread.
    pub async fn read_async<T, E>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: ServiceError + From<DbError>,
    {
        let me = self.clone();
        blocking(move || me.read(f)).await
    }
}

/// Records a service's successful calls as `mamori.<service>` events in the caller's trail.
#[derive(Clone)]
pub struct Auditor {
    sink: Arc<dyn AuditSink>,
    event_source: &'static str,
}

impl Auditor {
    /// `event_source` is the service's name as it appears in records, e.g. `mamori.guard`.
    pub fn new(sink: Arc<dyn AuditSink>, event_source: &'static str) -> Self {
        Self { sink, event_source }
    }

    /// Records one call; a failure to record fails the request (evidence before answers).
    pub async fn record(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        event_name: &str,
        request_parameters: Value,
        response_elements: Value,
    ) -> Result<(), ApiError> {
        crate::audit::record_call(
            &self.sink,
            caller,
            headers,
            self.event_source,
            event_name,
            request_parameters,
            response_elements,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum E {
        #[error("bad name {0:?}")]
        Bad(String),
        #[error("disk on fire")]
        Broken,
        #[error(transparent)]
        Db(#[from] DbError),
    }
    impl ServiceError for E {
        fn code(&self) -> ErrorCode {
            match self {
                E::Bad(_) => ErrorCode::BadRequest,
                _ => ErrorCode::Internal,
            }
        }
    }

    #[test]
    fn the_kind_picks_the_status_and_internal_detail_stays_in_the_log() {
        let a = ApiError::from(E::Bad("x y".into()));
        assert_eq!(a.code, ErrorCode::BadRequest);
        assert_eq!(a.message, "bad name \"x y\"");
        let b = ApiError::from(E::Broken);
        assert_eq!(b.code, ErrorCode::Internal);
        assert!(!b.message.contains("fire"), "{}", b.message);
    }

    #[test]
    fn reads_do_not_wait_for_the_writer_and_a_poisoned_writer_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut c = crate::db::open(&path).unwrap();
        crate::db::migrate(&mut c, &path, &["CREATE TABLE t(x)"]).unwrap();
        let shared = Arc::new(Shared::new(c, &path));
        let held = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            held.write(|w: &mut Connection| -> Result<(), E> {
                w.execute("INSERT INTO t VALUES (1)", [])
                    .map_err(DbError::from)?;
                tx.send(()).unwrap();
                done_rx.recv().unwrap();
                Ok(())
            })
        });
        rx.recv().unwrap();
        // The writer still holds its lock: a read answers anyway.
        let n: i64 = shared
            .read(|r| -> Result<i64, E> {
                Ok(r.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                    .map_err(DbError::from)?)
            })
            .unwrap();
        assert_eq!(n, 1);
        done_tx.send(()).unwrap();
        writer.join().unwrap().unwrap();

        let p = shared.clone();
        let _ = std::thread::spawn(move || {
            p.write(|_| -> Result<(), E> { panic!("a bug while writing") })
        })
        .join();
        shared
            .write(|w| -> Result<(), E> {
                w.execute("INSERT INTO t VALUES (2)", [])
                    .map_err(DbError::from)?;
                Ok(())
            })
            .unwrap();
    }
}
