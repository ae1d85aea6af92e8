//! `mamori trail import`: CloudTrail log files into the event history, through a server
//! (`--endpoint`, the default) or straight into a data directory (`--data-dir`) when no server
//! runs. Both take the same path as the HTTP API: split → validate → store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mamori_core::AccountId;
use mamori_trail::body;
use mamori_trail::ingest::{IngestReport, Status};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::client::Client;
use crate::output::sanitize;
use crate::{Exit, Format, Remote, usage};

/// Records per request in server mode.
const CHUNK: usize = 2_000;
/// Rejection reasons shown per file.
const SHOW_REASONS: usize = 5;
/// Rejection reasons shown in all (table output).
const MAX_SHOWN_TOTAL: usize = 10;

#[derive(Args)]
pub struct ImportArgs {
    /// Files or directories (recursive): .json and .json.gz, e.g. an AWSLogs/ tree
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Write straight into this data directory instead of sending to a server (no server may
    /// be running on it). Deliberately not read from MAMORI_DATA_DIR, which configures `serve`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Configuration file (retention, limits) for --data-dir mode
    #[arg(long, env = "MAMORI_CONFIG")]
    config: Option<PathBuf>,
    /// Files prepared (read, decompressed, validated) at once
    #[arg(long, default_value_t = 3)]
    pub(crate) jobs: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: Format,
}

impl ImportArgs {
    /// Sending `paths` to the server, as `mamori trail import` does.
    pub(crate) fn to_server(paths: Vec<PathBuf>) -> Self {
        ImportArgs {
            paths,
            data_dir: None,
            config: None,
            jobs: 3,
            format: Format::Table,
        }
    }
}

#[derive(Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileSummary {
    file: String,
    pub(crate) accepted: usize,
    pub(crate) duplicate: usize,
    pub(crate) rejected: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejections: Vec<serde_json::Value>,
}

impl FileSummary {
    fn from_report(file: &Path, r: &IngestReport) -> Self {
        let rejections = r
            .results
            .iter()
            .filter(|x| x.status == Status::Rejected)
            .take(SHOW_REASONS)
            .map(|x| json!({"index": x.index, "eventId": x.event_id, "reason": x.reason}))
            .collect();
        Self {
            file: file.display().to_string(),
            accepted: r.accepted,
            duplicate: r.duplicate,
            rejected: r.rejected,
            error: None,
            rejections,
        }
    }

    fn failed(file: &Path, error: String) -> Self {
        Self {
            file: file.display().to_string(),
            error: Some(error),
            ..Default::default()
        }
    }
}

/// Files to import (sorted), and how many digest files were skipped: what is passed over is
/// said on standard error, and finding nothing to import is an error.
pub(crate) fn collect(paths: &[PathBuf]) -> anyhow::Result<(Vec<(PathBuf, u64)>, usize)> {
    let found = mamori_trail::import::find(paths).map_err(|e| usage(sanitize(&e.to_string())))?;
    if let Some(example) = &found.skipped_example {
        eprintln!(
            "note: skipped {} file(s) that are not .json, .jsonl or .ndjson (plain or .gz), e.g. {}",
            found.skipped,
            sanitize(&example.display().to_string())
        );
    }
    if let Some(link) = found.links.first() {
        eprintln!(
            "note: skipped {} symbolic link(s) inside folders (not followed), e.g. {}",
            found.links.len(),
            sanitize(&link.display().to_string())
        );
    }
    Ok((found.files, found.digests))
}

pub(crate) use mamori_trail::import::with_file;

pub(crate) enum Target {
    Direct {
        trail: Arc<mamori_trail::Trail>,
        account: i64,
        _lock: mamori_server::DataDirLock,
    },
    Server(Arc<Client>),
}

/// Reads, validates and stores one file. `prep` bounds the files being prepared at once; a file
/// waiting for its commit holds no permit, so preparing the next files overlaps the writer's
/// work instead of waiting for it (without that, all files moved in lock-step: every core
/// waited on the writer, then the writer waited on every core).
async fn import_file(
    target: Arc<Target>,
    path: PathBuf,
    prep: Arc<tokio::sync::Semaphore>,
) -> anyhow::Result<FileSummary> {
    let permit = prep.acquire_owned().await?;
    match &*target {
        Target::Direct { trail, account, .. } => Ok(
            match mamori_trail::import::store_file(trail, *account, &path, permit).await? {
                Ok(report) => FileSummary::from_report(&path, &report),
                Err(e) => FileSummary::failed(&path, e),
            },
        ),
        Target::Server(client) => {
            let p = path.clone();
            let chunks =
                tokio::task::spawn_blocking(move || -> Result<Vec<(usize, Vec<u8>)>, String> {
                    let _permit = permit;
                    with_file(&p, |bytes| {
                        let raws = body::split_records(bytes).map_err(|e| e.to_string())?;
                        Ok(raws
                            .chunks(CHUNK)
                            .enumerate()
                            .map(|(i, c)| {
                                let mut out = Vec::with_capacity(
                                    c.iter().map(|r| r.len() + 1).sum::<usize>() + 2,
                                );
                                out.push(b'[');
                                for (j, r) in c.iter().enumerate() {
                                    if j > 0 {
                                        out.push(b',');
                                    }
                                    out.extend_from_slice(r.as_bytes());
                                }
                                out.push(b']');
                                (i * CHUNK, out)
                            })
                            .collect())
                    })
                })
                .await?;
            let chunks = match chunks {
                Ok(c) => c,
                Err(e) => return Ok(FileSummary::failed(&path, e)),
            };
            let mut report = IngestReport::default();
            for (offset, chunk) in chunks {
                let v = client.post_raw("/v1/trail/events", chunk).await?;
                let part: ServerReport = serde_json::from_value(v)
                    .context("the server's ingest answer has an unexpected shape")?;
                report.accepted += part.accepted;
                report.duplicate += part.duplicate;
                report.rejected += part.rejected;
                for mut r in part.results {
                    r.index += offset;
                    report.results.push(r);
                }
            }
            Ok(FileSummary::from_report(&path, &report))
        }
    }
}

#[derive(serde::Deserialize)]
struct ServerReport {
    accepted: usize,
    duplicate: usize,
    rejected: usize,
    results: Vec<mamori_trail::ingest::EventResult>,
}

pub(crate) fn open_direct(
    dir: &Path,
    config: Option<&Path>,
    account: Option<&str>,
) -> anyhow::Result<Target> {
    let mut cfg = crate::load_config(config)?;
    cfg.data_dir = dir.to_path_buf();
    let lock = mamori_server::lock_data_dir(dir).map_err(|e| Exit(3, e.to_string()))?;
    let org = mamori_org::Org::open(dir)?;
    if let Some(b) = org.bootstrap()? {
        eprintln!(
            "Created organization {} with management account {} in {}.",
            b.organization,
            b.account,
            dir.display()
        );
        eprintln!("Admin API key (shown only this once): {}", b.token);
    }
    let (_, mgmt) = org.organization()?;
    let account = match account {
        None => mgmt,
        Some(a) => {
            let id: AccountId = a.parse().map_err(|e| usage(format!("--account: {e}")))?;
            if !org.account_exists(id)? {
                return Err(usage(format!(
                    "account {id} does not exist in {}",
                    dir.display()
                )));
            }
            id
        }
    };
    let trail = mamori_trail::Trail::open(dir, &cfg.trail)?;
    Ok(Target::Direct {
        trail,
        account: account.as_i64(),
        _lock: lock,
    })
}

pub async fn run(a: ImportArgs, remote: &Remote) -> anyhow::Result<u8> {
    let (files, digests) = collect(&a.paths)?;
    let target = Arc::new(match &a.data_dir {
        Some(dir) => open_direct(dir, a.config.as_deref(), remote.account.as_deref())?,
        None => Target::Server(Arc::new(Client::from_remote(remote)?)),
    });
    let started = Instant::now();
    let (summaries, totals, failed_files) = run_files(target, files, a.jobs).await?;
    let secs = started.elapsed().as_secs_f64();
    let n = totals.accepted + totals.duplicate + totals.rejected;
    match a.format {
        Format::Json => {
            for s in &summaries {
                println!("{}", serde_json::to_string(s)?);
            }
            println!(
                "{}",
                json!({"files": summaries.len(), "failedFiles": failed_files, "skippedDigestFiles": digests,
                       "accepted": totals.accepted, "duplicate": totals.duplicate, "rejected": totals.rejected,
                       "seconds": secs, "eventsPerSecond": n as f64 / secs.max(1e-9)})
            );
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = summaries
                .iter()
                .map(|s| {
                    vec![
                        crate::output::cell_tail(&s.file, 100),
                        s.accepted.to_string(),
                        s.duplicate.to_string(),
                        s.rejected.to_string(),
                        s.error
                            .as_deref()
                            .map(|e| crate::output::cell(e, 100))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::output::table(
                    &["FILE", "ACCEPTED", "DUPLICATE", "REJECTED", "ERROR"],
                    &rows
                )
            );
            let mut shown = 0usize;
            for s in &summaries {
                for r in &s.rejections {
                    shown += 1;
                    if shown > MAX_SHOWN_TOTAL {
                        continue;
                    }
                    eprintln!(
                        "rejected: {} event #{}{}: {}",
                        sanitize(&s.file),
                        r["index"],
                        r["eventId"]
                            .as_str()
                            .map(|id| format!(" ({})", sanitize(id)))
                            .unwrap_or_default(),
                        sanitize(r["reason"].as_str().unwrap_or(""))
                    );
                }
            }
            if shown > MAX_SHOWN_TOTAL {
                eprintln!(
                    "… and more rejections; `--format json` lists up to {SHOW_REASONS} per file"
                );
            }
            println!(
                "{} files ({} unreadable, {} digest files skipped): {} accepted, {} duplicate, {} rejected in {:.2} s ({:.0} events/s)",
                summaries.len(),
                failed_files,
                digests,
                totals.accepted,
                totals.duplicate,
                totals.rejected,
                secs,
                n as f64 / secs.max(1e-9)
            );
        }
    }
    Ok(if totals.rejected > 0 || failed_files > 0 {
        1
    } else {
        0
    })
}

/// Prepared files that may wait for their commit at once (each holds its compressed blocks,
/// ~0.5 MB per 2,000 records): enough that a merge slice holding the writer does not leave
/// the preparing threads idle (measured: 85 % of 2 cores busy with 6, 93–96 % with 16).
const WAITING_FILES: usize = 16;
/// File bytes in flight beyond the ones being prepared (a waiting `.json.gz` holds ~2.5 times
/// its size in compressed blocks, a `.json` a fifth of it).
const IN_FLIGHT_BYTES: u64 = 8 << 20;

/// Imports `files` with `jobs` in flight; summaries are sorted by file.
pub(crate) async fn run_files(
    target: Arc<Target>,
    files: Vec<(PathBuf, u64)>,
    jobs: usize,
) -> anyhow::Result<(Vec<FileSummary>, FileSummary, usize)> {
    let total_bytes: u64 = files.iter().map(|(_, n)| n).sum();
    let pb =
        ProgressBar::with_draw_target(Some(total_bytes), indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut totals = FileSummary {
        file: "total".into(),
        ..Default::default()
    };
    let mut failed_files = 0usize;
    let mut set = JoinSet::new();
    let mut queue = files.into_iter();
    let jobs = jobs.max(1);
    let prep = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut sizes = std::collections::HashMap::new();
    let mut in_flight_bytes = 0u64;
    let mut summaries = Vec::new();
    loop {
        // More files in flight than being prepared: those wait for their commit, so a merge
        // slice that holds the writer does not stall the preparing threads. Big files count
        // against a byte budget instead, so memory stays bounded whatever their size.
        while set.len() < jobs + WAITING_FILES
            && (set.len() < jobs || in_flight_bytes < IN_FLIGHT_BYTES)
        {
            let Some((path, size)) = queue.next() else {
                break;
            };
            in_flight_bytes += size;
            sizes.insert(path.clone(), size);
            set.spawn(import_file(target.clone(), path, prep.clone()));
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let summary = match done {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                pb.finish_and_clear();
                return Err(e);
            }
            Err(e) => return Err(e.into()),
        };
        let size = sizes.get(Path::new(&summary.file)).copied().unwrap_or(0);
        in_flight_bytes = in_flight_bytes.saturating_sub(size);
        pb.inc(size);
        totals.accepted += summary.accepted;
        totals.duplicate += summary.duplicate;
        totals.rejected += summary.rejected;
        failed_files += summary.error.is_some() as usize;
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let n = totals.accepted + totals.duplicate + totals.rejected;
        pb.set_message(format!("{n} events, {:.0} events/s", n as f64 / secs));
        summaries.push(summary);
    }
    pb.finish_and_clear();
    summaries.sort_by(|a, b| a.file.cmp(&b.file));
    if let Target::Direct { trail, .. } = &*target {
        let t = trail.clone();
        tokio::task::spawn_blocking(move || t.history.close()).await?;
    }
    Ok((summaries, totals, failed_files))
}
