//! CloudTrail's event categories, and the lookup attributes derived from a record.

use serde::{Deserialize, Serialize};

use crate::model::Record;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    Management,
    Data,
    Insight,
    NetworkActivity,
    /// Application events received through a channel (CloudTrail Lake's `ActivityAuditLog`).
    ActivityAuditLog,
    /// Any other value a newer CloudTrail writes; kept as given in the record.
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Management => "Management",
            Category::Data => "Data",
            Category::Insight => "Insight",
            Category::NetworkActivity => "NetworkActivity",
            Category::ActivityAuditLog => "ActivityAuditLog",
            Category::Other => "Other",
        }
    }

    /// The category CloudTrail names `value`, if it is one it defines.
    pub fn known(value: &str) -> Option<Category> {
        match value {
            "Management" => Some(Category::Management),
            "Data" => Some(Category::Data),
            "Insight" => Some(Category::Insight),
            "NetworkActivity" => Some(Category::NetworkActivity),
            "ActivityAuditLog" => Some(Category::ActivityAuditLog),
            _ => None,
        }
    }
}

/// CloudTrail's rules: `eventCategory` when present (1.07+); before that, an Insights event type
/// means Insight, `managementEvent: false` means Data, and records older than 1.06 that lack
/// both are Data only for the object-level APIs CloudTrail logs as data events.
pub fn category(r: &Record) -> Category {
    if let Some(c) = r.event_category.as_deref() {
        return Category::known(c).unwrap_or(Category::Other);
    }
    if r.event_type.as_deref() == Some("AwsCloudTrailInsight") {
        return Category::Insight;
    }
    if let Some(m) = r.management_event.get().and_then(|f| f.value()) {
        return if m {
            Category::Management
        } else {
            Category::Data
        };
    }
    match (r.event_source.as_deref(), r.event_name.as_deref()) {
        (Some("s3.amazonaws.com"), Some(name)) if S3_OBJECT_APIS.contains(&name) => Category::Data,
        (Some("lambda.amazonaws.com"), Some("Invoke" | "InvokeAsync")) => Category::Data,
        (Some("dynamodb.amazonaws.com"), Some(name)) if DYNAMODB_ITEM_APIS.contains(&name) => {
            Category::Data
        }
        _ => Category::Management,
    }
}

/// S3 object-level operations CloudTrail records as data events (user guide, "Logging data events").
const S3_OBJECT_APIS: &[&str] = &[
    "GetObject",
    "PutObject",
    "DeleteObject",
    "DeleteObjects",
    "HeadObject",
    "CopyObject",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "RestoreObject",
    "SelectObjectContent",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "GetObjectAttributes",
    "GetObjectRetention",
    "PutObjectRetention",
    "GetObjectLegalHold",
    "PutObjectLegalHold",
];

const DYNAMODB_ITEM_APIS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// The event name and source a lookup sees. Insights records carry them in `insightDetails`.
pub fn name_and_source(r: &Record) -> (Option<&str>, Option<&str>) {
    let details = r.insight_details.get();
    let name = r
        .event_name
        .as_deref()
        .or_else(|| details.and_then(|d| d.event_name.as_deref()));
    let source = r
        .event_source
        .as_deref()
        .or_else(|| details.and_then(|d| d.event_source.as_deref()));
    (name, source)
}

/// The "User name" of CloudTrail's Event history: the IAM user name; for an assumed role, the
/// session name (the last part of the ARN); for an AWS service, the service; for root, "root".
pub fn username(r: &Record) -> Option<String> {
    let id = r.user_identity.get()?;
    if let Some(name) = id.user_name.as_deref() {
        return Some(name.to_string());
    }
    match id.identity_type.as_deref() {
        Some("AssumedRole")
        | Some("FederatedUser")
        | Some("WebIdentityUser")
        | Some("SAMLUser") => {
            if let Some(arn) = id.arn.as_deref()
                && let Some((_, session)) = arn.rsplit_once('/')
            {
                return Some(session.to_string());
            }
            id.session_context
                .get()
                .and_then(|c| c.session_issuer.get())
                .and_then(|i| i.user_name.as_deref())
                .map(str::to_string)
        }
        Some("Root") => Some("root".to_string()),
        Some("AWSService") => id.invoked_by.as_deref().map(str::to_string),
        _ => id.principal_id.as_deref().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn categories_follow_cloudtrail_rules() {
        assert_eq!(
            category(&rec(r#"{"eventCategory":"Data"}"#)),
            Category::Data
        );
        assert_eq!(
            category(&rec(r#"{"eventType":"AwsCloudTrailInsight"}"#)),
            Category::Insight
        );
        assert_eq!(
            category(&rec(r#"{"managementEvent":false}"#)),
            Category::Data
        );
        assert_eq!(
            category(&rec(
                r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#
            )),
            Category::Data
        );
        assert_eq!(
            category(&rec(
                r#"{"eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl"}"#
            )),
            Category::Management
        );
        assert_eq!(
            category(&rec(r#"{"eventCategory":"Evidence"}"#)),
            Category::Other
        );
    }

    #[test]
    fn usernames_as_event_history_shows_them() {
        let r = rec(
            r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/session-1"}}"#,
        );
        assert_eq!(username(&r).as_deref(), Some("session-1"));
        let r = rec(r#"{"userIdentity":{"type":"AWSService","invokedBy":"logs.amazonaws.com"}}"#);
        assert_eq!(username(&r).as_deref(), Some("logs.amazonaws.com"));
        let r = rec(r#"{"userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}"#);
        assert_eq!(username(&r).as_deref(), Some("root"));
        let r = rec(r#"{"userIdentity":{"type":"IAMUser","userName":"alice"}}"#);
        assert_eq!(username(&r).as_deref(), Some("alice"));
    }
}
