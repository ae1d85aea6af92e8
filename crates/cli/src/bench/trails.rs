//! `mamori bench trails`: delivery, validation and Merkle proofs.

use super::*;

pub(super) async fn trails_bench(b: TrailsBench) -> anyhow::Result<u8> {
    use mamori_trails::{deliver, merkle, spec, store, validate};
    let (_tmp, work) = prologue("trails", b.work_dir.as_deref())?;
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
        .map(|(i, _)| tree.leaf(*i))
        .collect::<Result<_, _>>()?;
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
