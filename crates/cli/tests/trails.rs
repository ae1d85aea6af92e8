//! Trails end to end through the real binary: delivery to a directory, digests, the Merkle log,
//! offline validation — and the tamper suite: one test per way of tampering, each failing if
//! `mamori trail validate` misses it. Plus a SIGKILL in the middle of deliveries.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, bin, record};
use serde_json::{Value, json};

struct Delivered {
    server: Server,
    out: PathBuf,
    keys: PathBuf,
    ids: Vec<String>,
}

fn cli(s: &Server, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env("MAMORI_ENDPOINT", &s.url)
        .env("MAMORI_KEY", &s.key)
        .output()
        .unwrap()
}

fn ingest(s: &Server, ids: &[String]) {
    let body = Value::Array(
        ids.iter()
            .map(|id| record(id, "CreateUser", "2026-11-28T10:00:00Z"))
            .collect(),
    );
    let (st, _) = s.post("/v1/trail/events", &s.key, body.to_string());
    assert_eq!(st, 200);
}

/// A trail that delivered a few batches over several digest periods, then stopped logging.
fn delivered() -> Delivered {
    // mamori's own events (CreateTrail, StopLogging) in another region than the ingested ones:
    // two digest chains, so a gap in one shows against the other.
    let server = Server::start_with("[trail]\nretention_days = 0\nregion = \"eu-west-1\"\n");
    let out = server.dest_dir("bucket");
    let o = cli(
        &server,
        &[
            "trail",
            "create",
            "main",
            "--destination",
            out.to_str().unwrap(),
            "--delivery-interval",
            "1s",
            "--digest-interval",
            "1s",
            "--max-file-events",
            "40",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ids = Vec::new();
    for b in 0..5 {
        let batch: Vec<String> = (0..60).map(|i| format!("ev-{b}-{i}")).collect();
        ingest(&server, &batch);
        ids.extend(batch);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(cli(&server, &["trail", "flush", "main"]).status.success());
    }
    assert!(
        cli(&server, &["trail", "stop-logging", "main"])
            .status
            .success()
    );
    std::thread::sleep(Duration::from_millis(1100));
    let o = cli(&server, &["trail", "flush", "main"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let keys = server.dir.path().join("keys.json");
    let o = cli(&server, &["trail", "public-keys", "--format", "json"]);
    std::fs::write(&keys, &o.stdout).unwrap();
    Delivered {
        server,
        out,
        keys,
        ids,
    }
}

fn validate(d: &Delivered, dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "trail",
        "validate",
        dir.to_str().unwrap(),
        "--public-keys",
        d.keys.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = cli(&d.server, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{text}"
    );
    (o.status.success(), text)
}

/// A copy of the delivered tree to tamper with.
fn copy(d: &Delivered, name: &str) -> PathBuf {
    let to = d.server.dir.path().join(name);
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(&d.out)
            .arg(&to)
            .status()
            .unwrap()
            .success()
    );
    to
}

fn files(dir: &Path, part: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(part) && p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

fn delivered_ids(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for f in files(dir, "/CloudTrail/", ".json.gz") {
        let v: Value = serde_json::from_slice(&gunzip(&f)).unwrap();
        for r in v["Records"].as_array().unwrap() {
            if r["eventSource"] == "iam.amazonaws.com" {
                ids.push(r["eventID"].as_str().unwrap().to_string());
            }
        }
    }
    ids
}

fn us_east_logs(dir: &Path) -> Vec<PathBuf> {
    files(dir, "/CloudTrail/us-east-1/", ".json.gz")
}

#[test]
fn delivery_digests_proofs_and_the_tamper_suite() {
    let d = delivered();
    // Every event delivered exactly once, in CloudTrail's layout.
    let mut got = delivered_ids(&d.out);
    assert_eq!(got.len(), d.ids.len(), "no event lost or repeated");
    got.sort();
    let mut want = d.ids.clone();
    want.sort();
    assert_eq!(got, want);
    let logs = us_east_logs(&d.out);
    assert!(logs.len() >= 5, "files cut at 40 events: {logs:?}");
    let digests = files(&d.out, "/CloudTrail-Digest/us-east-1/", ".json.gz");
    assert!(digests.len() >= 5, "one digest per period: {digests:?}");
    let first: Value = serde_json::from_slice(&gunzip(&digests[0])).unwrap();
    assert!(
        first["previousDigestSignature"].is_null(),
        "a chain starts with null previous fields"
    );
    let second: Value = serde_json::from_slice(&gunzip(&digests[1])).unwrap();
    assert_eq!(second["digestStartTime"], first["digestEndTime"]);

    let (ok, text) = validate(&d, &d.out, &[]);
    assert!(ok, "untouched delivery validates:\n{text}");

    // Inclusion proof, verified offline with only the public key.
    let proof = cli(&d.server, &["trail", "prove", "ev-2-7", "--trail", "main"]);
    assert!(
        proof.status.success(),
        "{}",
        String::from_utf8_lossy(&proof.stderr)
    );
    let proof_file = d.server.dir.path().join("proof.json");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    let keys: Value = serde_json::from_slice(&std::fs::read(&d.keys).unwrap()).unwrap();
    let vkey = keys["CheckpointKeys"][0]["VerifierKey"]
        .as_str()
        .unwrap()
        .to_string();
    let o = cli(
        &d.server,
        &[
            "trail",
            "verify-proof",
            proof_file.to_str().unwrap(),
            "--public-key",
            &vkey,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut forged: Value = serde_json::from_slice(&proof.stdout).unwrap();
    forged["record"] = json!(
        forged["record"]
            .as_str()
            .unwrap()
            .replace("CreateUser", "DeleteUser")
    );
    std::fs::write(&proof_file, forged.to_string()).unwrap();
    let o = cli(
        &d.server,
        &[
            "trail",
            "verify-proof",
            proof_file.to_str().unwrap(),
            "--public-key",
            &vkey,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "a changed record fails its proof");

    // Consistency between the first and the latest checkpoint.
    let sizes: Vec<u64> = files(&d.out, "/CloudTrail-Checkpoint/main/size/", "")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().parse().unwrap())
        .collect();
    assert!(sizes.len() >= 3, "a checkpoint per delivery: {sizes:?}");
    let c = cli(
        &d.server,
        &[
            "trail",
            "consistency",
            &sizes[0].to_string(),
            "--trail",
            "main",
        ],
    );
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let cfile = d.server.dir.path().join("consistency.json");
    std::fs::write(&cfile, &c.stdout).unwrap();
    assert!(
        cli(
            &d.server,
            &[
                "trail",
                "verify-proof",
                cfile.to_str().unwrap(),
                "--public-key",
                &vkey
            ]
        )
        .status
        .success()
    );

    // 1. A modified log file.
    let dir = copy(&d, "t-modified");
    let f = &us_east_logs(&dir)[1];
    let text = String::from_utf8(gunzip(f))
        .unwrap()
        .replacen("CreateUser", "CreateUsr", 1);
    std::fs::write(f, common::gzip(text.as_bytes())).unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(!ok && out.contains("hash value doesn't match"), "{out}");

    // 2. A deleted log file.
    let dir = copy(&d, "t-deleted");
    std::fs::remove_file(&us_east_logs(&dir)[2]).unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(
        !ok && out.contains("not found") && out.contains("missing"),
        "{out}"
    );

    // 3. An extra file injected under the trail's prefix (a plausible log file, and junk).
    let dir = copy(&d, "t-injected");
    let f = &us_east_logs(&dir)[0];
    let forged = f.with_file_name(
        f.file_name()
            .unwrap()
            .to_string_lossy()
            .replace("_0000000000000", "_0000000000fff"),
    );
    std::fs::copy(f, &forged).unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(
        !ok && (out.contains("not listed in any digest") || out.contains("Merkle log")),
        "{out}"
    );
    let dir = copy(&d, "t-junk");
    std::fs::write(dir.join("AWSLogs/notes.txt"), "hello").unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(!ok && out.contains("injected"), "{out}");

    // 3b. Another account's trail delivering into the same folder (refused by the server now,
    // but a destination can be written by anything): its files are named as another trail's,
    // not read as a gap or a truncation of this log.
    let dir = copy(&d, "t-foreign");
    let f = &us_east_logs(&dir)[0];
    let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().to_string();
    let account = rel.split('/').nth(1).unwrap().to_string();
    let foreign = dir.join(rel.replace(&account, "999999999999"));
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::copy(f, &foreign).unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(!ok && out.contains("another trail's file"), "{out}");
    assert!(
        !out.contains("truncation") && !out.contains("are missing"),
        "the foreign file does not break this log: {out}"
    );

    // 4. Files reordered (contents swapped) or renamed.
    let dir = copy(&d, "t-swapped");
    let l = us_east_logs(&dir);
    let (a, b) = (std::fs::read(&l[0]).unwrap(), std::fs::read(&l[1]).unwrap());
    std::fs::write(&l[0], &b).unwrap();
    std::fs::write(&l[1], &a).unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(!ok && out.contains("hash value doesn't match"), "{out}");
    let dir = copy(&d, "t-renamed");
    let l = us_east_logs(&dir);
    let name = l[1].file_name().unwrap().to_string_lossy().to_string();
    std::fs::rename(
        &l[1],
        l[1].with_file_name(format!("{}{}", &name[..name.len() - 10], "9.json.gz")),
    )
    .unwrap();
    let (ok, out) = validate(&d, &dir, &[]);
    assert!(!ok && out.contains("not found"), "{out}");

    // 5. Several consecutive digests deleted: each one is reported (aws-cli#7054 reports one).
    let dir = copy(&d, "t-digests");
    let ds = files(&dir, "/CloudTrail-Digest/us-east-1/", ".json.gz");
    for p in &ds[1..4] {
        std::fs::remove_file(p).unwrap();
        std::fs::remove_file(format!("{}.sig", p.display())).unwrap();
    }
    let (ok, out) = validate(&d, &dir, &[]);
    let missing = out
        .lines()
        .filter(|l| l.starts_with("Digest file") && l.contains("not found"))
        .count();
    assert!(
        !ok && missing >= 3,
        "three deleted digests ({:?}), {missing} reported:\n{out}",
        &ds[1..4]
    );

    // 5b. Every digest of one region's chain but its first deleted: its sibling chains go on, so
    // the gap shows (aws-cli sees nothing, as no newer digest points at them).
    let dir = copy(&d, "t-newest-digests");
    let ds = files(&dir, "/CloudTrail-Digest/us-east-1/", ".json.gz");
    for p in &ds[1..] {
        std::fs::remove_file(p).unwrap();
        std::fs::remove_file(format!("{}.sig", p.display())).unwrap();
    }
    let (ok, out) = validate(&d, &dir, &[]);
    let missing = out
        .lines()
        .filter(|l| l.starts_with("Digest file") && l.contains("newest digests deleted"))
        .count();
    assert!(
        !ok && missing >= ds.len() - 1,
        "{} newest digests deleted, {missing} reported:\n{out}",
        ds.len() - 1
    );

    // 6. Truncation of the newest records, given a checkpoint kept elsewhere.
    let dir = copy(&d, "t-truncated");
    let witness = d.server.dir.path().join("witness.txt");
    let cp = files(&dir, "/CloudTrail-Checkpoint/main/", "/checkpoint");
    std::fs::copy(&cp[0], &witness).unwrap();
    // The attacker removes the newest log files and digests and puts an older checkpoint back.
    let logs = files(&dir, "/CloudTrail/", ".json.gz");
    let newest_leaf = logs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .max_by_key(|n| n[n.len() - 24..].to_string())
        .unwrap();
    let victim = logs
        .iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == newest_leaf)
        .unwrap();
    std::fs::remove_file(victim).unwrap();
    for p in files(&dir, "/CloudTrail-Digest/", "") {
        std::fs::remove_file(p).unwrap();
    }
    let start: u64 = u64::from_str_radix(
        &newest_leaf[newest_leaf.len() - 24..newest_leaf.len() - 8],
        16,
    )
    .unwrap();
    let older = files(&dir, "/CloudTrail-Checkpoint/main/size/", "")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .parse::<u64>()
                .unwrap()
                <= start
        })
        .max()
        .unwrap();
    std::fs::copy(&older, &cp[0]).unwrap();
    for p in files(&dir, "/CloudTrail-Checkpoint/main/size/", "") {
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .parse::<u64>()
            .unwrap()
            > start
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let (ok, out) = validate(&d, &dir, &["--witness", witness.to_str().unwrap()]);
    assert!(!ok && out.contains("truncation"), "{out}");
}

#[test]
fn sigkill_mid_delivery_loses_and_repeats_nothing() {
    let mut s = Server::start();
    let out = s.dest_dir("bucket");
    let o = cli(
        &s,
        &[
            "trail",
            "create",
            "main",
            "--destination",
            out.to_str().unwrap(),
            "--delivery-interval",
            "1s",
            "--digest-interval",
            "1s",
            "--max-file-events",
            "500",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ids = Vec::new();
    for round in 0..4 {
        for b in 0..10 {
            let batch: Vec<String> = (0..500).map(|i| format!("k{round}-{b}-{i}")).collect();
            ingest(&s, &batch);
            ids.extend(batch);
        }
        // The background delivery is running (1 s cadence): kill it at a random-ish moment.
        std::thread::sleep(Duration::from_millis(700 + 150 * round));
        s.kill9();
        s.restart();
    }
    std::thread::sleep(Duration::from_millis(1200));
    let o = cli(&s, &["trail", "flush", "main"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got = delivered_ids(&out);
    let n = got.len();
    got.sort();
    got.dedup();
    assert_eq!(n, got.len(), "no event delivered twice");
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "no event lost");
    std::thread::sleep(Duration::from_millis(1100));
    assert!(cli(&s, &["trail", "flush", "main"]).status.success());
    let keys = s.dir.path().join("keys.json");
    std::fs::write(
        &keys,
        cli(&s, &["trail", "public-keys", "--format", "json"]).stdout,
    )
    .unwrap();
    let o = cli(
        &s,
        &[
            "trail",
            "validate",
            out.to_str().unwrap(),
            "--public-keys",
            keys.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "digests still chain:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn delete_makes_a_final_delivery_and_keeps_the_keys_verifiable() {
    let server = Server::start();
    let out = server.dest_dir("gone");
    let o = cli(
        &server,
        &[
            "trail",
            "create",
            "gone",
            "--destination",
            out.to_str().unwrap(),
            "--delivery-interval",
            "1h",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids: Vec<String> = (0..30).map(|i| format!("gone-{i}")).collect();
    ingest(&server, &ids);
    // Nothing is due for an hour; deleting delivers it all, the DeleteTrail event included.
    let o = cli(&server, &["trail", "delete", "gone"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got = delivered_ids(&out);
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    let mut names = Vec::new();
    for f in files(&out, "/CloudTrail/", ".json.gz") {
        let v: Value = serde_json::from_slice(&gunzip(&f)).unwrap();
        for r in v["Records"].as_array().unwrap() {
            names.push(r["eventName"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(names.iter().any(|n| n == "DeleteTrail"), "{names:?}");
    assert!(
        !files(&out, "/CloudTrail-Digest/", ".json.gz").is_empty(),
        "a final digest"
    );
    let o = cli(&server, &["trail", "list"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("gone"));

    // The deleted trail's public keys are still served, so what it delivered validates.
    let keys = server.dir.path().join("keys.json");
    let o = cli(&server, &["trail", "public-keys", "--format", "json"]);
    assert!(o.status.success());
    std::fs::write(&keys, &o.stdout).unwrap();
    let o = cli(
        &server,
        &[
            "trail",
            "validate",
            out.to_str().unwrap(),
            "--public-keys",
            keys.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
