//! Continuous inspection on a real server: an image built by the test is scanned and its
//! inventory recorded; an advisory-database update (one advisory added, one withdrawn) moves
//! findings to ACTIVE / CLOSED with no rescan; suppression rules; coverage and stats; accounts
//! see only their own findings.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

fn cli(s: &Server, args: &[&str]) -> (Option<i32>, String) {
    s.cli(args)
}

fn advisory(dir: &Path, id: &str, eco: &str, name: &str, fixed: &str, withdrawn: bool) {
    let mut v = json!({
        "id": id,
        "modified": if withdrawn { "2099-02-01T00:00:00Z" } else { "2099-01-01T00:00:00Z" },
        "summary": format!("{id} in {name}"),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}],
        "affected": [{"package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
    });
    if withdrawn {
        v["withdrawn"] = json!("2099-02-01T00:00:00Z");
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{id}.json")), v.to_string()).unwrap();
}

fn findings(s: &Server, key: &str) -> Vec<Value> {
    let (st, v) = s.get("/v1/inspect/findings", key);
    assert_eq!(st, 200, "{v}");
    v["findings"].as_array().cloned().unwrap_or_default()
}

fn by_id<'a>(f: &'a [Value], id: &str) -> Option<&'a Value> {
    f.iter()
        .find(|x| x["packageVulnerabilityDetails"]["vulnerabilityId"] == id)
}

#[test]
fn image_scan_then_advisory_update_changes_findings_without_rescan() {
    let s = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let db = s.data_dir().join("advisories.db");
    let db = db.to_str().unwrap();
    let first = tmp.path().join("osv-1");
    advisory(&first, "DEMO-0001", "Debian:12", "demo-src", "1.0-2", false);
    advisory(
        &first,
        "DEMO-0002",
        "crates.io",
        "demo-crate",
        "1.2.0",
        false,
    );
    advisory(&first, "DEMO-0003", "Debian:12", "gone-pkg", "9.0", false);
    advisory(
        &first,
        "DEMO-0004",
        "crates.io",
        "other-crate",
        "9.0",
        false,
    );
    let (code, out) = cli(
        &s,
        &[
            "inspect",
            "db",
            "import",
            "--db",
            db,
            first.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");

    let img = tmp.path().join("demo.tar");
    mamori_inspect::testkit::demo_image(&img);
    let (code, out) = cli(
        &s,
        &[
            "inspect",
            "scan",
            img.to_str().unwrap(),
            "--endpoint",
            &s.url,
            "--resource-id",
            "demo:1",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Recorded 2 packages of demo:1 (CONTAINER_IMAGE): 2 active"),
        "{out}"
    );

    let f = findings(&s, &s.key);
    assert_eq!(
        f.len(),
        2,
        "whited-out and overwritten packages find nothing: {f:#?}"
    );
    let deb = by_id(&f, "DEMO-0001").unwrap();
    assert_eq!(deb["status"], "ACTIVE");
    let p = &deb["packageVulnerabilityDetails"]["vulnerablePackages"][0];
    assert_eq!(p["name"], "demo-lib");
    assert_eq!(p["fixedInVersion"], "1.0-2");
    assert_eq!(p["filePath"], "var/lib/dpkg/status");
    assert!(
        p["sourceLayerHash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(deb["resources"][0]["type"], "CONTAINER_IMAGE");
    assert_eq!(deb["resources"][0]["id"], "demo:1");
    let first_seen = deb["firstObservedAt"].clone();
    let crate_f = by_id(&f, "DEMO-0002").unwrap();
    assert_eq!(
        crate_f["packageVulnerabilityDetails"]["vulnerablePackages"][0]["fixedInVersion"],
        "1.2.0"
    );

    // The advisory database changes: DEMO-0002 withdrawn, DEMO-0005 added. No rescan.
    let second = tmp.path().join("osv-2");
    advisory(
        &second,
        "DEMO-0002",
        "crates.io",
        "demo-crate",
        "1.2.0",
        true,
    );
    advisory(
        &second,
        "DEMO-0005",
        "crates.io",
        "demo-crate",
        "1.1.10",
        false,
    );
    let (code, out) = cli(
        &s,
        &[
            "inspect",
            "db",
            "import",
            "--db",
            db,
            second.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 added, 0 updated, 1 withdrawn"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let f = loop {
        let f = findings(&s, &s.key);
        if by_id(&f, "DEMO-0005").is_some() || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        by_id(&f, "DEMO-0005").expect("new advisory matched")["status"],
        "ACTIVE"
    );
    assert_eq!(by_id(&f, "DEMO-0002").unwrap()["status"], "CLOSED");
    let deb = by_id(&f, "DEMO-0001").unwrap();
    assert_eq!(deb["status"], "ACTIVE");
    assert_eq!(deb["firstObservedAt"], first_seen, "first observed kept");

    // Suppression: matching findings become SUPPRESSED, and come back when the rule goes.
    let (code, out) = cli(
        &s,
        &[
            "inspect",
            "filters",
            "create",
            "accepted-risk",
            "--vulnerability-id",
            "DEMO-0001",
            "--reason",
            "not reachable",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 findings suppressed"), "{out}");
    assert_eq!(
        by_id(&findings(&s, &s.key), "DEMO-0001").unwrap()["status"],
        "SUPPRESSED"
    );
    let (st, active) = s.get("/v1/inspect/findings?status=ACTIVE", &s.key);
    assert_eq!(st, 200);
    assert_eq!(active["findings"].as_array().unwrap().len(), 1, "{active}");
    let (code, out) = cli(&s, &["inspect", "filters", "delete", "accepted-risk"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        by_id(&findings(&s, &s.key), "DEMO-0001").unwrap()["status"],
        "ACTIVE"
    );

    // Coverage and stats.
    let (_, cov) = s.get("/v1/inspect/coverage", &s.key);
    let r = &cov["coveredResources"][0];
    assert_eq!(r["resourceId"], "demo:1");
    assert_eq!(r["packageCount"], 2);
    assert_eq!(r["activeFindings"], 2);
    let (_, stats) = s.get("/v1/inspect/stats", &s.key);
    assert_eq!(
        stats["activeBySeverity"]["CRITICAL"], 2,
        "9.1 from the vector: {stats}"
    );
    assert_eq!(
        stats["mostVulnerablePackages"][0]["name"], "demo-crate",
        "{stats}"
    );

    // Pages.
    let (_, page) = s.get("/v1/inspect/findings?maxResults=1", &s.key);
    assert_eq!(page["findings"].as_array().unwrap().len(), 1);
    let token = page["nextToken"].as_str().expect("a next page");
    let (_, page2) = s.get(
        &format!("/v1/inspect/findings?maxResults=1&nextToken={token}"),
        &s.key,
    );
    assert_ne!(
        page2["findings"][0]["findingArn"],
        page["findings"][0]["findingArn"]
    );

    // Another account sees none of it; a bad body is a 400 naming the field.
    let member = s.create_account("member");
    let key = s.create_key(&s.key, Some(&member), "member-reader", "reader");
    assert!(findings(&s, &key).is_empty());
    let (st, v) = s.post(
        "/v1/inspect/scans",
        &s.key,
        json!({"resourceType": "NOPE", "resourceId": "x", "inventory": {"packages": []}})
            .to_string(),
    );
    assert_eq!(st, 400);
    assert!(v.to_string().contains("resourceType"), "{v}");
    let (st, _) = s.post(
        "/v1/inspect/scans",
        &key,
        json!({"resourceType": "VM", "resourceId": "x", "inventory": {"packages": []}}).to_string(),
    );
    assert_eq!(st, 403, "a reader cannot record scans");
}

/// Two versions of one crate in one Cargo.lock are two vulnerable packages: the local scan and
/// the scan recorded on the server find the same findings (the server's finding ids left the
/// version out, so one version's finding replaced the other's).
#[test]
fn the_server_keeps_every_finding_the_local_scan_finds() {
    let s = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let db = s.data_dir().join("advisories.db");
    let db = db.to_str().unwrap();
    let osv = tmp.path().join("osv");
    advisory(
        &osv,
        "DEMO-0010",
        "crates.io",
        "two-versions",
        "9.0.0",
        false,
    );
    let (code, out) = cli(
        &s,
        &["inspect", "db", "import", "--db", db, osv.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{out}");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Cargo.lock"),
        "version = 3\n\n[[package]]\nname = \"two-versions\"\nversion = \"0.37.5\"\n\n[[package]]\nname = \"two-versions\"\nversion = \"0.38.4\"\n",
    )
    .unwrap();
    let p = project.to_str().unwrap();
    let (_, local) = cli(&s, &["inspect", "scan", p, "--db", db, "--format", "json"]);
    let json_start = local.find('{').unwrap();
    let local: Value = serde_json::Deserializer::from_str(&local[json_start..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    let local_n = local["findings"].as_array().map_or(0, Vec::len);
    assert_eq!(local_n, 2, "{local}");
    let (code, out) = cli(
        &s,
        &[
            "inspect",
            "scan",
            p,
            "--endpoint",
            &s.url,
            "--resource-id",
            "proj:1",
        ],
    );
    assert!(code == Some(0) || code == Some(1), "{out}");
    let stored = findings(&s, &s.key);
    assert_eq!(stored.len(), local_n, "{stored:?}");
}
