//! `mamori inspect` end to end through the real binary: advisories imported (idempotently,
//! withdrawn ones ignored, bad files rejected without losing the good ones), a project scanned
//! offline, findings in Inspector's shape, CI exit codes, and clear errors on bad targets.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mamori")
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(bin()).args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn advisories(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write(
        &dir.join("DEMO-2099-0001.json"),
        &json!({
            "id": "DEMO-2099-0001",
            "modified": "2099-01-02T00:00:00Z",
            "published": "2099-01-01T00:00:00Z",
            "aliases": ["CVE-2099-0001"],
            "summary": "Remote code execution in demo-crate",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{
                "package": {"ecosystem": "crates.io", "name": "demo-crate"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]
            }],
            "references": [{"type": "ADVISORY", "url": "https://example.test/DEMO-2099-0001"}]
        }),
    );
    write(
        &dir.join("DEMO-2099-0002.json"),
        &json!({
            "id": "DEMO-2099-0002",
            "modified": "2099-01-02T00:00:00Z",
            "withdrawn": "2099-01-03T00:00:00Z",
            "summary": "Withdrawn: never matched",
            "affected": [{
                "package": {"ecosystem": "crates.io", "name": "demo-crate"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
            }]
        }),
    );
    write(
        &dir.join("DEMO-2099-0003.json"),
        &json!({
            "id": "DEMO-2099-0003",
            "modified": "2099-01-02T00:00:00Z",
            "summary": "Information leak in Demo_Py",
            "database_specific": {"severity": "MODERATE"},
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "demo-py"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4.post1"}]}]
            }]
        }),
    );
    std::fs::write(dir.join("broken.json"), b"{\"id\": ").unwrap();
    write(
        &dir.join("kev.json"),
        &json!({
            "catalogVersion": "2099.01.01",
            "vulnerabilities": [{"cveID": "CVE-2099-0001", "dateAdded": "2099-01-05", "vulnerabilityName": "demo"}]
        }),
    );
}

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("py")).unwrap();
    std::fs::write(
        dir.join("Cargo.lock"),
        "version = 3\n\n[[package]]\nname = \"demo-crate\"\nversion = \"1.1.9\"\n\n[[package]]\nname = \"safe-crate\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("py/requirements.txt"),
        "Demo_Py==1.4.post1  # pinned\nunpinned-thing>=2\n-r ../../outside.txt\n",
    )
    .unwrap();
}

#[test]
fn import_scan_findings_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("adv.db");
    let db = db.to_str().unwrap();
    let adv = tmp.path().join("osv");
    advisories(&adv);
    let (code, out, err) = run(&["inspect", "db", "import", "--db", db, adv.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(1),
        "a rejected record exits 1 (README's exit codes): {out}{err}"
    );
    assert!(
        out.contains(
            "2 added, 0 updated, 1 withdrawn, 0 unchanged, 1 KEV entries changed, 1 rejected"
        ),
        "{out}"
    );
    assert!(
        err.contains("broken.json: not JSON"),
        "the bad file is named: {err}"
    );
    // Idempotent.
    let (_, out, _) = run(&["inspect", "db", "import", "--db", db, adv.to_str().unwrap()]);
    assert!(
        out.contains("0 added, 0 updated, 0 withdrawn, 3 unchanged, 0 KEV"),
        "{out}"
    );

    // A corrupt zip is refused as a whole, naming it, and loses nothing already imported.
    let bad = tmp.path().join("all.zip");
    std::fs::write(&bad, b"PK\x03\x04 truncated").unwrap();
    let (code, _, err) = run(&["inspect", "db", "import", "--db", db, bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "an input refused whole is an input error");
    assert!(err.contains("all.zip") && err.contains("zip"), "{err}");
    let (_, status, _) = run(&["inspect", "db", "status", "--db", db, "--format", "json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["advisories"], 2);
    assert_eq!(status["withdrawn"], 1);
    assert_eq!(status["kev_entries"], 1);

    let proj = tmp.path().join("proj");
    project(&proj);
    let (code, out, err) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{out}");
    let f = &findings[0];
    assert_eq!(f["type"], "PACKAGE_VULNERABILITY");
    assert_eq!(f["title"], "DEMO-2099-0001 - demo-crate");
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["inspectorScore"], 9.8);
    assert_eq!(
        f["inspectorScoreDetails"]["adjustedCvss"]["adjustments"],
        json!([])
    );
    assert_eq!(f["fixAvailable"], "YES");
    assert_eq!(f["exploitAvailable"], "YES");
    assert_eq!(
        f["exploitabilityDetails"]["lastKnownExploitAt"],
        "2099-01-05"
    );
    assert_eq!(f["status"], "ACTIVE");
    let d = &f["packageVulnerabilityDetails"];
    assert_eq!(d["vulnerabilityId"], "DEMO-2099-0001");
    assert_eq!(d["relatedVulnerabilities"], json!(["CVE-2099-0001"]));
    assert_eq!(d["sourceUrl"], "https://example.test/DEMO-2099-0001");
    assert_eq!(d["cvss"][0]["baseScore"], 9.8);
    let p = &d["vulnerablePackages"][0];
    assert_eq!(p["fixedInVersion"], "1.2.0");
    assert_eq!(p["filePath"], "Cargo.lock");
    assert_eq!(p["packageManager"], "CARGO");
    assert_eq!(p["purl"], "pkg:cargo/demo-crate@1.1.9");
    // PEP 440: 1.4.post1 is the last affected version; the name is normalised.
    let py = &findings[1];
    assert_eq!(py["severity"], "MEDIUM", "from the advisory's own label");
    assert_eq!(
        py["packageVulnerabilityDetails"]["vulnerablePackages"][0]["fixedInVersion"],
        "NotAvailable"
    );
    assert_eq!(py["fixAvailable"], "NO");
    // What was skipped, and why — including the include that climbs out of the tree.
    let skipped = v["inventory"]["skipped"].to_string();
    assert!(
        skipped.contains("unpinned-thing") && skipped.contains("not pinned"),
        "{skipped}"
    );
    assert!(skipped.contains("outside the scanned tree"), "{skipped}");

    // CI gate: exit code when findings at or above the threshold remain.
    let (code, out, _) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        db,
        "--exit-code",
        "3",
    ]);
    assert_eq!(code, Some(3));
    assert!(
        out.contains("DEMO-2099-0001") && out.contains("KEV"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "inspect",
        "scan",
        proj.join("py/requirements.txt").to_str().unwrap(),
        "--db",
        db,
        "--exit-code",
        "3",
        "--min-severity",
        "critical",
    ]);
    assert_eq!(code, Some(0), "MEDIUM is below the threshold: {out}");

    // SBOM out, and back in as a target: the same findings.
    let (code, bom, err) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "cyclonedx",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let bom_v: Value = serde_json::from_str(&bom).unwrap();
    assert_eq!(bom_v["specVersion"], "1.5");
    assert_eq!(bom_v["vulnerabilities"].as_array().unwrap().len(), 2);
    let bom_file = tmp.path().join("proj.cdx.json");
    std::fs::write(&bom_file, &bom).unwrap();
    let (code, out, err) = run(&[
        "inspect",
        "scan",
        bom_file.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    let ids = |v: &Value| {
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["title"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&again),
        ids(&v),
        "an SBOM scans like the project it describes"
    );
    let (code, out, _) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "spdx",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"spdxVersion\": \"SPDX-2.3\""), "{out}");
    let (code, out, _) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "sarif",
    ]);
    assert_eq!(code, Some(0));
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "Cargo.lock"
    );

    // Bad targets: clear errors.
    let (code, _, err) = run(&["inspect", "scan", "/no/such/dir", "--db", db]);
    assert_ne!(code, Some(0));
    assert!(err.contains("/no/such/dir"), "{err}");
    let odd = tmp.path().join("notes.txt");
    std::fs::write(&odd, "hello").unwrap();
    let (code, _, err) = run(&["inspect", "scan", odd.to_str().unwrap(), "--db", db]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not a lockfile"), "{err}");
    let (code, _, err) = run(&[
        "inspect",
        "scan",
        proj.to_str().unwrap(),
        "--db",
        tmp.path().join("none.db").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("inspect db import"), "{err}");
}
