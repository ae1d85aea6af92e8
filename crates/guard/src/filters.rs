//! Suppression rules, as GuardDuty's filters: up to 50 criteria over a finding's fields (dotted
//! paths into its JSON: `type`, `severity`, `region`, `resource.accessKeyDetails.userName`,
//! `service.action.awsApiCallAction.remoteIpDetails.ipAddressV4`, …), each with `Equals` /
//! `NotEquals` (lists), `Matches` / `NotMatches` (`*` wildcards), `GreaterThan(OrEqual)`,
//! `LessThan(OrEqual)` (numbers); all criteria must hold. Filters are ranked; the first that
//! matches a new finding decides: `ARCHIVE` stores it archived (and does not publish it), `NOOP`
//! leaves it alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_CRITERIA: usize = 50;

/// The finding fields a filter may name: GuardDuty's filter attributes (as JSON paths into the
/// finding), plus what mamori's findings carry. A name outside these — a typo — would find no
/// value, and `NotEquals`/`NotMatches` on no value hold for every finding: a filter that
/// archives everything by accident. So it is refused, naming the field.
const FIELDS: &[&str] = &[
    "accountId",
    "arn",
    "confidence",
    "createdAt",
    "description",
    "id",
    "partition",
    "region",
    "schemaVersion",
    "severity",
    "title",
    "type",
    "updatedAt",
    "resource.resourceType",
    "resource.accessKeyDetails.accessKeyId",
    "resource.accessKeyDetails.principalId",
    "resource.accessKeyDetails.userName",
    "resource.accessKeyDetails.userType",
    "resource.instanceDetails.iamInstanceProfile.id",
    "resource.instanceDetails.imageId",
    "resource.instanceDetails.instanceId",
    "resource.instanceDetails.outpostArn",
    "resource.instanceDetails.networkInterfaces.ipv6Addresses",
    "resource.instanceDetails.networkInterfaces.networkInterfaceId",
    "resource.instanceDetails.networkInterfaces.privateIpAddress",
    "resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress",
    "resource.instanceDetails.networkInterfaces.publicDnsName",
    "resource.instanceDetails.networkInterfaces.publicIp",
    "resource.instanceDetails.networkInterfaces.securityGroups.groupId",
    "resource.instanceDetails.networkInterfaces.securityGroups.groupName",
    "resource.instanceDetails.networkInterfaces.subnetId",
    "resource.instanceDetails.networkInterfaces.vpcId",
    "resource.instanceDetails.tags.key",
    "resource.instanceDetails.tags.value",
    "resource.s3BucketDetails.arn",
    "resource.s3BucketDetails.name",
    "resource.s3BucketDetails.type",
    "resource.s3BucketDetails.tags.key",
    "resource.s3BucketDetails.tags.value",
    "resource.s3BucketDetails.publicAccess.effectivePermission",
    "service.action.actionType",
    "service.action.awsApiCallAction.api",
    "service.action.awsApiCallAction.callerType",
    "service.action.awsApiCallAction.errorCode",
    "service.action.awsApiCallAction.serviceName",
    "service.action.awsApiCallAction.userAgent.fullUserAgent",
    "service.action.awsApiCallAction.remoteAccountDetails.affiliated",
    "service.action.dnsRequestAction.domain",
    "service.action.dnsRequestAction.domainWithSuffix",
    "service.action.networkConnectionAction.blocked",
    "service.action.networkConnectionAction.connectionDirection",
    "service.action.networkConnectionAction.localPortDetails.port",
    "service.action.networkConnectionAction.protocol",
    "service.action.networkConnectionAction.remotePortDetails.port",
    "service.archived",
    "service.count",
    "service.detectorId",
    "service.eventFirstSeen",
    "service.eventLastSeen",
    "service.featureName",
    "service.resourceRole",
    "service.serviceName",
    "service.evidence.threatIntelligenceDetails.threatListName",
    "service.evidence.threatIntelligenceDetails.threatNames",
];

/// Where an address's details sit in an action; each has the same fields (`REMOTE_IP`).
const IP_DETAILS: &[&str] = &[
    "service.action.awsApiCallAction.remoteIpDetails.",
    "service.action.networkConnectionAction.localIpDetails.",
    "service.action.networkConnectionAction.remoteIpDetails.",
    "service.action.portProbeAction.portProbeDetails.localIpDetails.",
    "service.action.portProbeAction.portProbeDetails.remoteIpDetails.",
    "service.action.kubernetesApiCallAction.remoteIpDetails.",
];
const REMOTE_IP: &[&str] = &[
    "ipAddressV4",
    "ipAddressV6",
    "city.cityName",
    "country.countryCode",
    "country.countryName",
    "geoLocation.lat",
    "geoLocation.lon",
    "organization.asn",
    "organization.asnOrg",
    "organization.isp",
    "organization.org",
];

/// Open-ended parts of the finding (maps, and kinds of findings whose fields grow).
const OPEN_PREFIXES: &[&str] = &[
    "service.additionalInfo.",
    "service.action.portProbeAction.portProbeDetails.localPortDetails.",
    "service.action.kubernetesApiCallAction.",
    "service.runtimeDetails.",
    "service.ebsVolumeScanDetails.",
    "resource.kubernetesDetails.",
    "resource.eksClusterDetails.",
    "resource.ecsClusterDetails.",
    "resource.containerDetails.",
    "resource.lambdaDetails.",
    "resource.rdsDbInstanceDetails.",
    "resource.rdsDbUserDetails.",
];

/// Whether a filter may name this field.
pub fn known_field(path: &str) -> bool {
    FIELDS.contains(&path)
        || IP_DETAILS.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| REMOTE_IP.contains(&rest))
        })
        || OPEN_PREFIXES
            .iter()
            .any(|p| path.len() > p.len() && path.starts_with(p))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_matches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than_or_equal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than_or_equal: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    pub name: String,
    /// ARCHIVE or NOOP
    pub action: String,
    #[serde(default)]
    pub rank: i64,
    #[serde(default)]
    pub description: Option<String>,
    /// field path → condition
    pub criteria: BTreeMap<String, Condition>,
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

impl Condition {
    fn holds(&self, value: Option<&Value>) -> bool {
        let text = value.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let num = value.and_then(Value::as_f64);
        let t = text.as_deref();
        (self.equals.is_empty() || t.is_some_and(|t| self.equals.iter().any(|e| e == t)))
            && self.not_equals.iter().all(|e| Some(e.as_str()) != t)
            && (self.matches.is_empty()
                || t.is_some_and(|t| self.matches.iter().any(|p| glob(p, t))))
            && self
                .not_matches
                .iter()
                .all(|p| !t.is_some_and(|t| glob(p, t)))
            && self.greater_than.is_none_or(|x| num.is_some_and(|n| n > x))
            && self
                .greater_than_or_equal
                .is_none_or(|x| num.is_some_and(|n| n >= x))
            && self.less_than.is_none_or(|x| num.is_some_and(|n| n < x))
            && self
                .less_than_or_equal
                .is_none_or(|x| num.is_some_and(|n| n <= x))
    }
}

impl Filter {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.len() > 64 {
            return Err("name must be 1 to 64 characters".into());
        }
        if !matches!(self.action.as_str(), "ARCHIVE" | "NOOP") {
            return Err(format!("action {:?}: ARCHIVE or NOOP", self.action));
        }
        if self.criteria.is_empty() || self.criteria.len() > MAX_CRITERIA {
            return Err(format!("1 to {MAX_CRITERIA} criteria"));
        }
        for (field, c) in &self.criteria {
            if !known_field(field) {
                return Err(format!(
                    "criteria field {field:?} is not a finding field; use GuardDuty's filter attributes, e.g. type, severity, region, resource.accessKeyDetails.userName, service.action.awsApiCallAction.remoteIpDetails.ipAddressV4"
                ));
            }
            if *c == Condition::default() {
                return Err(format!("criteria field {field:?} has no condition"));
            }
        }
        Ok(())
    }

    pub fn matches(&self, finding: &Value) -> bool {
        self.criteria
            .iter()
            .all(|(path, c)| c.holds(lookup(finding, path)))
    }
}

/// The action of the first filter (by rank, then name) matching the finding, if any.
pub fn decide<'f>(filters: &'f [Filter], finding: &Value) -> Option<&'f Filter> {
    let mut sorted: Vec<&Filter> = filters.iter().collect();
    sorted.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.name.cmp(&b.name)));
    sorted.into_iter().find(|f| f.matches(finding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_checked_against_the_finding_schema() {
        let parse = |field: &str| -> Filter {
            serde_json::from_value(json!({"name": "f", "action": "ARCHIVE",
                "criteria": {field: {"NotEquals": ["x"]}}}))
            .unwrap()
        };
        for ok in [
            "type",
            "severity",
            "resource.accessKeyDetails.userName",
            "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
            "service.action.awsApiCallAction.remoteIpDetails.organization.asn",
            "service.additionalInfo.sample",
        ] {
            assert!(parse(ok).validate().is_ok(), "{ok}");
        }
        for bad in [
            "typo.field",
            "Type",
            "service.additionalInfo.",
            "service.action.awsApiCallAction.remoteIpDetails.nope",
        ] {
            let e = parse(bad).validate().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        let empty: Filter = serde_json::from_value(
            json!({"name": "f", "action": "ARCHIVE", "criteria": {"type": {}}}),
        )
        .unwrap();
        assert!(empty.validate().is_err(), "a criterion with no condition");
    }

    #[test]
    fn criteria_operators_and_ranking() {
        let f = json!({"type": "Recon:IAMUser/MaliciousIPCaller.Custom", "severity": 5.0, "region": "eu-west-1",
            "resource": {"accessKeyDetails": {"userName": "scanner-bot"}}});
        let parse = |v: Value| -> Filter { serde_json::from_value(v).unwrap() };
        let scanner = parse(
            json!({"name": "scanner", "action": "ARCHIVE", "rank": 2, "criteria": {
            "type": {"Matches": ["Recon:*"]},
            "resource.accessKeyDetails.userName": {"Equals": ["scanner-bot", "other"]},
            "severity": {"LessThan": 7}}}),
        );
        assert!(scanner.matches(&f));
        let high_only = parse(
            json!({"name": "high", "action": "NOOP", "rank": 1, "criteria": {"severity": {"GreaterThanOrEqual": 7}}}),
        );
        assert!(!high_only.matches(&f));
        let not_eu = parse(
            json!({"name": "not-eu", "action": "ARCHIVE", "criteria": {"region": {"NotMatches": ["eu-*"]}}}),
        );
        assert!(!not_eu.matches(&f));
        let first = parse(
            json!({"name": "first", "action": "NOOP", "rank": 1, "criteria": {"type": {"Matches": ["*MaliciousIPCaller*"]}}}),
        );
        let filters = vec![scanner.clone(), first.clone()];
        assert_eq!(
            decide(&filters, &f).map(|f| f.name.as_str()),
            Some("first"),
            "rank 1 before rank 2"
        );
        assert!(
            parse(
                json!({"name": "x", "action": "DELETE", "criteria": {"type": {"Equals": ["a"]}}})
            )
            .validate()
            .is_err()
        );
        assert!(
            serde_json::from_value::<Filter>(
                json!({"name": "x", "action": "NOOP", "criteria": {"type": {"Like": ["a"]}}})
            )
            .is_err()
        );
    }
}
