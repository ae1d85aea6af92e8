//! Object keys, exactly as CloudTrail lays them out:
//!
//! ```text
//! <prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz
//! <prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz
//! ```
//!
//! The 16 characters CloudTrail fills with random letters are, in mamori, the index of the file's
//! first record in the trail's Merkle log, in hex: still 16 alphanumerics to every parser, but a
//! re-delivery after a crash writes the very same key, and a validator can put files back in log
//! order (and see a renamed one). The Merkle log's checkpoints live beside them under
//! `CloudTrail-Checkpoint/<trail>/`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Where a trail writes inside its destination: `<prefix>/AWSLogs/[<org-id>/]`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub prefix: String,
    pub org: Option<String>,
}

impl Layout {
    fn base(&self, account: &str) -> String {
        let mut s = String::new();
        if !self.prefix.is_empty() {
            s.push_str(self.prefix.trim_matches('/'));
            s.push('/');
        }
        s.push_str("AWSLogs/");
        if let Some(org) = &self.org {
            s.push_str(org);
            s.push('/');
        }
        s.push_str(account);
        s
    }

    pub fn log_key(
        &self,
        account: &str,
        region: &str,
        at: DateTime<Utc>,
        leaf_start: u64,
    ) -> String {
        format!(
            "{}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{leaf_start:016x}.json.gz",
            self.base(account),
            at.format("%Y/%m/%d"),
            at.format("%Y%m%dT%H%MZ"),
        )
    }

    pub fn digest_key(
        &self,
        account: &str,
        region: &str,
        trail: &str,
        home_region: &str,
        end: DateTime<Utc>,
    ) -> String {
        format!(
            "{}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{}.json.gz",
            self.base(account),
            end.format("%Y/%m/%d"),
            end.format("%Y%m%dT%H%M%SZ"),
        )
    }

    /// The newest signed checkpoint of the trail's Merkle log.
    pub fn checkpoint_key(&self, owner: &str, trail: &str) -> String {
        format!(
            "{}/CloudTrail-Checkpoint/{trail}/checkpoint",
            self.base(owner)
        )
    }

    /// Every checkpoint, kept by tree size, so old ones can be proven consistent with new ones.
    pub fn checkpoint_history_key(&self, owner: &str, trail: &str, size: u64) -> String {
        format!(
            "{}/CloudTrail-Checkpoint/{trail}/size/{size:020}",
            self.base(owner)
        )
    }
}

/// What a log file's name says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogName {
    pub account: String,
    pub region: String,
    pub at: DateTime<Utc>,
    pub leaf_start: u64,
}

/// Parses `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 hex>.json.gz` (the key's last part).
pub fn parse_log_name(key: &str) -> Option<LogName> {
    let name = key.rsplit('/').next()?.strip_suffix(".json.gz")?;
    let mut parts = name.split('_');
    let account = parts.next()?;
    if parts.next()? != "CloudTrail" {
        return None;
    }
    let region = parts.next()?;
    let at = parts.next()?;
    let suffix = parts.next()?;
    if parts.next().is_some() || suffix.len() != 16 {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(at, "%Y%m%dT%H%MZ")
        .ok()?
        .and_utc();
    Some(LogName {
        account: account.to_string(),
        region: region.to_string(),
        at,
        leaf_start: u64::from_str_radix(suffix, 16).ok()?,
    })
}

/// A region as it may appear in a key: what real records carry (`us-east-1`), and anything else
/// reduced to letters, digits and `-` so that a hostile `awsRegion` cannot walk the key space.
pub fn safe_region(region: &str) -> String {
    let s: String = region
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "unknown".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_cloudtrail() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 13, 5, 9).unwrap();
        let l = Layout {
            prefix: "corp/".into(),
            org: Some("o-abc123".into()),
        };
        let k = l.log_key("111122223333", "eu-west-1", at, 0x2a);
        assert_eq!(
            k,
            "corp/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/28/111122223333_CloudTrail_eu-west-1_20261128T1305Z_000000000000002a.json.gz"
        );
        let n = parse_log_name(&k).unwrap();
        assert_eq!(
            (n.account.as_str(), n.region.as_str(), n.leaf_start),
            ("111122223333", "eu-west-1", 42)
        );
        let d = Layout {
            prefix: String::new(),
            org: None,
        }
        .digest_key("111122223333", "us-east-2", "main", "us-east-1", at);
        assert_eq!(
            d,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2026/11/28/111122223333_CloudTrail-Digest_us-east-2_main_us-east-1_20261128T130509Z.json.gz"
        );
        // awscli reads the digest's date from key[-24:-8].
        assert_eq!(&d[d.len() - 24..d.len() - 8], "20261128T130509Z");
    }

    #[test]
    fn hostile_regions_stay_in_their_lane() {
        assert_eq!(safe_region("../../etc"), "------etc");
        assert_eq!(safe_region(""), "unknown");
        assert!(parse_log_name("x/1_CloudTrail_r_20261128T1305Z_zz.json.gz").is_none());
    }
}
