//! Findings in Amazon Inspector's shape (field names from the inspector2 service model):
//! `PACKAGE_VULNERABILITY` findings with `packageVulnerabilityDetails`, severity, the Inspector
//! score and its details, `fixAvailable`, `exploitAvailable`.
//!
//! **Severity** comes from the advisory's CVSS vector, scored with the `cvss` crate (v3.1/v3.0
//! preferred, as Inspector does, then v4.0, then v2): 0 → INFORMATIONAL, 0.1–3.9 LOW, 4.0–6.9
//! MEDIUM, 7.0–8.9 HIGH, 9.0–10 CRITICAL. Without a vector, the advisory's own label
//! (`database_specific.severity`: LOW, MODERATE → MEDIUM, HIGH, CRITICAL); without either,
//! UNTRIAGED.
//!
//! **Inspector score** = that CVSS base score, then the adjustments listed in
//! `inspectorScoreDetails.adjustedCvss.adjustments`, each a CVSS *environmental* change with its
//! reason, so the result is reproducible with any CVSS calculator. An offline scan knows nothing
//! about the environment (network reachability, runtime), so it applies none and the list is
//! empty: the score equals the base score, as in AWS's own sample findings.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inventory::Package;
use crate::matcher::Match;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub finding_arn: String,
    pub aws_account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub remediation: Remediation,
    pub severity: String,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub updated_at: String,
    pub status: String,
    pub resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspector_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspector_score_details: Option<ScoreDetails>,
    pub package_vulnerability_details: PackageVulnerabilityDetails,
    pub fix_available: String,
    pub exploit_available: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exploitability_details: Option<ExploitabilityDetails>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remediation {
    pub recommendation: Recommendation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub text: String,
    #[serde(rename = "Url", skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreDetails {
    pub adjusted_cvss: AdjustedCvss,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustedCvss {
    pub score_source: String,
    pub cvss_source: String,
    pub version: String,
    pub score: f64,
    pub scoring_vector: String,
    pub adjustments: Vec<Adjustment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adjustment {
    pub metric: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageVulnerabilityDetails {
    pub vulnerability_id: String,
    pub source: String,
    pub source_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_updated_at: Option<String>,
    pub reference_urls: Vec<String>,
    pub related_vulnerabilities: Vec<String>,
    pub cvss: Vec<Cvss>,
    pub vulnerable_packages: Vec<VulnerablePackage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cvss {
    pub base_score: f64,
    pub scoring_vector: String,
    pub version: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerablePackage {
    pub name: String,
    pub version: String,
    pub epoch: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub package_manager: String,
    pub file_path: String,
    pub fixed_in_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    pub purl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_layer_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExploitabilityDetails {
    pub last_known_exploit_at: String,
}

/// Where the finding was observed.
#[derive(Debug, Clone)]
pub struct Target {
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub details: serde_json::Value,
}

/// CVSS of an advisory: every vector it carries, scored.
pub fn cvss_of(m: &Match) -> Vec<Cvss> {
    let source = m.advisory.id.split('-').next().unwrap_or("OSV").to_string();
    let mut out = Vec::new();
    let all = m
        .advisory
        .severity
        .iter()
        .chain(m.advisory.affected.iter().flat_map(|a| a.severity.iter()));
    for s in all {
        let Ok(v) = s.score.parse::<cvss::Cvss>() else {
            continue;
        };
        let version = match s.kind.as_str() {
            "CVSS_V2" => "2.0",
            "CVSS_V4" => "4.0",
            _ if s.score.starts_with("CVSS:3.0") => "3.0",
            _ => "3.1",
        };
        if out.iter().any(|c: &Cvss| c.scoring_vector == s.score) {
            continue;
        }
        out.push(Cvss {
            base_score: (v.score() * 10.0).round() / 10.0,
            scoring_vector: s.score.clone(),
            version: version.into(),
            source: source.clone(),
        });
    }
    out
}

/// The vector Inspector would score by: v3.1, v3.0, v4.0, v2 in that order.
fn preferred(cvss: &[Cvss]) -> Option<&Cvss> {
    ["3.1", "3.0", "4.0", "2.0"]
        .iter()
        .find_map(|v| cvss.iter().find(|c| c.version == *v))
}

pub fn severity_of_score(score: f64) -> &'static str {
    match score {
        s if s <= 0.0 => "INFORMATIONAL",
        s if s < 4.0 => "LOW",
        s if s < 7.0 => "MEDIUM",
        s if s < 9.0 => "HIGH",
        _ => "CRITICAL",
    }
}

/// Severity order for `--min-severity` and sorting.
pub fn severity_rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 5,
        "HIGH" => 4,
        "MEDIUM" => 3,
        "LOW" => 2,
        "INFORMATIONAL" => 1,
        _ => 0, // UNTRIAGED
    }
}

fn vendor_label(m: &Match) -> Option<String> {
    let label = m
        .advisory
        .database_specific
        .as_ref()
        .and_then(|d| d["severity"].as_str())?
        .to_uppercase();
    Some(match label.as_str() {
        "MODERATE" => "MEDIUM".into(),
        "IMPORTANT" => "HIGH".into(),
        _ => label,
    })
}

fn epoch_release(p: &Package) -> (i64, String, Option<String>) {
    if p.package_manager != "OS" {
        return (0, p.version.clone(), None);
    }
    let (epoch, rest) = match p.version.split_once(':') {
        Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, p.version.as_str()),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), Some(r.to_string())),
        None => (epoch, rest.to_string(), None),
    }
}

pub fn finding(p: &Package, m: &Match, target: &Target, kev: Option<&str>, now: &str) -> Finding {
    let adv = &m.advisory;
    let cvss = cvss_of(m);
    let best = preferred(&cvss).cloned();
    let vendor = vendor_label(m);
    let severity = match (&best, &vendor) {
        (Some(c), _) => severity_of_score(c.base_score).to_string(),
        (None, Some(v)) if severity_rank(v) > 0 => v.clone(),
        _ => "UNTRIAGED".to_string(),
    };
    // One finding per vulnerable package instance: two versions of a package in one lockfile
    // are two findings (with the version left out, the server kept only one of them).
    let mut id_hash = Sha256::new();
    for part in [
        &target.resource_id,
        &adv.id,
        &p.name,
        &p.file_path,
        &p.ecosystem,
        &p.version,
    ] {
        id_hash.update(part.as_bytes());
        id_hash.update([0]);
    }
    let finding_id = hex::encode(&id_hash.finalize()[..16]);
    let (epoch, version, release) = epoch_release(p);
    let fixed = m.fixed.clone();
    let title = format!("{} - {}", adv.id, p.name);
    let description = adv
        .summary
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| adv.details.clone())
        .unwrap_or_else(|| title.clone());
    let references: Vec<String> = adv.references.iter().map(|r| r.url.clone()).collect();
    let source_url = adv
        .references
        .iter()
        .find(|r| r.kind == "ADVISORY")
        .map(|r| r.url.clone())
        .unwrap_or_else(|| format!("https://osv.dev/vulnerability/{}", adv.id));
    let remediation_text = match &fixed {
        Some(f) => format!("Upgrade {} to {f} or later.", p.name),
        None => format!("No fixed version of {} is known yet.", p.name),
    };
    Finding {
        finding_arn: format!(
            "arn:mamori:inspector2:{}:{}:finding/{finding_id}",
            target.region, target.account
        ),
        aws_account_id: target.account.clone(),
        kind: "PACKAGE_VULNERABILITY".into(),
        title,
        description,
        remediation: Remediation {
            recommendation: Recommendation {
                text: remediation_text,
                url: Some(source_url.clone()),
            },
        },
        severity,
        first_observed_at: now.to_string(),
        last_observed_at: now.to_string(),
        updated_at: now.to_string(),
        status: "ACTIVE".into(),
        resources: vec![Resource {
            kind: target.resource_type.clone(),
            id: target.resource_id.clone(),
            details: target.details.clone(),
        }],
        inspector_score: best.as_ref().map(|c| c.base_score),
        inspector_score_details: best.as_ref().map(|c| ScoreDetails {
            adjusted_cvss: AdjustedCvss {
                score_source: c.source.clone(),
                cvss_source: c.source.clone(),
                version: c.version.clone(),
                score: c.base_score,
                scoring_vector: c.scoring_vector.clone(),
                adjustments: Vec::new(),
            },
        }),
        package_vulnerability_details: PackageVulnerabilityDetails {
            vulnerability_id: adv.id.clone(),
            source: adv.id.split('-').next().unwrap_or("OSV").to_string(),
            source_url,
            vendor_severity: vendor,
            vendor_created_at: adv.published.clone(),
            vendor_updated_at: Some(adv.modified.clone()).filter(|m| !m.is_empty()),
            reference_urls: references,
            related_vulnerabilities: adv.aliases.clone(),
            cvss,
            vulnerable_packages: vec![VulnerablePackage {
                name: p.name.clone(),
                version,
                epoch,
                release,
                arch: p.arch.clone(),
                package_manager: p.package_manager.clone(),
                file_path: p.file_path.clone(),
                fixed_in_version: fixed.clone().unwrap_or_else(|| "NotAvailable".into()),
                remediation: fixed.as_ref().map(|f| format!("Upgrade to {f}")),
                purl: p.purl.clone(),
                source_layer_hash: p.source_layer.clone(),
            }],
        },
        fix_available: if fixed.is_some() { "YES" } else { "NO" }.into(),
        exploit_available: if kev.is_some() { "YES" } else { "NO" }.into(),
        exploitability_details: kev.map(|d| ExploitabilityDetails {
            last_known_exploit_at: d.to_string(),
        }),
    }
}
