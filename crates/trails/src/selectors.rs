//! Event selectors, as CloudTrail defines them: basic (`ReadWriteType`,
//! `IncludeManagementEvents`, `DataResources`, `ExcludeManagementEventSources`) or advanced
//! (`FieldSelectors` on eventCategory, eventSource, eventName, eventType, readOnly,
//! resources.type, resources.ARN, … with Equals / NotEquals / StartsWith / NotStartsWith /
//! EndsWith / NotEndsWith). A trail uses one kind or the other; with neither it logs every
//! management event, read and write — CloudTrail's default.

use mamori_trail::Record;
use mamori_trail::classify::{self, Category};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EventSelector {
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    #[serde(default = "yes")]
    pub include_management_events: bool,
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    #[default]
    All,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DataResource {
    pub r#type: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

const FIELDS: &[&str] = &[
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "resources.type",
    "resources.ARN",
    "errorCode",
    "vpcEndpointId",
    "sessionCredentialFromConsole",
    "userIdentity.arn",
];
/// Fields on which only `Equals` is allowed.
const EQUALS_ONLY: &[&str] = &["eventCategory", "readOnly", "resources.type"];
const MAX_VALUES: usize = 500;

/// Which events a trail delivers.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Selection {
    #[default]
    AllManagement,
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

impl Selection {
    /// Checks the selectors as CloudTrail does, naming the first problem.
    pub fn new(
        basic: Option<Vec<EventSelector>>,
        advanced: Option<Vec<AdvancedEventSelector>>,
    ) -> Result<Self, String> {
        match (basic, advanced) {
            (Some(_), Some(_)) => {
                Err("a trail uses EventSelectors or AdvancedEventSelectors, not both".into())
            }
            (None, None) => Ok(Selection::AllManagement),
            (Some(b), None) => {
                if b.is_empty() || b.len() > 5 {
                    return Err("EventSelectors takes 1 to 5 selectors".into());
                }
                for (i, s) in b.iter().enumerate() {
                    for r in &s.data_resources {
                        if r.r#type.is_empty() {
                            return Err(format!(
                                "EventSelectors[{i}].DataResources: Type is empty"
                            ));
                        }
                    }
                }
                Ok(Selection::Basic(b))
            }
            (None, Some(a)) => {
                if a.is_empty() {
                    return Err("AdvancedEventSelectors is empty".into());
                }
                let mut total = 0;
                for (i, s) in a.iter().enumerate() {
                    if !s.field_selectors.iter().any(|f| f.field == "eventCategory") {
                        return Err(format!(
                            "AdvancedEventSelectors[{i}] needs a field selector on eventCategory"
                        ));
                    }
                    for f in &s.field_selectors {
                        let at = format!("AdvancedEventSelectors[{i}] field {}", f.field);
                        if !FIELDS.contains(&f.field.as_str()) {
                            return Err(format!(
                                "{at}: unknown field (known: {})",
                                FIELDS.join(", ")
                            ));
                        }
                        let lists = [
                            &f.equals,
                            &f.starts_with,
                            &f.ends_with,
                            &f.not_equals,
                            &f.not_starts_with,
                            &f.not_ends_with,
                        ];
                        if lists.iter().all(|l| l.is_empty()) {
                            return Err(format!("{at}: no condition"));
                        }
                        if EQUALS_ONLY.contains(&f.field.as_str())
                            && lists[1..].iter().any(|l| !l.is_empty())
                        {
                            return Err(format!("{at}: only Equals is allowed on this field"));
                        }
                        for v in lists.iter().flat_map(|l| l.iter()) {
                            if v.is_empty() || v.len() > 2048 {
                                return Err(format!("{at}: values are 1 to 2048 characters"));
                            }
                            total += 1;
                        }
                    }
                }
                if total > MAX_VALUES {
                    return Err(format!(
                        "AdvancedEventSelectors has {total} condition values; at most {MAX_VALUES}"
                    ));
                }
                Ok(Selection::Advanced(a))
            }
        }
    }

    pub fn basic(&self) -> Option<&[EventSelector]> {
        match self {
            Selection::Basic(b) => Some(b),
            _ => None,
        }
    }

    pub fn advanced(&self) -> Option<&[AdvancedEventSelector]> {
        match self {
            Selection::Advanced(a) => Some(a),
            _ => None,
        }
    }

    /// Whether the trail delivers `r`.
    pub fn matches(&self, r: &Record) -> bool {
        let category = classify::category(r);
        let read_only = r.read_only.get().and_then(|f| f.value());
        match self {
            Selection::AllManagement => category == Category::Management,
            Selection::Basic(selectors) => selectors
                .iter()
                .any(|s| basic_matches(s, r, category, read_only)),
            Selection::Advanced(selectors) => selectors.iter().any(|s| {
                s.field_selectors
                    .iter()
                    .all(|f| field_matches(f, r, category, read_only))
            }),
        }
    }
}

fn basic_matches(
    s: &EventSelector,
    r: &Record,
    category: Category,
    read_only: Option<bool>,
) -> bool {
    let rw = match s.read_write_type {
        ReadWriteType::All => true,
        ReadWriteType::ReadOnly => read_only == Some(true),
        ReadWriteType::WriteOnly => read_only != Some(true),
    };
    if !rw {
        return false;
    }
    match category {
        Category::Management => {
            let source = r.event_source.as_deref().unwrap_or("");
            s.include_management_events
                && !s
                    .exclude_management_event_sources
                    .iter()
                    .any(|x| x == source)
        }
        Category::Data => {
            let resources = resources(r);
            s.data_resources.iter().any(|d| {
                resources.iter().any(|(t, arn)| {
                    t == &d.r#type
                        && d.values
                            .iter()
                            .any(|v| v == "*" || arn.starts_with(v.as_str()))
                })
            })
        }
        _ => false,
    }
}

fn resources(r: &Record) -> Vec<(String, String)> {
    r.resources
        .get()
        .map(|list| {
            list.iter()
                .map(|res| {
                    (
                        res.resource_type.get().cloned().unwrap_or_default(),
                        res.arn.get().cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn field_matches(
    f: &FieldSelector,
    r: &Record,
    category: Category,
    read_only: Option<bool>,
) -> bool {
    let text = |v: Option<&String>| vec![v.cloned().unwrap_or_default()];
    if category == Category::Other {
        return false;
    }
    let values: Vec<String> = match f.field.as_str() {
        "eventCategory" => vec![category.as_str().to_string()],
        "eventSource" => text(r.event_source.get()),
        "eventName" => text(r.event_name.get()),
        "eventType" => text(r.event_type.get()),
        "errorCode" => text(r.error_code.get()),
        "vpcEndpointId" => text(r.vpc_endpoint_id.get()),
        "readOnly" => vec![read_only.map(|b| b.to_string()).unwrap_or_default()],
        "sessionCredentialFromConsole" => vec![
            r.session_credential_from_console
                .get()
                .and_then(|b| b.value())
                .map(|b| b.to_string())
                .unwrap_or_default(),
        ],
        "userIdentity.arn" => text(r.user_identity.get().and_then(|u| u.arn.get())),
        "resources.type" => resources(r).into_iter().map(|x| x.0).collect(),
        "resources.ARN" => resources(r).into_iter().map(|x| x.1).collect(),
        _ => return false,
    };
    let holds = |v: &str| {
        (f.equals.is_empty() || f.equals.iter().any(|x| x == v))
            && (f.starts_with.is_empty() || f.starts_with.iter().any(|x| v.starts_with(x.as_str())))
            && (f.ends_with.is_empty() || f.ends_with.iter().any(|x| v.ends_with(x.as_str())))
            && !f.not_equals.iter().any(|x| x == v)
            && !f.not_starts_with.iter().any(|x| v.starts_with(x.as_str()))
            && !f.not_ends_with.iter().any(|x| v.ends_with(x.as_str()))
    };
    values.iter().any(|v| holds(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Record {
        serde_json::from_str(s).unwrap()
    }

    const MGMT_WRITE: &str = r#"{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}"#;
    const MGMT_READ: &str = r#"{"eventVersion":"1.08","eventSource":"kms.amazonaws.com","eventName":"Decrypt","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}"#;
    const S3_DATA: &str = r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","readOnly":true,"eventType":"AwsApiCall","managementEvent":false,"eventCategory":"Data","resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::logs-bucket/a.txt"}]}"#;

    #[test]
    fn default_is_all_management_events() {
        let s = Selection::new(None, None).unwrap();
        assert!(s.matches(&rec(MGMT_WRITE)) && s.matches(&rec(MGMT_READ)));
        assert!(!s.matches(&rec(S3_DATA)));
    }

    #[test]
    fn basic_selectors() {
        let s: Vec<EventSelector> = serde_json::from_str(
            r#"[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true,
                 "DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::logs-bucket/"]}]},
                {"ReadWriteType":"ReadOnly","IncludeManagementEvents":false,
                 "DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::logs-bucket/"]}]}]"#,
        )
        .unwrap();
        let s = Selection::new(Some(s), None).unwrap();
        assert!(s.matches(&rec(MGMT_WRITE)));
        assert!(
            !s.matches(&rec(MGMT_READ)),
            "read management events are not selected"
        );
        assert!(s.matches(&rec(S3_DATA)));
        let other_bucket = S3_DATA.replace("logs-bucket", "other");
        assert!(!s.matches(&rec(&other_bucket)), "near miss: another bucket");
    }

    #[test]
    fn advanced_selectors() {
        let a: Vec<AdvancedEventSelector> = serde_json::from_str(
            r#"[{"Name":"s3 reads in logs-bucket, not .txt",
                 "FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},
                                   {"Field":"resources.type","Equals":["AWS::S3::Object"]},
                                   {"Field":"resources.ARN","StartsWith":["arn:aws:s3:::logs-bucket/"],"NotEndsWith":[".log"]}]},
                {"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},
                                   {"Field":"eventSource","NotEquals":["kms.amazonaws.com"]}]}]"#,
        )
        .unwrap();
        let s = Selection::new(None, Some(a)).unwrap();
        assert!(s.matches(&rec(S3_DATA)));
        assert!(!s.matches(&rec(&S3_DATA.replace("a.txt", "a.log"))));
        assert!(s.matches(&rec(MGMT_WRITE)));
        assert!(!s.matches(&rec(MGMT_READ)), "kms excluded");
    }

    #[test]
    fn refuses_bad_selectors() {
        let bad = |j: &str| {
            let a: Vec<AdvancedEventSelector> = serde_json::from_str(j).unwrap();
            Selection::new(None, Some(a)).unwrap_err()
        };
        assert!(
            bad(r#"[{"FieldSelectors":[{"Field":"eventSource","Equals":["x"]}]}]"#)
                .contains("eventCategory")
        );
        assert!(
            bad(r#"[{"FieldSelectors":[{"Field":"eventCategory","StartsWith":["Man"]}]}]"#)
                .contains("only Equals")
        );
        assert!(bad(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"bogus","Equals":["x"]}]}]"#).contains("unknown field"));
        assert!(Selection::new(Some(vec![EventSelector::default()]), Some(vec![])).is_err());
        assert!(serde_json::from_str::<Vec<EventSelector>>(r#"[{"Bogus":1}]"#).is_err());
    }
}
