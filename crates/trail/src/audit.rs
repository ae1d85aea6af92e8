//! The trail's [`AuditSink`]: mamori's own mutating calls become management events.

use std::sync::Arc;

use chrono::Utc;
use mamori_core::{AuditEntry, AuditSink, Caller};
use serde_json::{Map, Value, json};

use crate::history::store::History;

pub struct TrailAudit {
    pub history: Arc<History>,
    /// The region the events are recorded in (`[trail] region`).
    pub region: String,
}

impl TrailAudit {
    fn record_json(
        &self,
        caller: &Caller,
        entry: &AuditEntry,
        recipient: &str,
        shared: Option<&str>,
    ) -> String {
        let mut r = Map::new();
        r.insert("eventVersion".into(), "1.11".into());
        r.insert(
            "userIdentity".into(),
            json!({
                "type": "MamoriApiKey",
                "principalId": caller.key_id,
                "arn": format!("arn:mamori:org::{}:key/{}", caller.key_account, caller.key_id),
                "accountId": caller.key_account.to_string(),
                "accessKeyId": caller.key_id,
                "userName": caller.key_name,
            }),
        );
        r.insert(
            "eventTime".into(),
            mamori_core::time::format_cloudtrail(Utc::now()).into(),
        );
        r.insert("eventSource".into(), entry.event_source.clone().into());
        r.insert("eventName".into(), entry.event_name.clone().into());
        r.insert("awsRegion".into(), self.region.clone().into());
        r.insert(
            "sourceIPAddress".into(),
            entry
                .source_ip
                .clone()
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        if let Some(ua) = &entry.user_agent {
            r.insert("userAgent".into(), ua.clone().into());
        }
        if let Some((code, message)) = &entry.error {
            r.insert("errorCode".into(), code.clone().into());
            r.insert("errorMessage".into(), message.clone().into());
        }
        r.insert("requestParameters".into(), entry.request_parameters.clone());
        r.insert("responseElements".into(), entry.response_elements.clone());
        r.insert("requestID".into(), uuid::Uuid::new_v4().to_string().into());
        r.insert("eventID".into(), uuid::Uuid::new_v4().to_string().into());
        r.insert("readOnly".into(), false.into());
        r.insert("eventType".into(), "AwsApiCall".into());
        r.insert("managementEvent".into(), true.into());
        r.insert("recipientAccountId".into(), recipient.into());
        if let Some(s) = shared {
            r.insert("sharedEventID".into(), s.into());
        }
        r.insert("eventCategory".into(), "Management".into());
        Value::Object(r).to_string()
    }
}

impl AuditSink for TrailAudit {
    /// Records in the caller's own account and, when a management admin acted on a member, a
    /// copy in the member's account linked by `sharedEventID` (as CloudTrail does cross-account).
    fn record(&self, caller: &Caller, entry: AuditEntry) -> Result<(), String> {
        let mut targets = vec![caller.key_account];
        if caller.account != caller.key_account {
            targets.push(caller.account);
        }
        let shared = (targets.len() > 1).then(|| uuid::Uuid::new_v4().to_string());
        for account in targets {
            let text = self.record_json(caller, &entry, &account.to_string(), shared.as_deref());
            let report = crate::ingest_blocking(&self.history, account.as_i64(), &[&text])
                .map_err(|e| e.to_string())?;
            if report.accepted != 1 {
                return Err(format!(
                    "self-audit record was not stored: {:?}",
                    report.results.first().and_then(|r| r.reason.clone())
                ));
            }
        }
        Ok(())
    }
}
