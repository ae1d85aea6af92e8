//! `mamori bench console`: page render times of the console on a large data directory —
//! N events in the history (30 days), threat findings and vulnerability findings — through a
//! real `mamori serve`, signed in over HTTP as a browser would be.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use mamori_core::AccountId;
use serde_json::{Value, json};

use super::generate;

#[derive(Args)]
pub struct ConsoleBench {
    /// Events stored first (the issue asks for 10000000)
    #[arg(long, default_value_t = 10_000_000)]
    events: usize,
    /// Threat findings stored first
    #[arg(long, default_value_t = 100_000)]
    findings: usize,
    /// Vulnerability findings stored first (100 per scanned resource)
    #[arg(long, default_value_t = 100_000)]
    vulnerabilities: usize,
    /// Requests per page
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// Where the data dir goes (default: a temp dir, removed afterwards); a work dir a run of
    /// the same sizes prepared is measured again without being rebuilt
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

const KINDS: &[&str] = &[
    "Recon:IAMUser/MaliciousIPCaller",
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "Policy:IAMUser/RootCredentialUsage",
    "Discovery:S3/MaliciousIPCaller",
    "PenTest:IAMUser/KaliLinux",
    "Impact:IAMUser/AnomalousBehavior",
];

pub async fn run(b: ConsoleBench) -> anyhow::Result<u8> {
    let tmp = tempfile::Builder::new().prefix("mamori-bench").tempdir()?;
    let dir = b
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    println!(
        "mamori bench console on {} ({} build): {} events, {} threat findings, {} vulnerability findings",
        super::machine(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        b.events,
        b.findings,
        b.vulnerabilities
    );

    let ready = dir.join("bench-console.ready");
    let sizes = format!("{} {} {}\n", b.events, b.findings, b.vulnerabilities);
    if std::fs::read_to_string(&ready).is_ok_and(|s| s == sizes) {
        println!(
            "measuring the data dir a previous run prepared in {}",
            dir.display()
        );
        return serve_and_measure(&dir, b.samples).await;
    }

    // The organization, its admin key where the server expects it.
    let org = mamori_org::Org::open(&data)?;
    if let Some(boot) = org.bootstrap()? {
        std::fs::write(dir.join("admin.key"), format!("{}\n", boot.token))?;
    }
    let (_, account) = org.organization()?;
    drop(org);

    let t = Instant::now();
    let last_seq = {
        let files = generate::generate(&dir.join("gen"), b.events, 2_000, 30, 42)?.0;
        let target = std::sync::Arc::new(crate::import::open_direct(&data, None, None)?);
        crate::import::run_files(target.clone(), files, 3).await?;
        let seq = match &*target {
            crate::import::Target::Direct { trail, .. } => trail.history.last_seq()?,
            crate::import::Target::Server(_) => 0,
        };
        if let crate::import::Target::Direct { trail, .. } = &*target {
            trail.history.close();
        }
        let _ = std::fs::remove_dir_all(dir.join("gen"));
        seq
    };
    println!(
        "stored {} events in {:.0} s",
        b.events,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    store_findings(&data, account, b.findings, last_seq)?;
    store_vulnerabilities(&dir, &data, account, b.vulnerabilities)?;
    println!("stored the findings in {:.0} s", t.elapsed().as_secs_f64());
    if b.work_dir.is_some() {
        std::fs::write(&ready, sizes)?;
    }
    serve_and_measure(&dir, b.samples).await
}

async fn serve_and_measure(dir: &std::path::Path, samples: usize) -> anyhow::Result<u8> {
    let (mut child, addr, key) = super::start_server(dir)?;
    let result = measure(&addr, &key, samples).await;
    let _ = child.kill();
    let _ = child.wait();
    result?;
    Ok(0)
}

fn store_findings(
    data: &std::path::Path,
    account: AccountId,
    n: usize,
    last_seq: i64,
) -> anyhow::Result<()> {
    let keyring = std::sync::Arc::new(mamori_core::seal::Keyring::load(
        &data.join("kek.key"),
        &[],
    )?);
    let mut db = mamori_guard::store::GuardDb::open(data, keyring)?;
    let now = chrono::Utc::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..n {
        let time = (now - chrono::Duration::seconds((i as i64 * 2_591) % (30 * 86_400)))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let kind = KINDS[i % KINDS.len()];
        let signal = mamori_guard::finding::Signal {
            kind: kind.to_string(),
            severity: [2.0, 5.0, 5.0, 8.0, 8.0, 9.0, 2.0][i % 7],
            title: format!("{kind} seen"),
            description: format!("Generated finding {i} for the console benchmark."),
            account: account.to_string(),
            region: "us-east-1".into(),
            resource: json!({"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": format!("AKIA{i:016}"), "principalId": format!("AIDA{i:016}"),
                "userName": format!("user-{}", i % 500), "userType": "IAMUser"}}),
            resource_key: format!("AKIA{i:016}"),
            actor: format!("198.51.100.{}", i % 250),
            action: json!({"actionType": "AWS_API_CALL", "awsApiCallAction": {"api": "ListBuckets"}}),
            resource_role: "TARGET",
            evidence: None,
            info: None,
            event_id: Some(format!("bench-{i}")),
            time,
        };
        batch.push((account.as_i64(), signal));
        if batch.len() == 5_000 || i + 1 == n {
            db.commit(&batch, last_seq)?;
            batch.clear();
        }
    }
    Ok(())
}

fn store_vulnerabilities(
    dir: &std::path::Path,
    data: &std::path::Path,
    account: AccountId,
    n: usize,
) -> anyhow::Result<()> {
    const PER_RESOURCE: usize = 100;
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv)?;
    let severities = [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:H/PR:L/UI:R/S:U/C:L/I:L/A:N",
        "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
    ];
    for j in 0..PER_RESOURCE {
        let adv = json!({
            "schema_version": "1.6.0", "id": format!("MAMORI-BENCH-{j:04}"),
            "modified": "2026-10-01T00:00:00Z", "summary": format!("bench-pkg-{j} is vulnerable"),
            "severity": [{"type": "CVSS_V3", "score": severities[j % severities.len()]}],
            "affected": [{"package": {"ecosystem": "npm", "name": format!("bench-pkg-{j}")},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}]}],
            "references": [{"type": "ADVISORY", "url": format!("https://example.com/MAMORI-BENCH-{j:04}")}]
        });
        std::fs::write(osv.join(format!("{j}.json")), adv.to_string())?;
    }
    let mut adb = mamori_inspect::db::AdvisoryDb::open(&data.join("advisories.db"))?;
    adb.import(&osv)?;
    let mut store = mamori_inspect::store::InspectStore::open(data)?;
    let packages: Vec<mamori_inspect::inventory::Package> = (0..PER_RESOURCE)
        .map(|j| mamori_inspect::inventory::Package {
            name: format!("bench-pkg-{j}"),
            version: "1.0.0".into(),
            ecosystem: "npm".into(),
            purl: format!("pkg:npm/bench-pkg-{j}@1.0.0"),
            file_path: "package-lock.json".into(),
            package_manager: "NPM".into(),
            source_name: None,
            source_version: None,
            arch: None,
            source_layer: None,
        })
        .collect();
    let inventory = mamori_inspect::store::StoredInventory { os: None, packages };
    for r in 0..n.div_ceil(PER_RESOURCE) {
        store.record_scan(
            &adb,
            account,
            "VM",
            &format!("host-{r:05}"),
            &Value::Null,
            &inventory,
        )?;
    }
    Ok(())
}

async fn measure(addr: &str, key: &str, samples: usize) -> anyhow::Result<()> {
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = http
        .post(format!("{base}/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "key={}",
            form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        ))
        .send()
        .await?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("sign-in gave no session cookie")?
        .to_string();
    let get = |path: String| {
        let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.text().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            Ok::<_, anyhow::Error>(body)
        }
    };
    // A finding id to open.
    let list = get("/threats".into()).await?;
    let id = list
        .split("/threats/finding/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    let pages = [
        "/".to_string(),
        "/threats".into(),
        "/threats?severity=High".into(),
        format!("/threats/finding/{id}"),
        "/threats/rules".into(),
        "/vulnerabilities".into(),
        "/vulnerabilities/findings".into(),
        "/vulnerabilities/findings?severity=CRITICAL".into(),
        "/vulnerabilities/coverage".into(),
        "/events".into(),
        "/events?key=Username&value=alice".into(),
        "/events?key=EventName&value=GetObject&start=-2d".into(),
        "/trails".into(),
        "/organization".into(),
    ];
    println!("| page | p50 ms | p99 ms | max ms | bytes |");
    println!("|---|---|---|---|---|");
    for p in pages {
        let mut ms = Vec::with_capacity(samples);
        let mut bytes = 0;
        for _ in 0..samples {
            let t = Instant::now();
            bytes = get(p.clone()).await?.len();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        let pct = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        println!(
            "| `{p}` | {:.1} | {:.1} | {:.1} | {bytes} |",
            pct(0.5),
            pct(0.99),
            ms[ms.len() - 1]
        );
    }
    Ok(())
}
