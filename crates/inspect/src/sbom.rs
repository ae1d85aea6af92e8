//! SBOMs: CycloneDX 1.5 and SPDX 2.3 JSON out (from an inventory, CycloneDX optionally with the
//! vulnerabilities found), and either one in, as a scan target — its packages are read back from
//! their PURLs. Both outputs validate against the official schemas (tested).

use serde_json::{Value, json};

use crate::finding::Finding;
use crate::inventory::{OsRelease, Package};

const TOOL: &str = "mamori";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn bom_ref(i: usize, p: &Package) -> String {
    format!("pkg-{i}-{}", p.purl)
}

fn cdx_component(i: usize, p: &Package) -> Value {
    let mut props = vec![
        json!({"name": "mamori:file_path", "value": p.file_path}),
        json!({"name": "mamori:package_manager", "value": p.package_manager}),
        json!({"name": "mamori:ecosystem", "value": p.ecosystem}),
    ];
    if let Some(l) = &p.source_layer {
        props.push(json!({"name": "mamori:source_layer", "value": l}));
    }
    if let Some(s) = &p.source_name {
        props.push(json!({"name": "mamori:source_name", "value": s}));
    }
    if let Some(v) = &p.source_version {
        props.push(json!({"name": "mamori:source_version", "value": v}));
    }
    json!({
        "type": "library",
        "bom-ref": bom_ref(i, p),
        "name": p.name,
        "version": p.version,
        "purl": p.purl,
        "properties": props,
    })
}

/// CycloneDX 1.5 JSON for an inventory; with findings, a `vulnerabilities` list too.
pub fn cyclonedx(
    name: &str,
    os: Option<&OsRelease>,
    packages: &[Package],
    findings: Option<&[Finding]>,
    now: &str,
) -> Value {
    let mut components: Vec<Value> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| cdx_component(i, p))
        .collect();
    if let Some(o) = os {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": "os",
            "name": o.id,
            "version": o.version_id,
            "description": o.pretty_name,
        }));
    }
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_v4()),
        "version": 1,
        "metadata": {
            "timestamp": now,
            "tools": {"components": [{"type": "application", "name": TOOL, "version": VERSION}]},
            "component": {"type": "application", "bom-ref": "target", "name": name},
        },
        "components": components,
    });
    if let Some(findings) = findings {
        let mut vulns = Vec::new();
        for f in findings {
            let d = &f.package_vulnerability_details;
            let Some(vp) = d.vulnerable_packages.first() else {
                continue;
            };
            let affects: Vec<Value> = packages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.purl == vp.purl && p.file_path == vp.file_path)
                .map(|(i, p)| json!({"ref": bom_ref(i, p)}))
                .collect();
            let ratings: Vec<Value> = d
                .cvss
                .iter()
                .map(|c| {
                    let method = match c.version.as_str() {
                        "4.0" => "CVSSv4",
                        "3.0" => "CVSSv3",
                        "2.0" => "CVSSv2",
                        _ => "CVSSv31",
                    };
                    json!({
                        "source": {"name": c.source},
                        "score": c.base_score,
                        "severity": crate::finding::severity_of_score(c.base_score).to_lowercase().replace("informational", "info"),
                        "method": method,
                        "vector": c.scoring_vector,
                    })
                })
                .collect();
            let mut v = json!({
                "bom-ref": f.finding_arn,
                "id": d.vulnerability_id,
                "source": {"name": d.source, "url": d.source_url},
                "ratings": ratings,
                "description": f.description,
                "recommendation": f.remediation.recommendation.text,
                "affects": affects,
            });
            if !d.related_vulnerabilities.is_empty() {
                v["references"] = Value::Array(
                    d.related_vulnerabilities
                        .iter()
                        .map(|id| json!({"id": id, "source": {"name": id.split('-').next().unwrap_or("")}}))
                        .collect(),
                );
            }
            vulns.push(v);
        }
        bom["vulnerabilities"] = Value::Array(vulns);
    }
    bom
}

fn spdx_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// SPDX 2.3 JSON for an inventory: the target as the described package, containing the rest.
pub fn spdx(name: &str, packages: &[Package], now: &str) -> Value {
    let mut pkgs = vec![json!({
        "SPDXID": "SPDXRef-Target",
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
    })];
    let mut rels = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Target",
    })];
    for (i, p) in packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}-{}", spdx_id(&p.name));
        pkgs.push(json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("found in {}", p.file_path),
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        }));
        rels.push(json!({
            "spdxElementId": "SPDXRef-Target",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://spdx.mamori.dev/{}-{}", spdx_id(name), uuid_v4()),
        "creationInfo": {"created": now, "creators": [format!("Tool: {TOOL}-{VERSION}")]},
        "packages": pkgs,
        "relationships": rels,
    })
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A package from a PURL (`pkg:type/namespace/name@version?qualifiers`), with its OSV ecosystem.
pub fn package_from_purl(purl: &str, file_path: &str) -> Option<Package> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split('#').next()?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (path, version) = path.rsplit_once('@')?;
    let mut parts: Vec<&str> = path.split('/').collect();
    let kind = parts.remove(0).to_lowercase();
    let name = unescape(parts.pop()?);
    let ns: Vec<String> = parts.iter().map(|p| unescape(p)).collect();
    let version = unescape(version);
    let q: std::collections::HashMap<&str, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, unescape(v)))
        .collect();
    let distro = q.get("distro").cloned().unwrap_or_default();
    let distro_version = distro
        .split_once('-')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let (ecosystem, full_name, manager) = match kind.as_str() {
        "cargo" => ("crates.io".to_string(), name.clone(), "CARGO"),
        "npm" => (
            "npm".to_string(),
            if ns.is_empty() {
                name.clone()
            } else {
                format!("{}/{name}", ns.join("/"))
            },
            "NPM",
        ),
        "pypi" => (
            "PyPI".to_string(),
            crate::inventory::normalize_pypi(&name),
            "PIP",
        ),
        "golang" => (
            "Go".to_string(),
            if ns.is_empty() {
                name.clone()
            } else {
                format!("{}/{name}", ns.join("/"))
            },
            "GOMOD",
        ),
        "gem" => ("RubyGems".to_string(), name.clone(), "BUNDLER"),
        "composer" => (
            "Packagist".to_string(),
            format!("{}/{name}", ns.join("/")),
            "COMPOSER",
        ),
        "maven" => (
            "Maven".to_string(),
            format!("{}:{name}", ns.join(".")),
            "POM",
        ),
        "nuget" => ("NuGet".to_string(), name.clone(), "NUGET"),
        "deb" => {
            let os = OsRelease {
                id: ns.first().cloned().unwrap_or_else(|| "debian".into()),
                version_id: distro_version.clone(),
                ..Default::default()
            };
            (
                os.ecosystem().unwrap_or_else(|| "Debian".into()),
                name.clone(),
                "OS",
            )
        }
        "apk" => {
            let os = OsRelease {
                id: ns.first().cloned().unwrap_or_else(|| "alpine".into()),
                version_id: distro_version.clone(),
                ..Default::default()
            };
            (
                os.ecosystem().unwrap_or_else(|| "Alpine".into()),
                name.clone(),
                "OS",
            )
        }
        "rpm" => {
            let os = OsRelease {
                id: ns.first().cloned().unwrap_or_default(),
                version_id: distro_version.clone(),
                ..Default::default()
            };
            (
                os.ecosystem().unwrap_or_else(|| "Red Hat".into()),
                name.clone(),
                "OS",
            )
        }
        _ => return None,
    };
    let version = if kind == "golang" {
        version.trim_start_matches('v').to_string()
    } else {
        version
    };
    Some(Package {
        name: full_name,
        version,
        ecosystem,
        purl: purl.to_string(),
        file_path: file_path.to_string(),
        package_manager: manager.into(),
        source_name: None,
        source_version: None,
        arch: q.get("arch").cloned(),
        source_layer: None,
    })
}

/// Is this JSON an SBOM we read?
pub fn is_sbom(v: &Value) -> bool {
    v["bomFormat"] == "CycloneDX"
        || v["spdxVersion"]
            .as_str()
            .is_some_and(|s| s.starts_with("SPDX-2"))
}

/// The packages of a CycloneDX or SPDX JSON document (those with a PURL we can place in an
/// ecosystem), and what was skipped.
pub fn packages_of(v: &Value, file: &str) -> (Vec<Package>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut take = |purl: Option<&str>, what: &str, props: Option<&Value>| match purl {
        Some(p) => match package_from_purl(p, file) {
            Some(mut pkg) => {
                // Our own properties give the source package and file back.
                if let Some(props) = props.and_then(Value::as_array) {
                    for prop in props {
                        let val = prop["value"].as_str().map(String::from);
                        match prop["name"].as_str() {
                            Some("mamori:source_name") => pkg.source_name = val,
                            Some("mamori:source_version") => pkg.source_version = val,
                            Some("mamori:file_path") => {
                                if let Some(f) = val {
                                    pkg.file_path = format!("{file}#{f}");
                                }
                            }
                            Some("mamori:ecosystem") => {
                                if let Some(e) = val {
                                    pkg.ecosystem = e;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                out.push(pkg)
            }
            None => skipped.push(format!(
                "{what}: PURL {p:?} names no ecosystem mamori matches"
            )),
        },
        None => skipped.push(format!("{what}: no PURL")),
    };
    if v["bomFormat"] == "CycloneDX" {
        let mut stack: Vec<&Value> = v["components"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        while let Some(c) = stack.pop() {
            if c["type"] != "operating-system" {
                take(
                    c["purl"].as_str(),
                    c["name"].as_str().unwrap_or("component"),
                    Some(&c["properties"]),
                );
            }
            if let Some(sub) = c["components"].as_array() {
                stack.extend(sub.iter());
            }
        }
    } else if let Some(pkgs) = v["packages"].as_array() {
        for p in pkgs {
            let purl = p["externalRefs"].as_array().and_then(|refs| {
                refs.iter()
                    .find(|r| r["referenceType"] == "purl")
                    .and_then(|r| r["referenceLocator"].as_str())
            });
            if purl.is_none() && p["SPDXID"] == "SPDXRef-Target" {
                continue;
            }
            take(purl, p["name"].as_str().unwrap_or("package"), None);
        }
    }
    (out, skipped)
}

/// SARIF 2.1.0 for findings (code-scanning dashboards read it).
pub fn sarif(findings: &[Finding]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut results = Vec::new();
    for f in findings {
        let d = &f.package_vulnerability_details;
        let Some(p) = d.vulnerable_packages.first() else {
            continue;
        };
        if seen.insert(d.vulnerability_id.clone()) {
            rules.push(json!({
                "id": d.vulnerability_id,
                "shortDescription": {"text": f.title},
                "fullDescription": {"text": f.description},
                "helpUri": d.source_url,
                "properties": {
                    "security-severity": format!("{:.1}", f.inspector_score.unwrap_or(0.0)),
                    "tags": ["security", "vulnerability"],
                },
            }));
        }
        let level = match f.severity.as_str() {
            "CRITICAL" | "HIGH" => "error",
            "MEDIUM" => "warning",
            _ => "note",
        };
        results.push(json!({
            "ruleId": d.vulnerability_id,
            "level": level,
            "message": {"text": format!(
                "{} {} is vulnerable ({}); fixed in {}",
                p.name, p.version, d.vulnerability_id, p.fixed_in_version
            )},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": p.file_path}}}],
        }));
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "version": VERSION, "informationUri": "https://github.com/mamori-dev/mamori", "rules": rules}},
            "results": results,
        }],
    })
}
