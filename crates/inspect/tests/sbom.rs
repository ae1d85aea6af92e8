//! SBOMs: what mamori writes is schema-valid CycloneDX 1.5 and SPDX 2.3 (validated against the
//! official schemas in ../shared/fixtures/sbom), and reads back to the same packages.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use mamori_inspect::db::AdvisoryDb;
use mamori_inspect::finding::Target;
use mamori_inspect::sbom::{cyclonedx, packages_of, spdx};
use mamori_inspect::scan::{collect, match_inventory};
use serde_json::{Value, json};

fn fixtures() -> Option<PathBuf> {
    common::fixtures("sbom")
}

fn read(p: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn cdx_validator(dir: &std::path::Path) -> jsonschema::Validator {
    let s = dir.join("cyclonedx-1.5/schema");
    let schema = read(s.join("bom-1.5.schema.json"));
    // The schema names its two companions relatively: register them by both names.
    let mut registry = jsonschema::Registry::new();
    for name in ["spdx.schema.json", "jsf-0.82.schema.json"] {
        let doc = read(s.join(name));
        for uri in [
            format!("http://cyclonedx.org/schema/{name}"),
            doc["$id"].as_str().unwrap_or_default().to_string(),
        ] {
            if !uri.is_empty() {
                registry = registry
                    .add(uri, jsonschema::Resource::from_contents(doc.clone()))
                    .unwrap();
            }
        }
    }
    let registry = registry.prepare().unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&schema)
        .unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// An inventory with OS and language packages, and findings for some of them.
fn scanned() -> (
    mamori_inspect::scan::Inventory,
    Vec<mamori_inspect::finding::Finding>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("demo.tar");
    mamori_inspect::testkit::demo_image(&img);
    let inv = collect(&img).unwrap();
    let osv = tmp.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(
        osv.join("DEMO-1.json"),
        json!({"id": "DEMO-1", "modified": "2099-01-01T00:00:00Z", "aliases": ["CVE-2099-1"],
            "summary": "demo", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "crates.io", "name": "demo-crate"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}]})
        .to_string(),
    )
    .unwrap();
    let mut db = AdvisoryDb::open(&tmp.path().join("a.db")).unwrap();
    db.import(&osv).unwrap();
    let target = Target {
        account: "local".into(),
        region: "local".into(),
        resource_type: "CONTAINER_IMAGE".into(),
        resource_id: "demo:1".into(),
        details: Value::Null,
    };
    let report = match_inventory(&db, &inv, &target, "2099-01-01T00:00:00Z").unwrap();
    assert_eq!(report.findings.len(), 1);
    (inv, report.findings)
}

fn keys(p: &[mamori_inspect::inventory::Package]) -> BTreeSet<(String, String, String)> {
    p.iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.ecosystem.clone()))
        .collect()
}

#[test]
fn cyclonedx_output_is_schema_valid_and_reads_back() {
    let (inv, findings) = scanned();
    let bom = cyclonedx(
        "demo:1",
        inv.os.as_ref(),
        &inv.packages,
        Some(&findings),
        "2099-01-01T00:00:00Z",
    );
    assert_eq!(bom["vulnerabilities"][0]["id"], "DEMO-1");
    assert_eq!(
        bom["vulnerabilities"][0]["ratings"][0]["severity"],
        "critical"
    );
    let (back, skipped) = packages_of(&bom, "bom.cdx.json");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        keys(&back),
        keys(&inv.packages),
        "the same packages come back"
    );
    let deb = back.iter().find(|p| p.name == "demo-lib").unwrap();
    assert_eq!(
        deb.source_name.as_deref(),
        Some("demo-src"),
        "source packages survive"
    );
    let Some(dir) = fixtures() else { return };
    let v = cdx_validator(&dir);
    let e = errors(&v, &bom);
    assert!(e.is_empty(), "CycloneDX 1.5 schema: {e:#?}");
    let without = cyclonedx("x", None, &inv.packages, None, "2099-01-01T00:00:00Z");
    assert!(errors(&v, &without).is_empty());
    // The validator itself agrees with CycloneDX's own examples (valid-/invalid- prefixes),
    // except the known JSF quirk of valid-signatures.
    let mut agree = 0;
    let mut total = 0;
    for e in std::fs::read_dir(dir.join("cyclonedx-1.5/examples")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        total += 1;
        let ok = v.is_valid(&read(p.clone()));
        if ok == name.starts_with("valid-") {
            agree += 1;
        } else {
            assert_eq!(
                name, "valid-signatures-1.5.json",
                "validator disagrees on {name}"
            );
        }
    }
    eprintln!("sbom: CycloneDX 1.5 output valid; validator agrees with {agree}/{total} examples");
}

#[test]
fn spdx_output_is_schema_valid_and_reads_back() {
    let (inv, _) = scanned();
    let doc = spdx("demo:1", &inv.packages, "2099-01-01T00:00:00Z");
    let (back, skipped) = packages_of(&doc, "bom.spdx.json");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(keys(&back), keys(&inv.packages));
    let Some(dir) = fixtures() else { return };
    let schema = read(dir.join("spdx-2.3/schema/spdx-schema.json"));
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let e = errors(&v, &doc);
    assert!(e.is_empty(), "SPDX 2.3 schema: {e:#?}");
    let example = read(dir.join("spdx-2.3/examples/SPDXJSONExample-v2.3.spdx.json"));
    assert!(
        errors(&v, &example).is_empty(),
        "the validator accepts SPDX's own example"
    );
    eprintln!("sbom: SPDX 2.3 output valid");
}
