//! Labelled cases from outside: Panther's rule unit tests (../shared/fixtures/cloudtrail/panther,
//! Apache-2.0) say of each CloudTrail event whether their rule should fire. Where a Panther rule
//! means what one of our detectors means, ours agrees with every case — the hits and the near
//! misses (failed calls, the opposite setting, another service, a missing field).
//!
//! Not compared: `AWS.Root.Activity`, which leaves out failed calls, read-only calls and
//! CreateServiceLinkedRole; GuardDuty's RootCredentialUsage (and ours) reports every call made
//! with root credentials.

use mamori_guard::cloudtrail::{Context, detect};
use mamori_guard::intel::Intel;
use mamori_guard::view::View;
use serde_json::Value;

fn cases() -> Option<String> {
    let f = mamori_core::testkit::fixtures("cloudtrail/panther/AWS.CloudTrail.jsonl")?;
    Some(std::fs::read_to_string(&f).expect("the Panther cases file reads"))
}

/// Our finding type for a Panther rule, on the events where the two mean the same.
fn ours(rule: &str, event: &Value) -> Option<&'static str> {
    let name = event["eventName"].as_str().unwrap_or("");
    let source = event["eventSource"].as_str().unwrap_or("");
    match rule {
        "AWS.CloudTrail.Stopped" => Some("Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "AWS.S3.DeletePublicAccessBlock" => Some("Policy:S3/BucketBlockPublicAccessDisabled"),
        "AWS.S3.DisableBucketLogging" => Some("Stealth:S3/ServerAccessLoggingDisabled"),
        // Their rule covers many services' resource policies; ours, S3 bucket policies.
        "AWS.CloudTrail.ResourceMadePublic"
            if source == "s3.amazonaws.com" && name == "PutBucketPolicy" =>
        {
            Some("Policy:S3/BucketAnonymousAccessGranted")
        }
        // Their rule also covers versioning and MFA delete; ours, access logging.
        "AWS.S3.SecurityControlDisabling" if name == "PutBucketLogging" => {
            Some("Stealth:S3/ServerAccessLoggingDisabled")
        }
        _ => None,
    }
}

#[test]
fn our_detectors_agree_with_panthers_labelled_cases() {
    let Some(text) = cases() else { return };
    let intel = Intel::default();
    let ctx = Context {
        intel: &intel,
        instance_networks: &[],
        known: &Default::default(),
    };
    let (mut hits, mut misses, mut disagree) = (0, 0, Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let rule = case["rule_id"].as_str().unwrap();
        let event = &case["event"];
        let Some(kind) = ours(rule, event) else {
            continue;
        };
        let expected = case["expected_match"].as_bool().unwrap();
        let fired = detect(&View::from_value(event), &ctx)
            .iter()
            .any(|s| s.kind == kind);
        if fired != expected {
            disagree.push(format!(
                "{rule} / {:?}: Panther says {expected}, {kind} {}",
                case["test_name"],
                if fired { "fired" } else { "did not fire" }
            ));
        }
        if expected {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    eprintln!("Panther cases compared: {hits} that fire, {misses} near misses");
    assert!(disagree.is_empty(), "{disagree:#?}");
    assert!(hits >= 5 && misses >= 10, "{hits} / {misses}");
}
