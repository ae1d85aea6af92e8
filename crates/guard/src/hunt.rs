//! The offline hunt: every detector over log files, with no server — like Chainsaw or Zircolite.
//! CloudTrail files (`.json`, `.json.gz`, a `{"Records":[…]}` envelope, a JSON array or NDJSON),
//! VPC Flow Logs (v2, or v3–v5 with their header line; `.log`, `.txt`, `.gz`) and Route 53
//! Resolver query logs (JSON lines), from files or folders (recursively); the kind of each file
//! is recognised from its first line unless `--source` says. A file that cannot be read is
//! reported with its path and the hunt goes on; a line or record that does not parse is counted
//! and reported with the file and its line or position.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cloudtrail::{Context, detect};
use crate::config::GuardConfig;
use crate::dns::{DnsDetector, Query};
use crate::finding::Findings;
use crate::flow::{FlowDetector, Layout};
use crate::lazy::LazyEvent;
use crate::sigma::SigmaRules;
use crate::view::Lite;

/// What kind of log a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Auto,
    CloudTrail,
    VpcFlow,
    Dns,
}

/// Problems listed in full (the counts are always exact).
const MAX_PROBLEMS: usize = 1000;

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
pub fn hunt(
    paths: &[PathBuf],
    source: Source,
    ctx: &Context<'_>,
    cfg: &GuardConfig,
    mut sigma: Option<&mut SigmaRules>,
    findings: &mut Findings,
    now: &str,
) -> HuntStats {
    let mut stats = HuntStats::default();
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files, &mut stats.problems);
    }
    let mut flows = FlowDetector::new(cfg);
    let mut dns = DnsDetector::new(cfg);
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
        // The first line, or its first 4 KB: a CloudTrail file is one long line.
        let start = body.trim_ascii_start();
        let head = &start[..start.len().min(4096)];
        let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let kind = match source {
            Source::Auto
                if first.starts_with(b"{") && first.windows(12).any(|w| w == b"\"query_name\"") =>
            {
                Source::Dns
            }
            Source::Auto if first.starts_with(b"{") || first.starts_with(b"[") => {
                Source::CloudTrail
            }
            Source::Auto => Source::VpcFlow,
            s => s,
        };
        stats.files += 1;
        match kind {
            Source::CloudTrail | Source::Auto => cloudtrail_file(
                &shown,
                &body,
                ctx,
                sigma.as_deref_mut(),
                findings,
                now,
                &mut stats,
            ),
            Source::VpcFlow => {
                let text = String::from_utf8_lossy(&body);
                let mut layout = Layout::v2();
                for (i, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    if i == 0
                        && let Some(l) = Layout::from_header(line)
                    {
                        layout = l;
                        continue;
                    }
                    match layout.parse(line) {
                        Ok(Some(flow)) => {
                            stats.records += 1;
                            for sig in flows.detect(&flow, ctx.intel) {
                                stats.signals += 1;
                                findings.add(&sig, "hunt", now);
                            }
                        }
                        Ok(None) => stats.records += 1,
                        Err(e) => bad(
                            &mut stats,
                            format!("{shown}:{}: not a flow log record ({e})", i + 1),
                        ),
                    }
                }
            }
            Source::Dns => {
                let text = String::from_utf8_lossy(&body);
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Query>(line) {
                        Ok(q) => {
                            stats.records += 1;
                            for sig in dns.detect(&q, ctx.intel) {
                                stats.signals += 1;
                                findings.add(&sig, "hunt", now);
                            }
                        }
                        Err(e) => bad(
                            &mut stats,
                            format!("{shown}:{}: not a resolver query log record ({e})", i + 1),
                        ),
                    }
                }
            }
        }
    }
    stats
}

fn bad(stats: &mut HuntStats, what: String) {
    stats.bad_records += 1;
    if stats.problems.len() < MAX_PROBLEMS {
        stats.problems.push(what);
    }
}

/// A CloudTrail log file as AWS writes it, parsed in one pass straight into what detection
/// reads. Any file this does not take (another shape, or a record with a field of an odd type)
/// goes the careful way, record by record, so that a bad record is reported on its own.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    #[serde(rename = "Records")]
    records: Option<Vec<T>>,
}

fn cloudtrail_file(
    shown: &str,
    body: &[u8],
    ctx: &Context<'_>,
    mut sigma: Option<&mut SigmaRules>,
    findings: &mut Findings,
    now: &str,
    stats: &mut HuntStats,
) {
    let mut emit = |signals: Vec<crate::finding::Signal>, stats: &mut HuntStats| {
        for sig in signals {
            stats.signals += 1;
            findings.add(&sig, "hunt", now);
        }
    };
    let envelope = body.trim_ascii_start().starts_with(b"{");
    match sigma.as_deref_mut() {
        None if envelope => {
            if let Ok(Envelope { records: Some(all) }) =
                serde_json::from_slice::<Envelope<Lite<'_>>>(body)
            {
                for lite in &all {
                    stats.records += 1;
                    emit(detect(&lite.view(), ctx), stats);
                }
                return;
            }
        }
        Some(rules) if envelope => {
            if let Ok(Envelope { records: Some(all) }) =
                serde_json::from_slice::<Envelope<LazyEvent<'_>>>(body)
            {
                let lites: Result<Vec<Lite<'_>>, _> = all.iter().map(Lite::from_lazy).collect();
                if let Ok(lites) = lites {
                    for (event, lite) in all.iter().zip(&lites) {
                        stats.records += 1;
                        let view = lite.view();
                        let mut signals = detect(&view, ctx);
                        signals.extend(rules.detect(event, &view));
                        emit(signals, stats);
                    }
                    return;
                }
            }
        }
        _ => {}
    }
    let raws = match mamori_trail::body::split_records(body) {
        Ok(r) => r,
        Err(e) => {
            stats.problems.push(format!("{shown}: {e}"));
            return;
        }
    };
    for (i, raw) in raws.iter().enumerate() {
        let record = match sigma.as_deref_mut() {
            // Rules need the whole record; the detectors' fields come out of the same pass.
            Some(rules) => LazyEvent::parse(raw.get()).and_then(|event| {
                let lite = Lite::from_lazy(&event)?;
                let view = lite.view();
                let mut signals = detect(&view, ctx);
                signals.extend(rules.detect(&event, &view));
                Ok(signals)
            }),
            None => Lite::parse(raw.get()).map(|lite| detect(&lite.view(), ctx)),
        };
        match record {
            Ok(signals) => {
                stats.records += 1;
                emit(signals, stats);
            }
            Err(e) => bad(
                stats,
                format!("{shown}: record {i}: not a CloudTrail record ({e})"),
            ),
        }
    }
}
