//! Findings in GuardDuty's shape (`schemaVersion` 2.0): id, arn, type, title, description,
//! numeric severity, accountId, region, resource, and `service` with the action, the resource's
//! role, `count`, `eventFirstSeen` / `eventLastSeen`, `archived`, evidence and additional info.
//!
//! Repeats aggregate: the id is a hash of (type, account, resource, actor), so the same activity
//! again raises `count` and moves `eventLastSeen` instead of making a new finding. Every finding
//! names the events that caused it (`service.additionalInfo.eventIds`, the first 20).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How many causing event ids a finding keeps.
pub const MAX_EVENT_IDS: usize = 20;

/// One detection, before aggregation.
#[derive(Debug, Clone)]
pub struct Signal {
    pub kind: String,
    pub severity: f64,
    pub title: String,
    pub description: String,
    pub account: String,
    pub region: String,
    /// `resource` of the finding (resourceType and its details).
    pub resource: Value,
    /// What identifies the affected resource (an access key, a bucket, an instance).
    pub resource_key: String,
    /// Who or what acted (an address, a user agent…); part of the aggregation key.
    pub actor: String,
    pub action: Value,
    pub resource_role: &'static str,
    pub evidence: Option<Value>,
    /// More to say in `service.additionalInfo` (an object), such as the ATT&CK techniques.
    pub info: Option<Value>,
    pub event_id: Option<String>,
    pub time: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub schema_version: String,
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub id: String,
    pub arn: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub severity: f64,
    pub created_at: String,
    pub updated_at: String,
    pub resource: Value,
    pub service: Service,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_name: String,
    pub detector_id: String,
    pub action: Value,
    pub resource_role: String,
    pub count: u64,
    pub event_first_seen: String,
    pub event_last_seen: String,
    pub archived: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    pub additional_info: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_feedback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_feedback_comments: Option<String>,
}

/// GuardDuty's bands: Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
pub fn band(severity: f64) -> &'static str {
    match severity {
        s if s >= 9.0 => "CRITICAL",
        s if s >= 7.0 => "HIGH",
        s if s >= 4.0 => "MEDIUM",
        _ => "LOW",
    }
}

pub fn band_rank(b: &str) -> u8 {
    match b.to_ascii_uppercase().as_str() {
        "CRITICAL" => 4,
        "HIGH" => 3,
        "MEDIUM" => 2,
        _ => 1,
    }
}

pub fn finding_id(kind: &str, account: &str, resource_key: &str, actor: &str) -> String {
    let mut h = Sha256::new();
    for part in [kind, account, resource_key, actor] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

impl Finding {
    pub fn from_signal(s: &Signal, detector_id: &str, now: &str) -> Finding {
        let id = finding_id(&s.kind, &s.account, &s.resource_key, &s.actor);
        Finding::new(s.clone(), id, detector_id, now)
    }

    /// The finding a signal starts, its parts moved into it (the id computed already).
    fn new(s: Signal, id: String, detector_id: &str, now: &str) -> Finding {
        // v2 flow logs name no region; a finding always has one.
        let region = if s.region.is_empty() {
            "local"
        } else {
            s.region.as_str()
        };
        let region = region.to_string();
        Finding {
            schema_version: "2.0".into(),
            partition: "mamori".into(),
            arn: format!(
                "arn:mamori:guardduty:{region}:{}:detector/{detector_id}/finding/{id}",
                s.account
            ),
            account_id: s.account,
            region,
            id,
            kind: s.kind,
            title: s.title,
            description: s.description,
            severity: s.severity,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            resource: s.resource,
            service: Service {
                service_name: "mamori".into(),
                detector_id: detector_id.to_string(),
                action: s.action,
                resource_role: s.resource_role.into(),
                count: 1,
                event_first_seen: s.time.clone(),
                event_last_seen: s.time,
                archived: false,
                evidence: s.evidence,
                additional_info: {
                    let mut info = serde_json::json!({
                        "eventIds": s.event_id.into_iter().collect::<Vec<_>>(),
                        "type": "default",
                    });
                    if let (Some(Value::Object(more)), Some(to)) = (s.info, info.as_object_mut()) {
                        to.extend(more);
                    }
                    info
                },
                user_feedback: None,
                user_feedback_comments: None,
            },
        }
    }

    /// Does the finding name this causing event (among its first [`MAX_EVENT_IDS`])?
    pub fn names_event(&self, event_id: Option<&str>) -> bool {
        event_id.is_some_and(|id| {
            self.service.additional_info["eventIds"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|x| x == id))
        })
    }

    /// Counts one more occurrence.
    pub fn absorb(&mut self, s: &Signal, now: &str) {
        self.absorb_parts(&s.time, || s.action.clone(), s.event_id.as_deref(), now);
    }

    fn absorb_parts(
        &mut self,
        time: &str,
        action: impl FnOnce() -> Value,
        event_id: Option<&str>,
        now: &str,
    ) {
        self.service.count += 1;
        if time < self.service.event_first_seen.as_str() {
            self.service.event_first_seen = time.to_string();
        }
        if time > self.service.event_last_seen.as_str() {
            self.service.event_last_seen = time.to_string();
            self.service.action = action();
        }
        if let (Some(id), Some(ids)) = (
            event_id,
            self.service.additional_info["eventIds"].as_array_mut(),
        ) && ids.len() < MAX_EVENT_IDS
            && !ids.iter().any(|x| x == id)
        {
            ids.push(Value::String(id.to_string()));
        }
        if self.updated_at != now {
            self.updated_at = now.to_string();
        }
    }
}

/// Aggregates signals into findings by id, in memory (the offline hunt; the server stores them).
#[derive(Default)]
pub struct Findings {
    pub by_id: BTreeMap<String, Finding>,
}

impl Findings {
    pub fn add(&mut self, s: Signal, detector_id: &str, now: &str) {
        let id = finding_id(&s.kind, &s.account, &s.resource_key, &s.actor);
        match self.by_id.get_mut(&id) {
            Some(f) => f.absorb_parts(&s.time, || s.action, s.event_id.as_deref(), now),
            None => {
                let f = Finding::new(s, id.clone(), detector_id, now);
                self.by_id.insert(id, f);
            }
        }
    }

    /// Highest severity first, then type.
    pub fn sorted(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self.by_id.values().collect();
        v.sort_by(|a, b| {
            b.severity
                .total_cmp(&a.severity)
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.id.cmp(&b.id))
        });
        v
    }
}
