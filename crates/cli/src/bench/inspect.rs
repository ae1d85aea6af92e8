//! `mamori bench inspect`: advisory import time, scan + match time of a root filesystem, and
//! re-matching many inventories — the figures of the inspection issue.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use mamori_inspect::db::AdvisoryDb;
use mamori_inspect::finding::Target;
use mamori_inspect::scan::{collect, match_inventory};

#[derive(Args)]
pub struct InspectBench {
    /// OSV data: a folder of <ecosystem>/all.zip (and kev/known_exploited_vulnerabilities.json)
    #[arg(long, default_value = "../shared/fixtures/osv")]
    osv: PathBuf,
    /// A root filesystem to scan [default: a copy of this host's /etc/os-release and dpkg status]
    #[arg(long)]
    rootfs: Option<PathBuf>,
    /// Scan repetitions (the median is reported)
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Inventories re-matched after an advisory update
    #[arg(long, default_value_t = 1000)]
    inventories: usize,
}

pub fn run(b: InspectBench) -> anyhow::Result<u8> {
    let (tmp, _) = crate::bench::prologue("inspect", None)?;
    // 1. Import every OSV export found, into a fresh database.
    let db_path = tmp.path().join("advisories.db");
    let mut db = AdvisoryDb::open(&db_path)?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&b.osv)
        .with_context(|| format!("reading {}", b.osv.display()))?
        .filter_map(|e| e.ok().map(|e| e.path().join("all.zip")))
        .filter(|p| p.is_file())
        .collect();
    sources.sort();
    let kev = b.osv.join("kev/known_exploited_vulnerabilities.json");
    if kev.is_file() {
        sources.push(kev);
    }
    let started = Instant::now();
    let mut advisories = 0;
    for s in &sources {
        let t = Instant::now();
        let r = db.import(s)?;
        advisories += r.added + r.withdrawn;
        println!(
            "import {:<60} {:>6} advisories, {:>5} KEV  {:>7.2} s",
            s.display(),
            r.added + r.withdrawn,
            r.kev,
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "import total: {advisories} advisories in {:.2} s; database {:.1} MB",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&db_path)?.len() as f64 / 1e6
    );

    // 2. Scan + match a root filesystem.
    let rootfs = match b.rootfs {
        Some(r) => r,
        None => {
            let r = tmp.path().join("rootfs");
            std::fs::create_dir_all(r.join("etc"))?;
            std::fs::create_dir_all(r.join("var/lib/dpkg"))?;
            std::fs::copy("/etc/os-release", r.join("etc/os-release"))
                .context("copying /etc/os-release (give --rootfs on a non-Debian host)")?;
            std::fs::copy("/var/lib/dpkg/status", r.join("var/lib/dpkg/status"))
                .context("copying /var/lib/dpkg/status (give --rootfs on a non-Debian host)")?;
            r
        }
    };
    // A synthetic distribution advisory set (the fixtures have none): one advisory per source
    // package of the root filesystem, every other one affecting the installed version, with a
    // CVSS vector — so matching, ordering and finding construction all run for real.
    let inv0 = collect(&rootfs)?;
    if let Some(eco) = inv0.packages.first().map(|p| p.ecosystem.clone()) {
        let dir = tmp.path().join("synthetic-osv");
        std::fs::create_dir_all(&dir)?;
        let mut seen = std::collections::HashSet::new();
        for (i, p) in inv0.packages.iter().enumerate() {
            let src = p.source_name.clone().unwrap_or_else(|| p.name.clone());
            let ver = p
                .source_version
                .clone()
                .unwrap_or_else(|| p.version.clone());
            if !seen.insert(src.clone()) {
                continue;
            }
            let fixed = if i % 2 == 0 {
                format!("{ver}.1")
            } else {
                ver.clone()
            };
            let adv = serde_json::json!({
                "id": format!("BENCH-{i:05}"),
                "modified": "2026-01-01T00:00:00Z",
                "summary": format!("synthetic advisory for {src}"),
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
                "affected": [{"package": {"ecosystem": eco, "name": src},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
            });
            std::fs::write(dir.join(format!("BENCH-{i:05}.json")), adv.to_string())?;
        }
        let t = Instant::now();
        let r = db.import(&dir)?;
        println!(
            "import synthetic {eco} set: {} advisories in {:.2} s",
            r.added,
            t.elapsed().as_secs_f64()
        );
    }
    let target = Target {
        account: "bench".into(),
        region: "local".into(),
        resource_type: "MACHINE_IMAGE".into(),
        resource_id: rootfs.display().to_string(),
        details: serde_json::Value::Null,
    };
    let mut times = Vec::new();
    let mut last = (0, 0);
    for _ in 0..b.runs.max(1) {
        let t = Instant::now();
        let inv = collect(&rootfs)?;
        let report = match_inventory(&db, &inv, &target, "2026-01-01T00:00:00Z")?;
        times.push(t.elapsed().as_secs_f64());
        last = (inv.packages.len(), report.findings.len());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "scan+match {}: {} packages, {} findings; median {:.4} s, min {:.4} s over {} runs",
        rootfs.display(),
        last.0,
        last.1,
        times[times.len() / 2],
        times[0],
        times.len()
    );

    // 3. Re-match stored inventories (here: N copies of the scanned one, already collected).
    let inv = collect(&rootfs)?;
    let t = Instant::now();
    let mut findings = 0;
    for _ in 0..b.inventories {
        findings += match_inventory(&db, &inv, &target, "2026-01-01T00:00:00Z")?
            .findings
            .len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "re-match {} inventories of {} packages in memory: {:.2} s ({:.2} ms each, {findings} findings)",
        b.inventories,
        inv.packages.len(),
        secs,
        secs * 1000.0 / b.inventories.max(1) as f64
    );

    // 4. The server's path: N stored inventories (inspect.db), then one advisory-database change
    // re-matches them all — decoding each stored inventory and moving its findings through the
    // lifecycle in SQLite.
    let store_dir = tmp.path().join("server");
    std::fs::create_dir_all(&store_dir)?;
    let mut store = mamori_inspect::store::InspectStore::open(&store_dir)?;
    let stored = mamori_inspect::store::StoredInventory {
        os: inv.os.clone(),
        packages: inv.packages.clone(),
    };
    let t = Instant::now();
    for i in 0..b.inventories {
        store.record_scan(
            &db,
            mamori_core::AccountId::new(1)?,
            "MACHINE_IMAGE",
            &format!("host-{i:05}"),
            &serde_json::Value::Null,
            &stored,
        )?;
    }
    println!(
        "record {} scans (store + match): {:.2} s",
        b.inventories,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let summary = store.rematch_all(&db)?;
    println!(
        "re-match {} stored inventories after an advisory update: {:.2} s ({} resources, {} active findings)",
        b.inventories,
        t.elapsed().as_secs_f64(),
        summary.resources,
        summary.active
    );
    Ok(0)
}
