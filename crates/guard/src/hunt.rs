//! The offline hunt: every detector over log files, with no server — like Chainsaw or Zircolite.
//! CloudTrail files (`.json`, `.json.gz`, a `{"Records":[…]}` envelope, a JSON array or NDJSON),
//! read from files or folders (recursively). A file that cannot be read is reported with its path
//! and the hunt goes on; a record that is not a CloudTrail record is counted and reported with
//! the file and its position.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cloudtrail::{Context, detect};
use crate::finding::Findings;

/// Largest file read (after decompression).
const MAX_FILE: usize = 1 << 30;

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HuntStats {
    pub files: usize,
    pub records: u64,
    pub bad_records: u64,
    pub signals: u64,
    /// Files or records that could not be read: path (and record index) and why.
    pub problems: Vec<String>,
}

fn walk(p: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(p) {
            Ok(entries) => {
                let mut v: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                v.sort();
                for e in v {
                    walk(&e, out, problems);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", p.display())),
        },
        Ok(m) if m.is_file() => {
            let n = p.to_string_lossy();
            if n.ends_with(".json")
                || n.ends_with(".json.gz")
                || n.ends_with(".jsonl")
                || n.ends_with(".ndjson")
            {
                out.push(p.to_path_buf());
            }
        }
        Ok(_) => {}
        Err(e) => problems.push(format!("{}: {e}", p.display())),
    }
}

/// Hunts through `paths`; findings aggregate across all of them.
pub fn hunt(paths: &[PathBuf], ctx: &Context<'_>, findings: &mut Findings, now: &str) -> HuntStats {
    let mut stats = HuntStats::default();
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files, &mut stats.problems);
    }
    for f in files {
        let shown = f.display().to_string();
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) => {
                stats.problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let body = match mamori_trail::body::decompress_capped(&bytes, MAX_FILE) {
            Ok(b) => b,
            Err(e) => {
                stats.problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let raws = match mamori_trail::body::split_records(&body) {
            Ok(r) => r,
            Err(e) => {
                stats.problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        stats.files += 1;
        for (i, raw) in raws.iter().enumerate() {
            match serde_json::from_str::<mamori_trail::model::Record>(raw.get()) {
                Ok(rec) => {
                    stats.records += 1;
                    for sig in detect(&rec, ctx) {
                        stats.signals += 1;
                        findings.add(&sig, "hunt", now);
                    }
                }
                Err(e) => {
                    stats.bad_records += 1;
                    if stats.problems.len() < 1000 {
                        stats.problems.push(format!(
                            "{shown}: record {i}: not a CloudTrail record ({e})"
                        ));
                    }
                }
            }
        }
    }
    stats
}
