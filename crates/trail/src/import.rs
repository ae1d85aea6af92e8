//! Importing CloudTrail log files into the event history (`mamori trail import --data-dir`):
//! which files under the named paths are log files, reading each within bounds (gzip or plain),
//! and storing its records by the same path as the HTTP API — split, validate, store.
//!
//! Folders are walked with [`mamori_core::files::walk`]: links inside them are not followed,
//! digest files beside the logs are counted and passed over, and finding nothing to import is
//! an error. Sending files to a server instead is the CLI's (it splits them into requests).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Trail;
use crate::body;
use crate::history::store::StoreError;
use crate::ingest::IngestReport;

/// Largest decompressed log file accepted (CloudTrail files are at most 50 MB compressed).
pub const MAX_FILE_BYTES: usize = mamori_core::files::DEFAULT_MAX_FILE_BYTES;

/// The largest read or gunzip buffer a preparing thread keeps between files.
const KEEP_BUFFER: usize = 32 << 20;

/// What [`find`] found under the named paths.
#[derive(Debug, Default)]
pub struct Found {
    /// Log files to import, with their sizes, in name order.
    pub files: Vec<(PathBuf, u64)>,
    /// Digest files passed over (they sit beside log files in real trees; not records).
    pub digests: usize,
    /// Files that are not `.json`, `.jsonl` or `.ndjson` (plain or `.gz`), with an example.
    pub skipped: u64,
    pub skipped_example: Option<PathBuf>,
    /// Symbolic links inside folders, not followed.
    pub links: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {0}")]
    Unreadable(String),
    #[error("no CloudTrail log files to import in {paths}{}", digests_note(*.digests))]
    Nothing { paths: String, digests: usize },
}

fn digests_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} digest files only)")
    }
}

/// Digest files sit beside log files in real trees; they are not records.
pub fn is_digest(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str() == "CloudTrail-Digest")
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("_CloudTrail-Digest_"))
}

/// CloudTrail log files and NDJSON exports of records, plain or gzip.
pub fn is_log_name(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        let n = n.strip_suffix(".gz").unwrap_or(n);
        n.ends_with(".json") || n.ends_with(".jsonl") || n.ends_with(".ndjson")
    })
}

/// The log files to import under `paths` (a named file is taken whatever its name).
pub fn find(paths: &[PathBuf]) -> Result<Found, ImportError> {
    let w = mamori_core::files::walk(paths, is_log_name, |_| false);
    if let Some(e) = w.errors.first() {
        return Err(ImportError::Unreadable(e.clone()));
    }
    let (digests, files): (Vec<_>, Vec<_>) = w.files.into_iter().partition(|f| is_digest(&f.path));
    if files.is_empty() {
        return Err(ImportError::Nothing {
            paths: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            digests: digests.len(),
        });
    }
    Ok(Found {
        files: files.into_iter().map(|f| (f.path, f.len)).collect(),
        digests: digests.len(),
        skipped: w.skipped,
        skipped_example: w.skipped_examples.into_iter().next(),
        links: w.links,
    })
}

/// Reads a file and, when it is gzip, gunzips it into this thread's buffer, which is kept from
/// file to file (a fresh 10 MB buffer per file cost a page fault per 4 KB of it); `f` gets the
/// bytes to parse. Errors say what is wrong with the file (the caller names it).
pub fn with_file<T>(path: &Path, f: impl FnOnce(&[u8]) -> Result<T, String>) -> Result<T, String> {
    thread_local! {
        static RAW: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        static GUNZIP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut raw = RAW.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut buf = GUNZIP.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let result = mamori_core::files::read_whole(path, MAX_FILE_BYTES, &mut raw, &mut buf)
        .map_err(|e| match e {
            mamori_core::files::FileError::Io { source, .. } => format!("cannot read: {source}"),
            other => other
                .to_string()
                .trim_start_matches(&format!("{}: ", path.display()))
                .to_string(),
        })
        .and_then(|gz| f(if gz { &buf } else { &raw }));
    // Kept for the next file, unless a large one made them large.
    for (slot, b) in [(&RAW, raw), (&GUNZIP, buf)] {
        if b.capacity() <= KEEP_BUFFER {
            slot.with(|s| *s.borrow_mut() = b);
        }
    }
    result
}

/// Lowers this preparing thread's priority below the writer's, once per thread. The writer is
/// the import's one serial stage: with two preparing threads and the writer on two cores, an
/// even split of the CPU left the writer runnable-but-waiting for a third of the import while
/// finished files queued for it.
fn defer_to_writer() {
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !DONE.with(|d| d.replace(true)) {
        crate::prepare::lower_priority();
    }
}

/// Reads, validates and stores one file into `account`'s history. `permit` (held while the
/// file is read and prepared, released before its commit) bounds the files prepared at once,
/// so preparing the next files overlaps the writer's work instead of waiting for it.
///
/// The outer error is the history's (fatal to the import); the inner one is the file's (it
/// is reported and the import goes on).
pub async fn store_file(
    trail: &Arc<Trail>,
    account: i64,
    path: &Path,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<Result<IngestReport, String>, StoreError> {
    let t = trail.clone();
    let p = path.to_path_buf();
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let _permit = permit;
        defer_to_writer();
        with_file(&p, |bytes| {
            let raws = body::split_records(bytes).map_err(|e| e.to_string())?;
            let mut batch = crate::PreparedBatch::new(&raws, &t.history.limits(), account);
            let events = batch.take_store_batch();
            Ok((batch, events))
        })
    })
    .await
    .map_err(|e| StoreError::Damaged(format!("preparing {}: {e}", path.display())))?;
    let (batch, events) = match prepared {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        trail.history.append_async(account, events).await?
    };
    Ok(Ok(batch.finish(&outcomes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_other_files_are_passed_over_and_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir
            .path()
            .join("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01");
        let digests = dir
            .path()
            .join("AWSLogs/123456789012/CloudTrail-Digest/us-east-1");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(&digests).unwrap();
        std::fs::write(logs.join("a.json.gz"), b"x").unwrap();
        std::fs::write(logs.join("b.jsonl"), b"x").unwrap();
        std::fs::write(logs.join("notes.txt"), b"x").unwrap();
        std::fs::write(digests.join("d.json.gz"), b"x").unwrap();
        let found = find(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.files.len(), 2);
        assert_eq!((found.digests, found.skipped), (1, 1));

        let only = find(std::slice::from_ref(&digests)).unwrap_err();
        assert!(only.to_string().contains("1 digest files only"), "{only}");
    }
}
