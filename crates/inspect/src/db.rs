//! The advisory database: OSV advisories and the CISA KEV catalogue in one SQLite file, indexed
//! by (ecosystem, package). Each advisory is stored once, zstd-compressed, with the hash of its
//! bytes, so importing the same data again changes nothing and says so.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::inventory::InventoryError;
use crate::osv::Advisory;

/// Largest advisory accepted (the biggest real OSV records are a few hundred KB).
const MAX_ADVISORY_BYTES: u64 = 8 << 20;
/// Largest uncompressed total read from one zip (OSV's biggest all.zip is ~1.5 GB unpacked;
/// ours are far smaller — this bounds a zip bomb).
const MAX_ZIP_TOTAL: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Db(#[from] mamori_core::db::DbError),
    #[error("advisory database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

fn input(path: &str, message: impl std::fmt::Display) -> DbError {
    DbError::Input {
        path: path.to_string(),
        message: message.to_string(),
    }
}

const MIGRATIONS: &[&str] = &["
CREATE TABLE advisories (
    id        TEXT PRIMARY KEY,
    modified  TEXT NOT NULL,
    withdrawn TEXT,
    sha256    TEXT NOT NULL,
    source    TEXT NOT NULL,
    -- the record's JSON, zstd-compressed, and its uncompressed size
    doc       BLOB NOT NULL,
    size      INTEGER NOT NULL
);
CREATE TABLE affected (
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    advisory  TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, advisory)
) WITHOUT ROWID;
CREATE INDEX affected_by_advisory ON affected (advisory);
CREATE TABLE kev (
    cve        TEXT PRIMARY KEY,
    date_added TEXT NOT NULL,
    due_date   TEXT,
    ransomware TEXT,
    name       TEXT
);
CREATE TABLE imports (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    source    TEXT NOT NULL,
    added     INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    rejected  INTEGER NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"];

/// What one import did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub withdrawn: usize,
    pub unchanged: usize,
    pub kev: usize,
    /// Files that were not advisories, with the reason (nothing else is lost because of them).
    pub rejected: Vec<String>,
}

impl ImportReport {
    /// Did the set of advisories change (stored inventories must be matched again)?
    pub fn changed(&self) -> bool {
        self.added + self.updated + self.withdrawn + self.kev > 0
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub path: String,
    pub advisories: i64,
    pub withdrawn: i64,
    pub by_source: Vec<(String, i64)>,
    pub kev_entries: i64,
    pub newest_modified: Option<String>,
    pub last_import: Option<String>,
}

/// An exploited-in-the-wild entry.
#[derive(Debug, Clone, Serialize)]
pub struct Kev {
    pub cve: String,
    pub date_added: String,
}

pub struct AdvisoryDb {
    conn: Connection,
    path: String,
    /// One zstd context for all reads (a context per call costs a large allocation each).
    decompressor: std::cell::RefCell<zstd::bulk::Decompressor<'static>>,
}

impl AdvisoryDb {
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| input(&dir.display().to_string(), format!("cannot create: {e}")))?;
        }
        let mut conn = mamori_core::db::open(path)?;
        mamori_core::db::migrate(&mut conn, path, MIGRATIONS)?;
        let decompressor =
            zstd::bulk::Decompressor::new().map_err(|e| input(&path.display().to_string(), e))?;
        Ok(Self {
            conn,
            path: path.display().to_string(),
            decompressor: std::cell::RefCell::new(decompressor),
        })
    }

    /// Imports OSV JSON files, directories of them (recursively), OSV `all.zip` archives and
    /// the CISA KEV catalogue. One transaction per input path: an input that cannot be read at
    /// all changes nothing; single bad records inside it are rejected and listed.
    pub fn import(&mut self, path: &Path) -> Result<ImportReport, DbError> {
        let mut report = ImportReport::default();
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| input(&shown, e))?;
        let mut z = zstd::bulk::Compressor::new(9).map_err(|e| input(&shown, e))?;
        let tx = self.conn.transaction()?;
        if meta.is_dir() {
            // Links inside the folder are not followed (core::files' one policy).
            let w = mamori_core::files::walk(
                &[path.to_path_buf()],
                |p| {
                    let n = p.to_string_lossy();
                    n.ends_with(".json") || n.ends_with(".zip")
                },
                |_| false,
            );
            if let Some(e) = w.errors.first() {
                return Err(input(&shown, e));
            }
            for f in w.files {
                import_file(&tx, &mut z, &f.path, &mut report)?;
            }
        } else {
            import_file(&tx, &mut z, path, &mut report)?;
        }
        tx.execute(
            "INSERT INTO imports (at, source, added, updated, withdrawn, unchanged, rejected) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                now(),
                shown,
                report.added as i64,
                report.updated as i64,
                report.withdrawn as i64,
                report.unchanged as i64,
                report.rejected.len() as i64
            ],
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// The advisories naming `name` in `ecosystem` (an exact OSV ecosystem string, or the
    /// ecosystem without its release for distributions, e.g. `Debian:12` also finds `Debian`).
    pub fn for_package(&self, ecosystem: &str, name: &str) -> Result<Vec<Advisory>, DbError> {
        let mut st = self.conn.prepare_cached(
            "SELECT a.doc, a.size FROM affected f JOIN advisories a ON a.id = f.advisory \
             WHERE f.ecosystem = ?1 AND f.name = ?2 AND a.withdrawn IS NULL",
        )?;
        let docs: Vec<(Vec<u8>, i64)> = st
            .query_map(params![ecosystem, name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut dec = self.decompressor.borrow_mut();
        docs.iter()
            .map(|(d, size)| {
                let raw = dec
                    .decompress(d, (*size).clamp(0, MAX_ADVISORY_BYTES as i64) as usize)
                    .map_err(|e| input(&self.path, format!("a stored advisory is corrupt: {e}")))?;
                serde_json::from_slice(&raw).map_err(|e| input(&self.path, e))
            })
            .collect()
    }

    pub fn kev(&self, cve: &str) -> Result<Option<Kev>, DbError> {
        Ok(self
            .conn
            .prepare_cached("SELECT cve, date_added FROM kev WHERE cve = ?1")?
            .query_row([cve], |r| {
                Ok(Kev {
                    cve: r.get(0)?,
                    date_added: r.get(1)?,
                })
            })
            .optional()?)
    }

    /// A number that changes whenever the advisories or KEV entries change.
    pub fn generation(&self) -> Result<i64, DbError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0) FROM imports WHERE added + updated + withdrawn > 0",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn status(&self) -> Result<Status, DbError> {
        let c = &self.conn;
        let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
        let mut st = c.prepare(
            "SELECT source, COUNT(*) FROM advisories WHERE withdrawn IS NULL GROUP BY source ORDER BY 2 DESC",
        )?;
        let by_source = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Status {
            path: self.path.clone(),
            advisories: count("SELECT COUNT(*) FROM advisories WHERE withdrawn IS NULL")?,
            withdrawn: count("SELECT COUNT(*) FROM advisories WHERE withdrawn IS NOT NULL")?,
            by_source,
            kev_entries: count("SELECT COUNT(*) FROM kev")?,
            newest_modified: c
                .query_row("SELECT MAX(modified) FROM advisories", [], |r| r.get(0))
                .optional()?
                .flatten(),
            last_import: c
                .query_row("SELECT MAX(at) FROM imports", [], |r| r.get(0))
                .optional()?
                .flatten(),
        })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn import_file(
    tx: &rusqlite::Transaction<'_>,
    z: &mut zstd::bulk::Compressor<'_>,
    path: &Path,
    report: &mut ImportReport,
) -> Result<(), DbError> {
    let shown = path.display().to_string();
    if shown.ends_with(".zip") {
        let file =
            std::io::BufReader::new(std::fs::File::open(path).map_err(|e| input(&shown, e))?);
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| input(&shown, format!("not a zip archive: {e}")))?;
        let mut total = 0u64;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| input(&shown, e))?;
            let name = entry.name().to_string();
            if !entry.is_file() || !name.ends_with(".json") {
                continue;
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_ADVISORY_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| input(&format!("{shown}!{name}"), e))?;
            total += bytes.len() as u64;
            if total > MAX_ZIP_TOTAL {
                return Err(input(
                    &shown,
                    "more than 4 GiB uncompressed: refusing (zip bomb?)",
                ));
            }
            if bytes.len() as u64 > MAX_ADVISORY_BYTES {
                report
                    .rejected
                    .push(format!("{shown}!{name}: larger than 8 MiB"));
                continue;
            }
            import_json(tx, z, &format!("{shown}!{name}"), &bytes, report)?;
        }
        return Ok(());
    }
    let size = std::fs::metadata(path).map_err(|e| input(&shown, e))?.len();
    // The KEV catalogue is a few MB; an OSV record far less.
    if size > 64 << 20 {
        report.rejected.push(format!("{shown}: larger than 64 MiB"));
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| input(&shown, e))?;
    import_json(tx, z, &shown, &bytes, report)
}

fn import_json(
    tx: &rusqlite::Transaction<'_>,
    z: &mut zstd::bulk::Compressor<'_>,
    what: &str,
    bytes: &[u8],
    report: &mut ImportReport,
) -> Result<(), DbError> {
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            report.rejected.push(format!("{what}: not JSON ({e})"));
            return Ok(());
        }
    };
    if v.get("vulnerabilities").is_some() && v.get("catalogVersion").is_some() {
        return import_kev(tx, what, &v, report);
    }
    if v.get("id").is_none() {
        // Schemas and other JSON beside the advisories.
        report
            .rejected
            .push(format!("{what}: not an OSV record (no \"id\")"));
        return Ok(());
    }
    let adv: Advisory = match serde_json::from_value(v) {
        Ok(a) => a,
        Err(e) => {
            report
                .rejected
                .push(format!("{what}: not an OSV record ({e})"));
            return Ok(());
        }
    };
    let sha = hex::encode(Sha256::digest(bytes));
    let existing: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT sha256, withdrawn FROM advisories WHERE id = ?1",
            [&adv.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match &existing {
        Some((s, _)) if *s == sha => {
            report.unchanged += 1;
            return Ok(());
        }
        Some((_, was_withdrawn)) => {
            if adv.withdrawn.is_some() && was_withdrawn.is_none() {
                report.withdrawn += 1;
            } else {
                report.updated += 1;
            }
        }
        None if adv.withdrawn.is_some() => report.withdrawn += 1,
        None => report.added += 1,
    }
    let source = adv.id.split('-').next().unwrap_or("OSV").to_string();
    let doc = z.compress(bytes).map_err(|e| input(what, e))?;
    tx.execute(
        "INSERT INTO advisories (id, modified, withdrawn, sha256, source, doc, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT(id) DO UPDATE SET modified = ?2, withdrawn = ?3, sha256 = ?4, source = ?5, doc = ?6, size = ?7",
        params![adv.id, adv.modified, adv.withdrawn, sha, source, doc, bytes.len() as i64],
    )?;
    tx.execute("DELETE FROM affected WHERE advisory = ?1", [&adv.id])?;
    let mut seen: HashMap<(String, String), ()> = HashMap::new();
    for a in &adv.affected {
        let Some(p) = &a.package else { continue };
        let name = crate::matcher::index_name(&p.ecosystem, &p.name);
        let eco = crate::matcher::index_ecosystem(&p.ecosystem);
        if seen.insert((eco.clone(), name.clone()), ()).is_none() {
            tx.execute(
                "INSERT OR IGNORE INTO affected (ecosystem, name, advisory) VALUES (?1, ?2, ?3)",
                params![eco, name, adv.id],
            )?;
        }
    }
    Ok(())
}

fn import_kev(
    tx: &rusqlite::Transaction<'_>,
    what: &str,
    v: &serde_json::Value,
    report: &mut ImportReport,
) -> Result<(), DbError> {
    let Some(list) = v["vulnerabilities"].as_array() else {
        report.rejected.push(format!(
            "{what}: KEV catalogue without a vulnerabilities array"
        ));
        return Ok(());
    };
    for e in list {
        let Some(cve) = e["cveID"].as_str() else {
            continue;
        };
        let changed = tx.execute(
            "INSERT INTO kev (cve, date_added, due_date, ransomware, name) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(cve) DO UPDATE SET date_added = ?2, due_date = ?3, ransomware = ?4, name = ?5 \
             WHERE date_added IS NOT ?2 OR due_date IS NOT ?3 OR ransomware IS NOT ?4 OR name IS NOT ?5",
            params![
                cve,
                e["dateAdded"].as_str().unwrap_or(""),
                e["dueDate"].as_str(),
                e["knownRansomwareCampaignUse"].as_str(),
                e["vulnerabilityName"].as_str()
            ],
        )?;
        report.kev += changed;
    }
    Ok(())
}
