//! `mamori bench guard`: hunt throughput per core and streaming detection latency.

use super::*;

/// Ingest acknowledgement → finding visible in the API, on a real server: each sample posts one
/// StopLogging event (a new finding each time) and polls until the finding is there.
pub(super) async fn guard_latency(samples: usize) -> anyhow::Result<()> {
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

/// One core: parse-only over the files, then the full hunt (all built-in detectors, a threat
/// list of `list_entries` public addresses and CIDRs) over the same files.
pub(super) fn guard_bench(b: GuardBench) -> anyhow::Result<u8> {
    use mamori_guard::cloudtrail::Context;
    use mamori_guard::finding::Findings;
    use mamori_guard::intel::{Intel, ListFormat, ListKind};
    let (_tmp, work) = prologue("guard", b.work_dir.as_deref())?;
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
        known: &Default::default(),
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
