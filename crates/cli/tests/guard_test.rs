//! `mamori guard test` through the real binary: rules with example events pass, a deliberately
//! wrong example fails with exit 1 and says which and why, the built-in detections are checked
//! by type with the organization's accounts from `--config`, and broken tests files are errors.

mod common;

use std::process::Command;

use serde_json::{Value, json};

fn guard_test(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(common::bin())
        .arg("guard")
        .arg("test")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const RULE: &str = "title: Bucket policy deleted
id: 3f1c2a7e-0d5b-4e8a-9b1d-6c2f4a8e9b10
status: experimental
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: s3.amazonaws.com
    eventName: DeleteBucketPolicy
  condition: selection
level: medium
";

fn event(name: &str, params: Value) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAX", "accountId": "111122223333",
            "accessKeyId": "AKIAX", "userName": "mallory"},
        "eventTime": "2026-11-28T10:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": name,
        "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
        "eventID": "e-1", "requestParameters": params, "recipientAccountId": "111122223333"
    })
}

#[test]
fn rules_are_held_to_their_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("policy-deleted.yml"), RULE).unwrap();
    let good = json!({"tests": [
        {"name": "the policy is deleted", "match": true, "event": event("DeleteBucketPolicy", json!({"bucketName": "b"}))},
        {"name": "reading it is fine", "match": false, "event": event("GetBucketPolicy", json!({"bucketName": "b"}))}
    ]});
    std::fs::write(dir.join("policy-deleted.tests.json"), good.to_string()).unwrap();
    // The built-ins by type, alone: a bucket shared with a stranger, not with a sister account
    // named in the config.
    let share = |account: &str| {
        event(
            "PutBucketReplication",
            json!({"bucketName": "b", "ReplicationConfiguration": {"Rule": {"Destination": {"Bucket": "arn:aws:s3:::x", "Account": account}}}}),
        )
    };
    let builtin = json!([
        {"name": "replication to a stranger", "match": true, "type": "Exfiltration:S3/ReplicationToOutsideAccount", "event": share("999988887777")},
        {"name": "replication to a sister", "match": false, "type": "Exfiltration:S3/ReplicationToOutsideAccount", "event": share("222233334444")}
    ]);
    std::fs::write(dir.join("builtin.tests.json"), builtin.to_string()).unwrap();
    let config = tmp.path().join("mamori.toml");
    std::fs::write(
        &config,
        "[guard]\norganization_accounts = [\"111122223333\", \"222233334444\"]\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let (code, out, err) = guard_test(&[dir.to_str().unwrap(), "--config", cfg]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("4 examples: 4 passed, 0 failed"), "{out}");

    // Without the config the sister account is outside: the built-in example fails.
    let (code, out, _) = guard_test(&[dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL") && out.contains("replication to a sister"),
        "{out}"
    );

    // A deliberately wrong example: the rule does not fire on it, and the run fails saying so.
    let wrong = json!({"tests": [
        {"name": "claims a read is a deletion", "match": true, "event": event("GetBucketPolicy", json!({}))}
    ]});
    std::fs::write(dir.join("policy-deleted.tests.json"), wrong.to_string()).unwrap();
    let (code, out, _) = guard_test(&[dir.to_str().unwrap(), "--config", cfg]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL")
            && out.contains("claims a read is a deletion: expected a finding, got none"),
        "{out}"
    );
    let (_, json_out, _) =
        guard_test(&[dir.to_str().unwrap(), "--config", cfg, "--format", "json"]);
    let v: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(
        v["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["passed"] == false)
            .count(),
        1
    );

    // A rule without examples is a warning, or a failure with --require-tests.
    std::fs::write(dir.join("policy-deleted.tests.json"), good.to_string()).unwrap();
    std::fs::write(
        dir.join("untested.yml"),
        RULE.replace("3f1c2a7e", "4f1c2a7e"),
    )
    .unwrap();
    let (code, out, _) = guard_test(&[dir.to_str().unwrap(), "--config", cfg]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("WARN") && out.contains("untested.yml: no examples"),
        "{out}"
    );
    let (code, _, _) = guard_test(&[dir.to_str().unwrap(), "--config", cfg, "--require-tests"]);
    assert_eq!(code, Some(1));
}

#[test]
fn broken_tests_files_are_errors_that_say_where() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("r.yml"), RULE).unwrap();
    std::fs::write(
        dir.join("r.tests.json"),
        "{\"tests\": [{\"name\": \"x\", \"event\": {}}]}",
    )
    .unwrap();
    let (code, out, _) = guard_test(&[dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("r.tests.json: test 1: missing field `match`"),
        "{out}"
    );
    std::fs::write(
        dir.join("r.tests.json"),
        "[{\"name\": \"x\", \"match\": true, \"event\": 42}]",
    )
    .unwrap();
    let (code, out, _) = guard_test(&[dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("the event is not a JSON object"), "{out}");
    // The built-ins' own examples, every one passing.
    let (code, out, _) = guard_test(&["--builtin"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    // No tests at all is an error, not a pass.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = guard_test(&[empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no tests found"), "{err}");
}
