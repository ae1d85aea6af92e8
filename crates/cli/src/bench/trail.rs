//! `mamori bench trail`: import vs parse-only, HTTP ingest, lookup latency, import RSS.

use super::*;

/// Decompress, split and fully parse + index every record (no compression, no store), with the
/// same parallelism as the import.
pub(super) async fn parse_only(files: &[(PathBuf, u64)]) -> anyhow::Result<f64> {
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

pub(super) async fn http_ingest(dir: &Path, n: usize, clients: usize) -> anyhow::Result<f64> {
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

pub(super) async fn lookup_latency(dir: &Path, n: usize, lookups: usize) -> anyhow::Result<()> {
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

pub(super) fn import_rss(dir: &Path, mb: usize) -> anyhow::Result<()> {
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
