//! `mamori bench trail`: the figures of the foundation issue, on generated realistic records.
//!
//! - import events/s into a fresh data dir vs a parse-only pass over the same bytes (ratio);
//! - HTTP ingest events/s with N concurrent clients sending 1k-event batches to a real server;
//! - lookup latency p50/p99 (attribute + one-day window) over a large history;
//! - peak RSS (VmHWM) of `mamori trail import` over a given volume of .json.gz.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use mamori_trail::body;
use mamori_trail::ingest::{self, Limits};
use mamori_trail::lookup::{LookupAttribute, LookupQuery};
use tokio::task::JoinSet;

use crate::import;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Import vs parse-only, HTTP ingest, lookup latency, import peak RSS
    Trail(TrailBench),
    /// Trail delivery (events/s into .json.gz), validate (MB/s), Merkle proof times
    Trails(TrailsBench),
    /// Advisory import, scan + match of a root filesystem, re-matching inventories
    Inspect(crate::bench_inspect::InspectBench),
    /// Hunt throughput (events/s per core) vs parse-only, memory with a 1M-entry threat list
    Guard(GuardBench),
    /// A server under mixed load: many clients ingesting 1k-event batches and looking up;
    /// throughput, latency per kind, peak and after-load RSS
    Load(crate::bench_load::LoadBench),
}

#[derive(Args)]
pub struct GuardBench {
    /// CloudTrail records generated and hunted through
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Entries in the generated threat list
    #[arg(long, default_value_t = 1_000_000)]
    list_entries: usize,
    /// Sigma rules to run as well (e.g. ../shared/fixtures/sigma/SigmaHQ-sigma/rules/cloud/aws/cloudtrail)
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Streaming latency samples against a real server (0 skips)
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Where the generated files go and stay, e.g. to profile `mamori guard hunt` on them
    /// (default: a temp dir, removed afterwards)
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrailsBench {
    /// Events stored, then delivered
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Inclusion proofs generated and verified
    #[arg(long, default_value_t = 2000)]
    proofs: usize,
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrailBench {
    /// Records for the import vs parse-only comparison (0 skips)
    #[arg(long, default_value_t = 1_000_000)]
    import_events: usize,
    /// Records sent over HTTP (0 skips)
    #[arg(long, default_value_t = 400_000)]
    http_events: usize,
    /// Concurrent HTTP clients
    #[arg(long, default_value_t = 8)]
    http_clients: usize,
    /// Records stored before measuring lookups (0 skips; the issue asks for 10000000)
    #[arg(long, default_value_t = 0)]
    lookup_events: usize,
    /// Lookups measured
    #[arg(long, default_value_t = 2000)]
    lookups: usize,
    /// Megabytes of .json.gz imported by a child process to measure its peak RSS (0 skips)
    #[arg(long, default_value_t = 0)]
    rss_gz_mb: usize,
    /// Where generated files and data dirs go (default: a temp dir, removed afterwards)
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// xorshift64*: deterministic, dependency-free.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Skewed towards small values, like real API call mixes.
    pub(crate) fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

const SERVICES: &[&str] = &[
    "ec2",
    "s3",
    "iam",
    "sts",
    "kms",
    "lambda",
    "dynamodb",
    "cloudtrail",
    "logs",
    "ssm",
    "rds",
    "ecs",
];
const VERBS: &[&str] = &[
    "Describe", "Get", "List", "Create", "Update", "Delete", "Put", "Start", "Stop", "Attach",
    "Detach", "Assume",
];
const NOUNS: &[&str] = &[
    "Instances",
    "Bucket",
    "Role",
    "Policy",
    "Key",
    "Function",
    "Table",
    "Trail",
    "LogGroup",
    "Parameter",
    "Cluster",
    "Service",
    "Volume",
    "Snapshot",
    "SecurityGroup",
    "User",
    "AccessKey",
    "Stack",
    "Subnet",
    "Vpc",
    "Image",
    "Tags",
    "Alias",
    "Secret",
    "Queue",
];

pub(crate) fn event_name(i: u64) -> String {
    let v = VERBS[(i % VERBS.len() as u64) as usize];
    let n = NOUNS[((i / VERBS.len() as u64) % NOUNS.len() as u64) as usize];
    format!("{v}{n}")
}

/// One realistic record (about 1.1 KB) at `time_s` (Unix seconds).
pub(crate) fn record(rng: &mut Rng, seq: u64, time_s: i64) -> String {
    let svc = SERVICES[rng.skewed(SERVICES.len() as u64) as usize];
    let name_i = rng.skewed(300);
    let name = event_name(name_i);
    let user = rng.skewed(10_000);
    let read_only =
        name.starts_with("Describe") || name.starts_with("Get") || name.starts_with("List");
    let t = chrono::DateTime::from_timestamp(time_s, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let ip = format!(
        "{}.{}.{}.{}",
        10 + rng.below(200),
        rng.below(256),
        rng.below(256),
        rng.below(256)
    );
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next() as u32,
        rng.below(65536),
        rng.below(4096),
        rng.below(4096),
        seq
    );
    let err = if rng.below(30) == 0 {
        r#","errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation""#
    } else {
        ""
    };
    let resources = if rng.below(3) == 0 {
        format!(
            r#","resources":[{{"accountId":"123456789012","type":"AWS::IAM::Role","ARN":"arn:aws:iam::123456789012:role/app-role-{}"}}]"#,
            rng.below(500)
        )
    } else {
        String::new()
    };
    format!(
        concat!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDA{user:016}","arn":"arn:aws:iam::123456789012:user/user-{user}","#,
            r#""accountId":"123456789012","accessKeyId":"AKIA{user:016}","userName":"user-{user}","sessionContext":{{"sessionIssuer":{{}},"webIdFederationData":{{}},"#,
            r#""attributes":{{"creationDate":"{t}","mfaAuthenticated":"false"}}}}}},"eventTime":"{t}","eventSource":"{svc}.amazonaws.com","eventName":"{name}","#,
            r#""awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12 prompt/off command/{svc}.{name}","#,
            r#""requestParameters":{{"maxResults":100,"filterSet":{{"items":[{{"name":"tag:team","valueSet":{{"items":[{{"value":"platform-{user}"}}]}}}}]}}}},"responseElements":null{err},"#,
            r#""requestID":"{rid:016x}","eventID":"{id}","readOnly":{ro},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","#,
            r#""eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{svc}.us-east-1.amazonaws.com"}}{resources}}}"#
        ),
        user = user,
        t = t,
        svc = svc,
        name = name,
        ip = ip,
        err = err,
        rid = rng.next(),
        id = id,
        ro = read_only,
        resources = resources,
    )
}

/// Writes `n` records in `{"Records":[…]}` .json.gz files of `per_file` records, spread evenly
/// over `days` days ending now. Returns the files and their total compressed size.
fn generate(
    dir: &Path,
    n: usize,
    per_file: usize,
    days: i64,
    seed: u64,
) -> anyhow::Result<(Vec<(PathBuf, u64)>, u64)> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(seed | 1);
    let end = chrono::Utc::now().timestamp() - 60;
    let span = days * 86_400;
    let mut files = Vec::new();
    let mut total = 0;
    let mut written = 0usize;
    let mut f = 0;
    while written < n {
        let count = per_file.min(n - written);
        let path = dir.join(format!("123456789012_CloudTrail_us-east-1_{f:08}.json.gz"));
        let file = std::fs::File::create(&path)?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::new(6),
        );
        gz.write_all(b"{\"Records\":[")?;
        for j in 0..count {
            let k = (written + j) as i64;
            let t = end - span + (k * span) / n as i64;
            if j > 0 {
                gz.write_all(b",")?;
            }
            gz.write_all(record(&mut rng, (written + j) as u64, t).as_bytes())?;
        }
        gz.write_all(b"]}")?;
        gz.finish()?.flush()?;
        let size = std::fs::metadata(&path)?.len();
        total += size;
        files.push((path, size));
        written += count;
        f += 1;
    }
    Ok((files, total))
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{} cores, {cpu}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<u8> {
    let b = match cmd {
        BenchCommand::Trail(b) => b,
        BenchCommand::Trails(b) => return trails_bench(b).await,
        BenchCommand::Guard(b) => {
            return tokio::task::spawn_blocking(move || guard_bench(b)).await?;
        }
        BenchCommand::Load(b) => return crate::bench_load::run(b).await,
        BenchCommand::Inspect(b) => {
            return tokio::task::spawn_blocking(move || crate::bench_inspect::run(b)).await?;
        }
    };
    let tmp = tempfile::Builder::new().prefix("mamori-bench").tempdir()?;
    let work = b
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    println!(
        "mamori bench trail on {} ({} build)",
        machine(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    // 1. Import vs parse-only over the same files (0 skips).
    if b.import_events > 0 {
        let (files, gz_bytes) = generate(&work.join("import-files"), b.import_events, 2_000, 3, 7)?;
        println!(
            "generated {} records in {} files, {:.1} MB .json.gz",
            b.import_events,
            files.len(),
            gz_bytes as f64 / 1e6
        );
        let cpu = ThreadCpu::start();
        let t = Instant::now();
        let parse_rate = parse_only(&files).await?;
        let parse_wall = t.elapsed().as_secs_f64();
        let parse_busy: f64 = cpu.stop().iter().map(|(_, c)| c).sum();
        let data_dir = work.join("import-data");
        let target = Arc::new(import::open_direct(&data_dir, None, None)?);
        let started = Instant::now();
        let cpu = ThreadCpu::start();
        let (_, totals, _) = import::run_files(target, files.clone(), 3).await?;
        let secs = started.elapsed().as_secs_f64();
        let by_thread = cpu.stop();
        let import_rate = totals.accepted as f64 / secs;
        println!(
            "parse-only: {parse_rate:.0} events/s ({parse_busy:.1} core-s over {parse_wall:.1} s wall, {:.0} % of {} cores)",
            100.0 * parse_busy / parse_wall / cores() as f64,
            cores()
        );
        println!(
            "import    : {import_rate:.0} events/s ({} accepted in {secs:.2} s)",
            totals.accepted
        );
        println!("ratio import/parse-only: {:.2}", import_rate / parse_rate);
        let busy: f64 = by_thread.iter().map(|(_, c)| c).sum();
        println!(
            "import CPU: {busy:.1} core-s over {secs:.1} s wall ({:.0} % of {} cores); {}",
            100.0 * busy / secs / cores() as f64,
            cores(),
            by_thread
                .iter()
                .map(|(name, c)| format!("{name} {c:.1} s"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let db = std::fs::metadata(data_dir.join("trail.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "history size: {:.1} MB ({:.0} bytes/event)",
            db as f64 / 1e6,
            db as f64 / totals.accepted.max(1) as f64
        );
    }

    // 2. HTTP ingest.
    if b.http_events > 0 {
        let rate = http_ingest(&work.join("http"), b.http_events, b.http_clients).await?;
        println!(
            "HTTP ingest: {rate:.0} events/s ({} events, {} clients, 1000-event batches)",
            b.http_events, b.http_clients
        );
    }

    // 3. Lookup latency over a large history.
    if b.lookup_events > 0 {
        lookup_latency(&work.join("lookup"), b.lookup_events, b.lookups).await?;
    }

    // 4. Peak RSS of an import of rss_gz_mb MB of .json.gz.
    if b.rss_gz_mb > 0 {
        import_rss(&work.join("rss"), b.rss_gz_mb)?;
    }
    Ok(0)
}

/// Decompress, split and fully parse + index every record (no compression, no store), with the
/// same parallelism as the import.
async fn parse_only(files: &[(PathBuf, u64)]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut set = JoinSet::new();
    let mut n = 0usize;
    let mut queue = files.iter().cloned();
    loop {
        while set.len() < 4 {
            let Some((p, _)) = queue.next() else { break };
            set.spawn_blocking(move || -> anyhow::Result<usize> {
                // Read as the import reads (one reused gunzip buffer per thread).
                let n = import::with_file(&p, |bytes| {
                    let raws = body::split_records(bytes).map_err(|e| e.to_string())?;
                    let limits = Limits {
                        max_event_bytes: 256 * 1024,
                        oldest_day: None,
                    };
                    let mut ok = 0;
                    for r in &raws {
                        let rec: mamori_trail::Record =
                            serde_json::from_str(r).map_err(|e| e.to_string())?;
                        ok += ingest::index(&rec, &limits).is_ok() as usize;
                    }
                    Ok(ok)
                })
                .map_err(|e| anyhow::anyhow!(e))?;
                Ok(n)
            });
        }
        match set.join_next().await {
            Some(r) => n += r??,
            None => break,
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Starts `mamori serve` (this binary) on a free port; returns the child, its address and key.
pub(crate) fn start_server(dir: &Path) -> anyhow::Result<(std::process::Child, String, String)> {
    std::fs::create_dir_all(dir)?;
    let key_file = dir.join("admin.key");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--bootstrap-key-file")
        .arg(&key_file)
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("server stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .context("the server exited before listening")??;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let key = std::fs::read_to_string(&key_file)?.trim().to_string();
    Ok((child, addr, key))
}

async fn http_ingest(dir: &Path, n: usize, clients: usize) -> anyhow::Result<f64> {
    let (mut child, addr, key) = start_server(dir)?;
    let mut rng = Rng(99);
    let now = chrono::Utc::now().timestamp() - 3600;
    let batches: Vec<Vec<u8>> = (0..n.div_ceil(1000))
        .map(|b| {
            let recs: Vec<String> = (0..1000)
                .map(|i| record(&mut rng, (b * 1000 + i) as u64, now + i as i64))
                .collect();
            format!("[{}]", recs.join(",")).into_bytes()
        })
        .collect();
    let batches = Arc::new(std::sync::Mutex::new(batches));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..clients {
        let (http, batches, url, key) = (
            http.clone(),
            batches.clone(),
            format!("http://{addr}/v1/trail/events"),
            key.clone(),
        );
        set.spawn(async move {
            let mut accepted = 0u64;
            while let Some(body) = batches.lock().ok().and_then(|mut b| b.pop()) {
                let resp = http.post(&url).bearer_auth(&key).body(body).send().await?;
                anyhow::ensure!(resp.status().is_success(), "HTTP {}", resp.status());
                let v: serde_json::Value = resp.json().await?;
                accepted += v["accepted"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(accepted)
        });
    }
    let mut accepted = 0;
    while let Some(r) = set.join_next().await {
        accepted += r??;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    anyhow::ensure!(
        accepted as usize >= n,
        "only {accepted} of {n} events accepted"
    );
    Ok(accepted as f64 / secs)
}

async fn lookup_latency(dir: &Path, n: usize, lookups: usize) -> anyhow::Result<()> {
    let days = 30;
    let (files, _) = generate(&dir.join("files"), n, 10_000, days, 11)?;
    let data = dir.join("data");
    let target = Arc::new(import::open_direct(&data, None, None)?);
    let started = Instant::now();
    let (_, totals, _) = import::run_files(target, files.clone(), 3).await?;
    println!(
        "lookup setup: {} events over {days} days stored in {:.0} s",
        totals.accepted,
        started.elapsed().as_secs_f64()
    );
    for (p, _) in &files {
        let _ = std::fs::remove_file(p);
    }
    let cfg = mamori_core::Config::default();
    let trail = mamori_trail::Trail::open(
        &data,
        &mamori_core::config::TrailConfig {
            retention_days: 0,
            ..cfg.trail
        },
    )?;
    let org = mamori_org::Org::open(&data)?;
    let (_, account) = org.organization()?;
    let mut rng = Rng(5);
    let now = chrono::Utc::now().timestamp_millis();
    let parse = |k: &str, v: &str| LookupAttribute::parse(k, v).map_err(anyhow::Error::msg);
    // Lookups served by posting lists (one attribute value), then by the slots rows (no
    // attribute, ReadOnly or EventCategory: every event of the day is a candidate).
    for (kind, slots) in [
        ("attribute", false),
        ("time-only, ReadOnly or EventCategory", true),
    ] {
        let mut lat = Vec::with_capacity(lookups);
        let mut returned = 0usize;
        for i in 0..lookups {
            let day_start = now - (1 + rng.below(days as u64 - 1) as i64) * 86_400_000;
            let attributes = match (slots, i % 3) {
                (false, 0) => vec![parse("EventName", &event_name(rng.skewed(300)))?],
                (false, 1) => vec![parse("Username", &format!("user-{}", rng.skewed(10_000)))?],
                (false, _) => vec![parse(
                    "EventSource",
                    &format!(
                        "{}.amazonaws.com",
                        SERVICES[rng.below(SERVICES.len() as u64) as usize]
                    ),
                )?],
                (true, 0) => Vec::new(),
                (true, 1) => vec![parse("ReadOnly", ["true", "false"][i % 2])?],
                (true, _) => vec![parse("EventCategory", "Management")?],
            };
            let q = LookupQuery {
                account: account.as_i64(),
                attributes,
                start_ms: Some(day_start),
                end_ms: Some(day_start + 86_400_000),
                max_results: 50,
                after: None,
            };
            let t = Instant::now();
            let page = trail.history.lookup(&q)?;
            lat.push(t.elapsed());
            returned += page.events.len();
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "lookup over {} events ({kind} + one-day window, 50 per page, {} lookups, {:.1} events/lookup): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            totals.accepted,
            lookups,
            returned as f64 / lookups as f64,
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(pct(1.0))
        );
    }
    Ok(())
}

fn import_rss(dir: &Path, mb: usize) -> anyhow::Result<()> {
    // About 95 bytes of .json.gz per generated record.
    let n = mb * 1_000_000 / 95;
    let (_files, bytes) = generate(&dir.join("files"), n, 5_000, 20, 13)?;
    let started = Instant::now();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["trail", "import", "--format", "json", "--data-dir"])
        .arg(dir.join("data"))
        .arg(dir.join("files"))
        .stdout(std::process::Stdio::null())
        .spawn()?;
    // VmHWM is the child's own high-water mark (reset at exec); getrusage's ru_maxrss is not:
    // Linux carries the parent's peak across fork + exec.
    let status_path = format!("/proc/{}/status", child.id());
    let mut child = child;
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "import of {:.0} MB .json.gz ({n} records) by a child process: peak RSS {:.0} MB, {:.0} s, exit status {}",
        bytes as f64 / 1e6,
        peak_kb as f64 / 1024.0,
        started.elapsed().as_secs_f64(),
        status.code().unwrap_or(-1)
    );
    Ok(())
}

async fn trails_bench(b: TrailsBench) -> anyhow::Result<u8> {
    use mamori_trails::{deliver, merkle, spec, store, validate};
    let tmp = tempfile::Builder::new().prefix("mamori-bench").tempdir()?;
    let work = b
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    println!(
        "mamori bench trails on {} ({} build)",
        machine(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let (files, _) = generate(&work.join("files"), b.events, 10_000, 1, 21)?;
    let data = work.join("data");
    {
        let target = Arc::new(import::open_direct(&data, None, None)?);
        import::run_files(target, files.clone(), 3).await?;
    }
    for (p, _) in &files {
        let _ = std::fs::remove_file(p);
    }
    let cfg = mamori_core::Config::default();
    let trail = mamori_trail::Trail::open(
        &data,
        &mamori_core::config::TrailConfig {
            retention_days: 0,
            ..cfg.trail
        },
    )?;
    let org = mamori_org::Org::open(&data)?;
    let (org_id, account) = org.organization()?;
    let db = Arc::new(store::TrailsDb::open(
        &data,
        Arc::new(mamori_core::seal::Keyring::from_key(&[0; 32])),
    )?);
    let confinement = mamori_dest::Confinement::new(&work.join("destinations"), &[])?;
    let out = confinement.account_dir(account).join("bucket");
    let sp: spec::TrailSpec = serde_json::from_value(serde_json::json!({
        "name": "bench",
        "destination": "bucket",
        "digestIntervalSeconds": 1,
        "advancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management", "Data"]}]}],
    }))?;
    let t = db.create(account, &sp, 0, "mamori/bench", chrono::Utc::now())?;
    let engine = deliver::Engine::new(
        db.clone(),
        trail.history.clone(),
        org_id.as_str().to_string(),
        confinement,
    );
    let started = Instant::now();
    let report = engine.step(t.id, true).await?;
    let secs = started.elapsed().as_secs_f64();
    let gz_bytes: u64 = mamori_core::files::walk(
        std::slice::from_ref(&out),
        |p| p.to_string_lossy().contains("/CloudTrail/"),
        |_| false,
    )
    .files
    .iter()
    .map(|f| f.len)
    .sum();
    println!(
        "delivery: {} events in {} files ({:.1} MB .json.gz) in {secs:.1} s = {:.0} events/s (canonical JSON, SHA-256, gzip, Merkle leaves, checkpoint)",
        report.events,
        report.files,
        gz_bytes as f64 / 1e6,
        report.events as f64 / secs
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    engine.step(t.id, true).await?;
    let t = db.get_by_id(t.id)?;
    let keys = validate::KeySet {
        digest_keys: db
            .public_keys(std::slice::from_ref(&t))?
            .into_iter()
            .map(|k| validate::KeyEntry {
                fingerprint: k.fingerprint,
                algorithm: k.algorithm,
                value: k.value,
            })
            .collect(),
        checkpoint_keys: vec![validate::CheckpointKey {
            trail: "bench".into(),
            verifier_key: t.note_vkey.clone(),
        }],
    };
    let dest = mamori_trails::dest::Destination::open(&out.display().to_string())?;
    let started = Instant::now();
    let r = validate::validate(&dest, "", &keys, &validate::Options::default())
        .await
        .map_err(anyhow::Error::msg)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "validate: {} log files, {} digests, {} records rebuilt into the Merkle log; {:.1} MB hashed in {secs:.1} s = {:.0} MB/s (ok: {})",
        r.log_files_valid + r.log_files_invalid,
        r.digests_valid + r.digests_invalid,
        r.records,
        r.bytes_hashed as f64 / 1e6,
        r.bytes_hashed as f64 / 1e6 / secs,
        r.ok()
    );
    let conn = db.conn();
    let tree = merkle::TreeHashes::new(&conn, t.id);
    let size = t.leaves;
    let root = tree.root(size)?;
    let mut rng = Rng(3);
    let mut proofs = Vec::with_capacity(b.proofs);
    let started = Instant::now();
    for _ in 0..b.proofs {
        let i = rng.below(size);
        proofs.push((i, tree.inclusion(i, size)?));
    }
    let gen_us = started.elapsed().as_secs_f64() * 1e6 / b.proofs as f64;
    let leaves: Vec<merkle::Hash> = proofs
        .iter()
        .map(|(i, _)| -> anyhow::Result<merkle::Hash> {
            let bytes: Vec<u8> = conn.query_row(
                "SELECT hash FROM tlog_hashes WHERE trail = ?1 AND idx = ?2",
                rusqlite::params![t.id, tlog_tiles::stored_hash_index(0, *i) as i64],
                |r| r.get(0),
            )?;
            Ok(merkle::Hash(
                bytes.try_into().map_err(|_| anyhow::anyhow!("bad hash"))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    for ((i, p), leaf) in proofs.iter().zip(&leaves) {
        let p: Vec<Vec<u8>> = p.iter().map(|h| h.0.to_vec()).collect();
        merkle::verify_inclusion(*i, size, &leaf.0, &p, &root.0)?;
    }
    let verify_us = started.elapsed().as_secs_f64() * 1e6 / b.proofs as f64;
    println!(
        "inclusion proofs in a log of {size} records: generate {gen_us:.0} µs, verify {verify_us:.1} µs (mean of {})",
        b.proofs
    );
    Ok(0)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time per thread name over an interval, from /proc/self/task (sampled every 50 ms, so a
/// thread that ends is counted up to its last sample).
struct ThreadCpu {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<std::collections::BTreeMap<String, f64>>,
    process_before: f64,
}

/// CPU seconds of the whole process so far, threads that have exited included (sampling
/// threads one by one misses those that live between two samples).
fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

impl ThreadCpu {
    fn start() -> ThreadCpu {
        fn sample(seen: &mut std::collections::HashMap<String, (String, u64)>) {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
                return;
            };
            for t in tasks.flatten() {
                let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                    continue;
                };
                // pid (comm) state … utime stime: fields 14 and 15, counted after the ")".
                let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                    continue;
                };
                let comm = stat[open + 1..close].to_string();
                let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
                let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
                    + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
                let tid = t.file_name().to_string_lossy().to_string();
                seen.insert(tid, (comm, ticks));
            }
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut before = std::collections::HashMap::new();
            sample(&mut before);
            let mut seen = std::collections::HashMap::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                sample(&mut seen);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            sample(&mut seen);
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            let mut out = std::collections::BTreeMap::new();
            for (tid, (comm, ticks)) in seen {
                let base = before.get(&tid).map_or(0, |(_, t)| *t);
                *out.entry(comm).or_insert(0.0) += ticks.saturating_sub(base) as f64 / hz;
            }
            out
        });
        ThreadCpu {
            stop,
            handle,
            process_before: process_cpu(),
        }
    }

    /// CPU seconds per thread name, largest first, then the time of threads too short-lived to
    /// be sampled (the process total minus the threads seen).
    fn stop(self) -> Vec<(String, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let total = process_cpu() - self.process_before;
        let mut v: Vec<(String, f64)> = self
            .handle
            .join()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, c)| *c >= 0.05)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let seen: f64 = v.iter().map(|(_, c)| c).sum();
        if total - seen >= 0.05 {
            v.push(("short-lived threads".into(), total - seen));
        }
        v
    }
}

fn vm_rss_mb() -> f64 {
    rss_mb("self")
}

/// A process's resident set in MB (`pid` a number or `self`), from /proc.
pub(crate) fn rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// One core: parse-only over the files, then the full hunt (all built-in detectors, a threat
/// list of `list_entries` public addresses and CIDRs) over the same files.
/// Ingest acknowledgement → finding visible in the API, on a real server: each sample posts one
/// StopLogging event (a new finding each time) and polls until the finding is there.
async fn guard_latency(samples: usize) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("mamori-bench").tempdir()?;
    let (mut child, addr, key) = start_server(tmp.path())?;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}");
    let run = async {
        http.post(format!("{url}/v1/guard/detector"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"enabled": true}))
            .send()
            .await?
            .error_for_status()?;
        let mut lat = Vec::with_capacity(samples);
        for i in 0..samples {
            let ev = serde_json::json!([{
                "eventVersion": "1.08", "eventTime": chrono::Utc::now().to_rfc3339(),
                "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
                "eventID": format!("lat-{i}"), "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1",
                "userIdentity": {"type": "IAMUser", "userName": "bench", "accessKeyId": "AKIABENCH"},
                "requestParameters": {"name": format!("trail-{i}")}
            }]);
            http.post(format!("{url}/v1/trail/events"))
                .bearer_auth(&key)
                .json(&ev)
                .send()
                .await?
                .error_for_status()?;
            let acked = Instant::now();
            let want = serde_json::json!(format!("lat-{i}"));
            loop {
                let v: serde_json::Value = http
                    .get(format!("{url}/v1/guard/findings?maxResults=1"))
                    .bearer_auth(&key)
                    .send()
                    .await?
                    .json()
                    .await?;
                let hit = v["findings"][0]["service"]["additionalInfo"]["eventIds"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&want));
                if hit {
                    lat.push(acked.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                anyhow::ensure!(
                    acked.elapsed() < Duration::from_secs(30),
                    "no finding after 30 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        anyhow::Ok(lat)
    };
    let result = run.await;
    let _ = child.kill();
    let _ = child.wait();
    let mut lat = result?;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "streaming, ingest acknowledged → finding in the API ({} samples): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
    Ok(())
}

fn guard_bench(b: GuardBench) -> anyhow::Result<u8> {
    use mamori_guard::cloudtrail::Context;
    use mamori_guard::finding::Findings;
    use mamori_guard::intel::{Intel, ListFormat, ListKind};
    let tmp = tempfile::Builder::new().prefix("mamori-bench").tempdir()?;
    println!(
        "mamori bench guard on {} ({} build)",
        machine(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let work = b
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (files, gz) = generate(&work.join("logs"), b.events, 10_000, 7, 42)?;
    println!(
        "generated {} records in {} files, {:.1} MB .json.gz",
        b.events,
        files.len(),
        gz as f64 / 1e6
    );
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();

    // Gunzip into one reused buffer, as the hunt and the import do.
    let mut buf = Vec::new();
    let t = Instant::now();
    let mut raw = 0usize;
    for p in &paths {
        let bytes = std::fs::read(p)?;
        body::gunzip_into(&bytes, 1 << 30, &mut buf)?;
        raw += buf.len();
    }
    println!(
        "gunzip only, 1 core: {:.0} MB/s ({:.0} MB uncompressed)",
        raw as f64 / 1e6 / t.elapsed().as_secs_f64(),
        raw as f64 / 1e6
    );
    let t = Instant::now();
    let mut n = 0u64;
    for p in &paths {
        let bytes = std::fs::read(p)?;
        body::gunzip_into(&bytes, 1 << 30, &mut buf)?;
        for r in body::split_records(&buf)? {
            let rec: mamori_trail::Record = serde_json::from_str(r)?;
            n += u64::from(!rec.event_id.is_absent());
        }
    }
    let parse = n as f64 / t.elapsed().as_secs_f64();
    println!("parse-only, 1 core: {:.0} events/s", parse);

    let rss0 = vm_rss_mb();
    let mut list = String::with_capacity(b.list_entries * 16);
    let mut rng = Rng(7);
    for i in 0..b.list_entries {
        let v = rng.next();
        // Public-looking addresses (first octet 11–99), every 10th a /24.
        let a = 11 + (v % 89) as u8;
        if i % 10 == 0 {
            list.push_str(&format!(
                "{a}.{}.{}.0/24\n",
                (v >> 8) as u8,
                (v >> 16) as u8
            ));
        } else {
            list.push_str(&format!(
                "{a}.{}.{}.{}\n",
                (v >> 8) as u8,
                (v >> 16) as u8,
                (v >> 24) as u8
            ));
        }
    }
    let t = Instant::now();
    let mut intel = Intel::with_canaries();
    let (entries, _) = intel.load(
        "bench.txt",
        ListKind::Threat,
        ListFormat::Txt,
        list.as_bytes(),
    )?;
    drop(list);
    println!(
        "threat list: {entries} entries loaded in {:.2} s; RSS +{:.0} MB",
        t.elapsed().as_secs_f64(),
        vm_rss_mb() - rss0
    );
    let ctx = Context {
        intel: &intel,
        instance_networks: &[],
    };
    let mut findings = Findings::default();
    let mut sigma = b.rules.as_ref().map(|dir| {
        let t = Instant::now();
        let (rules, errors) = mamori_guard::sigma::SigmaRules::load(std::slice::from_ref(dir));
        println!(
            "Sigma: {} rules, {} correlations ({} rejected), loaded in {:.3} s",
            rules.rules,
            rules.correlations,
            errors.len(),
            t.elapsed().as_secs_f64()
        );
        rules
    });
    // One timed hunt over the files on `jobs` threads (0: every core).
    let mut timed_hunt = |findings: &mut Findings, jobs: usize| {
        let t = Instant::now();
        let stats = mamori_guard::hunt::hunt(
            &paths,
            mamori_guard::hunt::Source::CloudTrail,
            &ctx,
            &mamori_guard::config::GuardConfig::default(),
            sigma.as_mut(),
            findings,
            "2026-01-01T00:00:00Z",
            jobs,
        );
        (stats, t.elapsed().as_secs_f64())
    };
    let (stats, secs) = timed_hunt(&mut findings, 1);
    println!(
        "hunt, 1 core: {:.0} events/s ({} records, {} signals, {} findings; ratio to parse-only {:.2})",
        stats.records as f64 / secs,
        stats.records,
        stats.signals,
        findings.by_id.len(),
        stats.records as f64 / secs / parse
    );
    // The same hunt on every core (what `mamori guard hunt` does by default): same findings.
    let one_core = serde_json::to_string(&findings.sorted())?;
    let mut findings = Findings::default();
    let (stats, secs) = timed_hunt(&mut findings, 0);
    println!(
        "hunt, all {} cores: {:.0} events/s ({} findings{})",
        cores(),
        stats.records as f64 / secs,
        findings.by_id.len(),
        if serde_json::to_string(&findings.sorted())? == one_core {
            ", identical to 1 core's"
        } else {
            " — DIFFERENT from 1 core"
        }
    );
    if b.latency_samples > 0 {
        tokio::runtime::Handle::current().block_on(guard_latency(b.latency_samples))?;
    }
    Ok(0)
}
