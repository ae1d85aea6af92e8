//! What a trail is: its name, destination, selectors and cadence, as the API and CLI take it.

use serde::{Deserialize, Serialize};

use crate::selectors::{AdvancedEventSelector, EventSelector, Selection};
use crate::signing;

/// A trail's settings. Field names follow CloudTrail's `CreateTrail` where one exists.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrailSpec {
    pub name: String,
    /// A directory, or `s3://bucket[/prefix]` (endpoint and credentials from the usual `AWS_*`
    /// environment variables of the server).
    pub destination: String,
    /// Extra key prefix inside the destination (CloudTrail's `S3KeyPrefix`).
    #[serde(default)]
    pub key_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_selectors: Option<Vec<EventSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    /// Delivers every account of the organization (management account only).
    #[serde(default)]
    pub is_organization_trail: bool,
    /// Seconds between deliveries (CloudTrail: about 5 minutes).
    #[serde(default = "default_delivery")]
    pub delivery_interval_seconds: u64,
    /// Seconds covered by one digest (CloudTrail: one hour).
    #[serde(default = "default_digest")]
    pub digest_interval_seconds: u64,
    /// A log file is cut at this many records even before the interval ends.
    #[serde(default = "default_file_events")]
    pub max_file_events: usize,
    /// `Ed25519` (default) or `SHA256withRSA` (CloudTrail's).
    #[serde(default = "default_algorithm")]
    pub digest_signature_algorithm: String,
    /// The region named in digest file names and used for records without `awsRegion`.
    #[serde(default = "default_region")]
    pub home_region: String,
}

fn default_delivery() -> u64 {
    300
}
fn default_digest() -> u64 {
    3600
}
fn default_file_events() -> usize {
    10_000
}
fn default_algorithm() -> String {
    signing::ED25519.into()
}
fn default_region() -> String {
    "us-east-1".into()
}

/// A partial change (`mamori trail update`): absent fields keep their value.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrailUpdate {
    pub destination: Option<String>,
    pub key_prefix: Option<String>,
    pub event_selectors: Option<Vec<EventSelector>>,
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    pub delivery_interval_seconds: Option<u64>,
    pub digest_interval_seconds: Option<u64>,
    pub max_file_events: Option<usize>,
    pub digest_signature_algorithm: Option<String>,
}

impl TrailSpec {
    pub fn apply(&mut self, u: TrailUpdate) {
        if let Some(v) = u.destination {
            self.destination = v;
        }
        if let Some(v) = u.key_prefix {
            self.key_prefix = v;
        }
        // Setting one kind of selectors replaces the other, as in PutEventSelectors.
        if let Some(v) = u.event_selectors {
            self.event_selectors = Some(v);
            self.advanced_event_selectors = None;
        }
        if let Some(v) = u.advanced_event_selectors {
            self.advanced_event_selectors = Some(v);
            self.event_selectors = None;
        }
        if let Some(v) = u.delivery_interval_seconds {
            self.delivery_interval_seconds = v;
        }
        if let Some(v) = u.digest_interval_seconds {
            self.digest_interval_seconds = v;
        }
        if let Some(v) = u.max_file_events {
            self.max_file_events = v;
        }
        if let Some(v) = u.digest_signature_algorithm {
            self.digest_signature_algorithm = v;
        }
    }

    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<Selection, String> {
        check_trail_name(&self.name)?;
        if self.destination.trim().is_empty() {
            return Err("destination is empty; give a directory or s3://bucket/prefix".into());
        }
        mamori_dest::check_key_prefix(&self.key_prefix)?;
        if self.delivery_interval_seconds == 0 || self.delivery_interval_seconds > 86_400 {
            return Err("deliveryIntervalSeconds must be 1 to 86400".into());
        }
        if self.digest_interval_seconds == 0 || self.digest_interval_seconds > 86_400 {
            return Err("digestIntervalSeconds must be 1 to 86400".into());
        }
        if self.max_file_events == 0 || self.max_file_events > 1_000_000 {
            return Err("maxFileEvents must be 1 to 1000000".into());
        }
        signing::check_algorithm(&self.digest_signature_algorithm).map_err(|e| e.to_string())?;
        if crate::layout::safe_region(&self.home_region) != self.home_region {
            return Err(format!(
                "homeRegion {:?} is not a region name",
                self.home_region
            ));
        }
        Selection::new(
            self.event_selectors.clone(),
            self.advanced_event_selectors.clone(),
        )
    }
}

/// CloudTrail's rule: 3–128 of `[A-Za-z0-9._-]`, starting and ending alphanumeric, no adjacent
/// separators, not shaped like an IP address.
pub fn check_trail_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("trail name {name:?} {why}"));
    if !(3..=128).contains(&name.len()) {
        return bad("must be 3 to 128 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("may contain only letters, digits, '.', '_' and '-'");
    }
    let b = name.as_bytes();
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if b.windows(2)
        .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
    {
        return bad("may not have two separators in a row");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("may not look like an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_names() {
        assert!(check_trail_name("org-trail.main_1").is_ok());
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a..b",
            "a-_b",
            "10.0.0.1",
            "a b c",
            &"a".repeat(129),
        ] {
            assert!(check_trail_name(bad).is_err(), "{bad}");
        }
    }
}
