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
