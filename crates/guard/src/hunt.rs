//! The offline hunt: every detector over log files, with no server — like Chainsaw or Zircolite.
//! CloudTrail files (`.json`, `.json.gz`, a `{"Records":[…]}` envelope, a JSON array or NDJSON),
//! VPC Flow Logs (v2, or v3–v5 with their header line; `.log`, `.txt`, `.gz`) and Route 53
//! Resolver query logs (JSON lines), from files or folders (recursively); the kind of each file
//! is recognised from its first line unless `--source` says; `-` reads standard input (plain or
//! gzip). A file that cannot be read is reported with its path and the hunt goes on; a line or
//! record that does not parse is counted and reported with the file and its line or position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use serde::Serialize;

use crate::cloudtrail::{Context, detect};
use crate::config::GuardConfig;
use crate::curated::bursts::{self, Bursts};
use crate::dns::{DnsDetector, Query};
use crate::finding::{Findings, Signal};
use crate::flow::{FlowDetector, Layout};
use crate::sigma::{Record, SigmaRules};
use crate::view::{Lite, View};
use mamori_trail::scan::{Scan, ScanError};

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

/// Largest file read (and after decompression).
const MAX_FILE: usize = mamori_core::files::DEFAULT_MAX_FILE_BYTES;

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

/// Log files under a folder: CloudTrail (`.json`, `.json.gz`, `.jsonl`, `.ndjson`), flow and
/// resolver query logs (`.log`, `.log.gz`, `.txt`, `.txt.gz` — AWS writes both as `.log.gz`);
/// not CloudTrail's digest files. A file named on the command line is read whatever its name.
pub fn is_log(p: &Path) -> bool {
    let n = p.to_string_lossy();
    if n.contains("CloudTrail-Digest") {
        return false;
    }
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    [".json", ".jsonl", ".ndjson", ".log", ".txt"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// Hunts through `paths` with `jobs` threads (0: one per core); findings aggregate across all
/// of them.
///
/// Files are read, decompressed and (CloudTrail) detected on in parallel, and their results
/// applied in file order, so the findings are the same whatever `jobs` is. What keeps state
/// runs in that order on the calling thread: the flow and DNS detectors (windows, baselines)
/// and Sigma rule sets with correlations.
#[allow(clippy::too_many_arguments)]
pub fn hunt(
    paths: &[PathBuf],
    source: Source,
    ctx: &Context<'_>,
    cfg: &GuardConfig,
    sigma: Option<&mut SigmaRules>,
    findings: &mut Findings,
    now: &str,
    jobs: usize,
) -> HuntStats {
    let mut stats = HuntStats::default();
    // One walk for every command that reads files: links inside folders are not followed.
    let walked = mamori_core::files::walk(paths, is_log, |_| false);
    stats.problems.extend(walked.errors);
    if !walked.links.is_empty() {
        stats.problems.push(format!(
            "{} symbolic link(s) inside folders were not followed, e.g. {}",
            walked.links.len(),
            walked.links[0].display()
        ));
    }
    let files: Vec<PathBuf> = walked.files.into_iter().map(|f| f.path).collect();
    let (shared, streaming) = match sigma {
        Some(r) if r.correlations > 0 => (None, Some(r)),
        Some(r) => (Some(&*r), None),
        None => (None, None),
    };
    let mut state = State {
        bursts: Bursts::new(cfg),
        flows: FlowDetector::new(cfg),
        dns: DnsDetector::new(cfg),
        streaming,
        ctx,
        findings,
        now,
        stats: &mut stats,
    };
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(files.len().max(1));
    if jobs <= 1 {
        for f in &files {
            let r = read(f, source, ctx, shared, state.streaming.is_some());
            state.apply(r);
        }
        return stats;
    }
    // Workers take files in order and stay within a window ahead of the file being applied,
    // so that a slow file never makes the others pile up in memory.
    let window = jobs * 4;
    let next = AtomicUsize::new(0);
    let applied = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::sync_channel::<(usize, Read)>(window);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, applied, files) = (&next, &applied, &files);
            let streaming = state.streaming.is_some();
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let mut done = applied.0.lock().unwrap_or_else(|p| p.into_inner());
                    while i >= *done + window {
                        done = applied.1.wait(done).unwrap_or_else(|p| p.into_inner());
                    }
                    drop(done);
                    if tx
                        .send((i, read(f, source, ctx, shared, streaming)))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut expected = 0;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&expected) {
                state.apply(r);
                expected += 1;
                *applied.0.lock().unwrap_or_else(|p| p.into_inner()) = expected;
                applied.1.notify_all();
            }
        }
    });
    stats
}

/// What reading one file gave, before it is applied in file order.
enum Read {
    Failed(String),
    /// Records read and detected on (and the file's bad records and problems).
    Done(FileOut),
    /// Left for the calling thread: stateful detection in file order.
    CloudTrail(String, Vec<u8>),
    Flow(String, Vec<u8>),
    Dns(String, Vec<u8>),
}

#[derive(Default)]
struct FileOut {
    records: u64,
    bad: Vec<String>,
    problem: Option<String>,
    signals: Vec<Signal>,
    /// What each record feeds the curated bursts, counted in file order by the calling thread.
    tallies: Vec<Tally>,
    /// What a burst's finding is built from: the first record of its principal in this file.
    bases: bursts::Bases,
    basis_of: foldhash::HashMap<u64, u32>,
}

/// One record's item for one burst.
struct Tally {
    id: bursts::Id,
    principal: u64,
    item: u64,
    t: i64,
    basis: u32,
}

impl FileOut {
    fn bad(&mut self, what: String) {
        self.bad.push(what);
    }

    /// The record's detections that need no state, and what it feeds the bursts.
    fn detect(&mut self, view: &View<'_>, ctx: &Context<'_>) {
        self.signals.extend(detect(view, ctx));
        let (tallies, bases, basis_of) = (&mut self.tallies, &mut self.bases, &mut self.basis_of);
        // The time is read only for records that feed a burst.
        let mut t = None;
        bursts::classify(view, |id, principal, item| {
            let basis = *basis_of
                .entry(principal)
                .or_insert_with(|| bases.push(view));
            let t = *t.get_or_insert_with(|| bursts::seconds(view.event_time));
            tallies.push(Tally {
                id,
                principal,
                item,
                t,
                basis,
            });
        });
    }

    /// Nothing of a pass kept (the careful way starts again).
    fn reset(&mut self) {
        self.records = 0;
        self.signals.clear();
        self.tallies.clear();
        self.bases.clear();
        self.basis_of.clear();
    }
}

/// Reads one file: decompressed, its kind recognised, and a CloudTrail file detected on unless
/// its Sigma rules keep state (`streaming`).
fn read(
    f: &Path,
    source: Source,
    ctx: &Context<'_>,
    sigma: Option<&SigmaRules>,
    streaming: bool,
) -> Read {
    let stdin = f == Path::new("-");
    let shown = if stdin {
        "(standard input)".to_string()
    } else {
        f.display().to_string()
    };
    // Each thread reads into the same buffer and gunzips into another, file after file (a
    // fresh buffer per file cost a page fault per 4 KB of it, and a large free per file).
    let mut bytes = READ.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut buf = GUNZIP.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let gz = match mamori_core::files::read_whole(f, MAX_FILE, &mut bytes, &mut buf) {
        Ok(gz) => gz,
        Err(e) => {
            keep(&GUNZIP, buf);
            keep(&READ, bytes);
            let e = e.to_string();
            let why = e.strip_prefix(&format!("{}: ", f.display())).unwrap_or(&e);
            return Read::Failed(format!("{shown}: {why}"));
        }
    };
    let body: &[u8] = if gz { &buf } else { &bytes };
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
        Source::Auto if first.starts_with(b"{") || first.starts_with(b"[") => Source::CloudTrail,
        Source::Auto => Source::VpcFlow,
        s => s,
    };
    match kind {
        Source::CloudTrail | Source::Auto if streaming => {
            Read::CloudTrail(shown, body_of(gz, buf, bytes))
        }
        Source::CloudTrail | Source::Auto => {
            let mut out = FileOut::default();
            match sigma {
                Some(rules) => cloudtrail_file(
                    &shown,
                    body,
                    ctx,
                    Some(&mut |r: Record<'_, '_>, v: &View<'_>| rules.detect_record(r, v)),
                    &mut out,
                ),
                None => cloudtrail_file(&shown, body, ctx, None, &mut out),
            }
            // Kept for the next file, unless a huge one made them huge.
            keep(&GUNZIP, buf);
            keep(&READ, bytes);
            Read::Done(out)
        }
        Source::VpcFlow => Read::Flow(shown, body_of(gz, buf, bytes)),
        Source::Dns => Read::Dns(shown, body_of(gz, buf, bytes)),
    }
}

thread_local! {
    static READ: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static GUNZIP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

type Buffer = std::thread::LocalKey<std::cell::RefCell<Vec<u8>>>;

/// The file's body, to hand on: the other buffer goes back to the thread.
fn body_of(gz: bool, gunzipped: Vec<u8>, read: Vec<u8>) -> Vec<u8> {
    if gz {
        keep(&READ, read);
        gunzipped
    } else {
        keep(&GUNZIP, gunzipped);
        read
    }
}

/// Gives a buffer back to its thread for the next file, unless it grew huge.
fn keep(slot: &'static Buffer, buf: Vec<u8>) {
    if buf.capacity() <= KEEP_BUFFER {
        slot.with(|b| *b.borrow_mut() = buf);
    }
}

/// The largest gunzip buffer a thread keeps between files.
const KEEP_BUFFER: usize = 32 << 20;

/// What applying results in file order needs.
struct State<'a, 'r> {
    bursts: Bursts,
    flows: FlowDetector,
    dns: DnsDetector,
    streaming: Option<&'r mut SigmaRules>,
    ctx: &'a Context<'a>,
    findings: &'a mut Findings,
    now: &'a str,
    stats: &'a mut HuntStats,
}

impl State<'_, '_> {
    fn apply(&mut self, r: Read) {
        let out = match r {
            Read::Failed(problem) => {
                self.stats.problems.push(problem);
                return;
            }
            Read::Done(out) => out,
            Read::CloudTrail(shown, body) => {
                let mut out = FileOut::default();
                match self.streaming.as_deref_mut() {
                    Some(rules) => cloudtrail_file(
                        &shown,
                        &body,
                        self.ctx,
                        Some(&mut |r: Record<'_, '_>, v: &View<'_>| rules.detect_record_mut(r, v)),
                        &mut out,
                    ),
                    None => cloudtrail_file(&shown, &body, self.ctx, None, &mut out),
                }
                out
            }
            Read::Flow(shown, body) => self.flow_file(&shown, &body),
            Read::Dns(shown, body) => self.dns_file(&shown, &body),
        };
        let stats = &mut *self.stats;
        stats.files += 1;
        stats.records += out.records;
        if let Some(p) = out.problem {
            stats.problems.push(p);
        }
        for b in out.bad {
            stats.bad_records += 1;
            if stats.problems.len() < MAX_PROBLEMS {
                stats.problems.push(b);
            }
        }
        for sig in out.signals {
            stats.signals += 1;
            self.findings.add(sig, "hunt", self.now);
        }
        for t in &out.tallies {
            if let Some(c) = self.bursts.add(t.id, t.principal, t.item, t.t)
                && let Some(view) = out.bases.view(t.basis)
            {
                stats.signals += 1;
                let sig = bursts::finish(bursts::template(t.id, &view), c);
                self.findings.add(sig, "hunt", self.now);
            }
        }
    }

    fn flow_file(&mut self, shown: &str, body: &[u8]) -> FileOut {
        let mut out = FileOut::default();
        let text = String::from_utf8_lossy(body);
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
                    out.records += 1;
                    out.signals.extend(self.flows.detect(&flow, self.ctx.intel));
                }
                Ok(None) => out.records += 1,
                Err(e) => out.bad(format!("{shown}:{}: not a flow log record ({e})", i + 1)),
            }
        }
        out
    }

    fn dns_file(&mut self, shown: &str, body: &[u8]) -> FileOut {
        let mut out = FileOut::default();
        let text = String::from_utf8_lossy(body);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Query>(line) {
                Ok(q) => {
                    out.records += 1;
                    out.signals.extend(self.dns.detect(&q, self.ctx.intel));
                }
                Err(e) => out.bad(format!(
                    "{shown}:{}: not a resolver query log record ({e})",
                    i + 1
                )),
            }
        }
        out
    }
}

/// A CloudTrail log file as AWS writes it (`{"Records":[…]}`), in one pass of the scanner:
/// each record is handed to detection as it is read, with only the fields detection reads
/// decoded. An error here (or any other shape) sends the caller the careful way.
fn envelope(
    text: &str,
    ctx: &Context<'_>,
    mut sigma: Option<&mut Rules<'_>>,
    out: &mut FileOut,
) -> Result<(), ScanError> {
    let mut s = Scan::new(text);
    let mut found = false;
    s.object_with(|s, key| {
        if key != "Records" || found {
            return s.value().map(drop);
        }
        found = true;
        let mut members = Vec::new();
        let mut lite = Lite::default();
        s.array(|s| {
            let start = s.pos();
            let not_cloudtrail = ScanError {
                at: start,
                what: NOT_CLOUDTRAIL,
            };
            let Some(rules) = sigma.as_deref_mut() else {
                lite.scan_into(s, None, |ip| ctx.intel.prefetch(ip))?;
                let view = lite.view();
                if !is_cloudtrail(&view) {
                    return Err(not_cloudtrail);
                }
                out.detect(&view, ctx);
                out.records += 1;
                return Ok(());
            };
            lite.scan_into(s, Some(&mut members), |ip| ctx.intel.prefetch(ip))?;
            let view = lite.view();
            if !is_cloudtrail(&view) {
                return Err(not_cloudtrail);
            }
            out.detect(&view, ctx);
            let found = rules(Record::Members(&mut members), &view).map_err(|_| ScanError {
                at: start,
                what: "a record Sigma rules could not read",
            })?;
            out.signals.extend(found);
            out.records += 1;
            Ok(())
        })
    })?;
    s.end()?;
    if !found {
        return Err(ScanError {
            at: 0,
            what: "no \"Records\" array",
        });
    }
    Ok(())
}

/// Sigma rules over one record (its text, and the detectors' view of it).
type Rules<'o> = dyn FnMut(Record<'_, '_>, &View<'_>) -> Result<Vec<Signal>, String> + 'o;
type RulesFn<'f> = &'f mut Rules<'f>;

fn cloudtrail_file(
    shown: &str,
    body: &[u8],
    ctx: &Context<'_>,
    mut sigma: Option<RulesFn<'_>>,
    out: &mut FileOut,
) {
    if body.trim_ascii_start().starts_with(b"{")
        && let Ok(text) = std::str::from_utf8(body)
    {
        if envelope(text, ctx, sigma.as_deref_mut(), out).is_ok() {
            return;
        }
        // Start again, record by record, with nothing of this pass kept: serde_json says what
        // is wrong with a record, and the others still count.
        out.reset();
    }
    let raws = match mamori_trail::body::split_records(body) {
        Ok(r) => r,
        Err(e) => {
            out.problem = Some(format!("{shown}: {e}"));
            return;
        }
    };
    for (i, raw) in raws.iter().enumerate() {
        let record = Lite::parse(raw)
            .map_err(|e| e.to_string())
            .and_then(|lite| {
                let view = lite.view();
                if !is_cloudtrail(&view) {
                    return Err(NOT_CLOUDTRAIL.to_string());
                }
                let mut signals = Vec::new();
                if let Some(rules) = sigma.as_deref_mut() {
                    // Rules need the whole record; the detectors' fields come out of the same pass.
                    signals.extend(rules(Record::Text(raw), &view)?);
                }
                out.detect(&view, ctx);
                Ok(signals)
            });
        match record {
            Ok(signals) => {
                out.records += 1;
                out.signals.extend(signals);
            }
            Err(e) => out.bad(format!(
                "{shown}: record {i}: not a CloudTrail record ({e})"
            )),
        }
    }
}

const NOT_CLOUDTRAIL: &str = "no eventTime, eventName or eventSource";

/// Whether a record has any of the three fields every CloudTrail record has; an object with
/// none of them is some other JSON, not an audit event to count.
fn is_cloudtrail(v: &View<'_>) -> bool {
    !(v.event_time.is_empty() && v.event_name.is_empty() && v.event_source.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::Intel;

    fn hunt_text(body: &str) -> FileOut {
        let intel = Intel::with_canaries();
        let ctx = Context {
            intel: &intel,
            instance_networks: &[],
            known: &Default::default(),
        };
        let mut out = FileOut::default();
        cloudtrail_file("f.json", body.as_bytes(), &ctx, None, &mut out);
        out
    }

    /// What the scanner cannot read goes the careful way: a bad record is reported on its own
    /// and the others count; a record nested deeper than the scanner goes still reads.
    #[test]
    fn the_fast_path_falls_back_record_by_record() {
        let good = r#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-01-01T00:00:00Z","requestParameters":{"name":"t"}}"#;
        let deep = format!(
            r#"{{"eventName":"X","eventSource":"s","eventTime":"2026-01-01T00:00:00Z","additionalEventData":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let all_good = format!(r#"{{"Records":[{good},{deep}]}}"#);
        let out = hunt_text(&all_good);
        assert_eq!((out.records, out.bad.len()), (2, 0), "{:?}", out.bad);
        assert_eq!(out.signals.len(), 1);

        let dup = r#"{"eventName":"StopLogging","eventName":"GetObject","eventSource":"cloudtrail.amazonaws.com"}"#;
        let out = hunt_text(&format!(r#"{{"Records":[{good},{dup},{good}]}}"#));
        assert_eq!(out.records, 2);
        assert_eq!(out.bad.len(), 1);
        assert!(
            out.bad[0].contains("record 1") && out.bad[0].contains("duplicate field"),
            "{:?}",
            out.bad
        );
        assert_eq!(
            out.signals.len(),
            2,
            "nothing of the first pass is kept twice"
        );
    }
}
