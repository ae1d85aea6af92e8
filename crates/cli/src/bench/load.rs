//! `mamori bench load`: a real server under mixed load — `clients` connections, each sending
//! 1,000-event ingest batches or lookups at random (half and half by default) for `seconds` —
//! and what it costs: throughput, p50/p99/max per kind, errors, the server's peak RSS while
//! loaded and its RSS once idle again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::task::JoinSet;

use crate::bench::{Rng, event_name, record, start_server};

#[derive(Args)]
pub struct LoadBench {
    /// Concurrent clients
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Seconds of load
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// Percent of requests that are lookups (the rest ingest 1,000 events)
    #[arg(long, default_value_t = 50)]
    lookup_percent: u64,
    /// Seconds to wait idle after the load before reading the server's RSS again
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
    /// Where the server's data dir goes (default: a temp dir, removed afterwards)
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn rss_mb(pid: u32) -> f64 {
    crate::bench::rss_mb(&pid.to_string())
}

#[derive(Default)]
struct Tally {
    ingest: Vec<Duration>,
    lookup: Vec<Duration>,
    events: u64,
    errors: u64,
    first_error: Option<String>,
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

pub async fn run(b: LoadBench) -> anyhow::Result<u8> {
    let tmp = tempfile::Builder::new().prefix("mamori-load").tempdir()?;
    let work = b
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (mut child, addr, key) = start_server(&work.join("server"))?;
    let pid = child.id();
    let idle = rss_mb(pid);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(b.clients)
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    // RSS sampled every 100 ms while loaded.
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0f64;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for c in 0..b.clients {
        let (http, stop, key) = (http.clone(), stop.clone(), key.clone());
        let base = format!("http://{addr}");
        let lookup_percent = b.lookup_percent;
        set.spawn(async move {
            let mut rng = Rng(0x9E37_79B9 ^ ((c as u64 + 1) * 0x1000_0001));
            let mut t = Tally::default();
            let mut seq = (c as u64) << 40;
            while !stop.load(Ordering::Relaxed) {
                let lookup = rng.below(100) < lookup_percent;
                let begun = Instant::now();
                let result = if lookup {
                    let q = match rng.below(3) {
                        0 => format!("EventName={}", event_name(rng.skewed(300))),
                        1 => format!("Username=user-{}", rng.skewed(10_000)),
                        _ => "ReadOnly=false".to_string(),
                    };
                    http.get(format!("{base}/v1/trail/events?{q}&maxResults=50"))
                        .bearer_auth(&key)
                        .send()
                        .await
                } else {
                    let recs: Vec<String> = (0..1000)
                        .map(|i| {
                            seq += 1;
                            record(&mut rng, seq, now - 3600 + (i % 3600) as i64)
                        })
                        .collect();
                    http.post(format!("{base}/v1/trail/events"))
                        .bearer_auth(&key)
                        .body(format!("[{}]", recs.join(",")))
                        .send()
                        .await
                };
                let ok = match result {
                    Ok(r) if r.status().is_success() => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if !lookup {
                            t.events += v["accepted"].as_u64().unwrap_or(0);
                        }
                        Ok(())
                    }
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                let took = begun.elapsed();
                match ok {
                    Ok(()) if lookup => t.lookup.push(took),
                    Ok(()) => t.ingest.push(took),
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert(e);
                    }
                }
            }
            t
        });
    }
    tokio::time::sleep(Duration::from_secs(b.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    while let Some(r) = set.join_next().await {
        let t = r?;
        all.ingest.extend(t.ingest);
        all.lookup.extend(t.lookup);
        all.events += t.events;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let peak = sampler.await?;
    drop(http);
    tokio::time::sleep(Duration::from_secs(b.settle_seconds)).await;
    let after = rss_mb(pid);
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "load: {} clients for {secs:.0} s on {}: {} ingest requests ({:.0} events/s), {} lookups ({:.0}/s), {} errors{}",
        b.clients,
        crate::bench::machine(),
        all.ingest.len(),
        all.events as f64 / secs,
        all.lookup.len(),
        all.lookup.len() as f64 / secs,
        all.errors,
        all.first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    let (mut i, mut l) = (all.ingest, all.lookup);
    println!(
        "load: ingest of 1,000 events p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; lookup p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms",
        pct(&mut i, 0.5),
        pct(&mut i, 0.99),
        pct(&mut i, 1.0),
        pct(&mut l, 0.5),
        pct(&mut l, 0.99),
        pct(&mut l, 1.0)
    );
    println!(
        "load: server RSS idle {idle:.0} MB, peak {peak:.0} MB under load, {after:.0} MB {} s after",
        b.settle_seconds
    );
    Ok(0)
}
