//! OCSF 1.1 Detection Finding (class 2004) for findings — the shape SIEMs and data lakes read.

use serde_json::{Value, json};

use crate::finding::Finding;

fn millis(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
fn severity_id(s: f64) -> (i64, &'static str) {
    match s {
        s if s >= 9.0 => (5, "Critical"),
        s if s >= 7.0 => (4, "High"),
        s if s >= 4.0 => (3, "Medium"),
        s if s >= 1.0 => (2, "Low"),
        _ => (1, "Informational"),
    }
}

pub fn detection_finding(f: &Finding) -> Value {
    let (sev_id, sev) = severity_id(f.severity);
    let archived = f.service.archived;
    let resource_uid = f.resource["accessKeyDetails"]["accessKeyId"]
        .as_str()
        .or_else(|| f.resource["instanceDetails"]["instanceId"].as_str())
        .or_else(|| f.resource["s3BucketDetails"][0]["name"].as_str())
        .unwrap_or("");
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": if f.service.count > 1 { 2 } else { 1 },
        "activity_name": if f.service.count > 1 { "Update" } else { "Create" },
        "type_uid": if f.service.count > 1 { 200402 } else { 200401 },
        "severity_id": sev_id,
        "severity": sev,
        "status_id": if archived { 4 } else { 1 },
        "status": if archived { "Suppressed" } else { "New" },
        "time": millis(&f.updated_at),
        "message": f.description,
        "count": f.service.count,
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "mamori", "vendor_name": "mamori", "version": env!("CARGO_PKG_VERSION")},
            "uid": f.id,
        },
        "finding_info": {
            "uid": f.id,
            "title": f.title,
            "desc": f.description,
            "types": [f.kind],
            "created_time": millis(&f.created_at),
            "modified_time": millis(&f.updated_at),
            "first_seen_time": millis(&f.service.event_first_seen),
            "last_seen_time": millis(&f.service.event_last_seen),
            "analytic": {"name": f.kind, "type_id": 1, "type": "Rule"},
            "related_events": f.service.additional_info["eventIds"].as_array().map(|ids| {
                ids.iter().map(|i| json!({"uid": i})).collect::<Vec<_>>()
            }),
        },
        "resources": [{"uid": resource_uid, "type": f.resource["resourceType"], "data": f.resource}],
        "cloud": {"provider": "AWS", "region": f.region, "account": {"uid": f.account_id}},
        "evidences": [{"data": {"action": f.service.action, "evidence": f.service.evidence}}],
        "unmapped": {"guardduty_arn": f.arn, "resource_role": f.service.resource_role},
    })
}
