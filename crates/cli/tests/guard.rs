//! `mamori guard hunt` through the real binary: findings from CloudTrail files (plain and gzip),
//! aggregation of repeats, threat lists with bad lines reported, exit codes 0 / 1 / 2, and bad
//! input reported with the file and position while the rest is still hunted.

mod common;

use std::process::Command;

use serde_json::{Value, json};

fn hunt(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(common::bin())
        .arg("guard")
        .arg("hunt")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn problems_of(v: &Value) -> String {
    v["stats"]["problems"].to_string()
}

fn event(id: &str, name: &str, source: &str, ip: &str, time: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAX", "accountId": "111122223333",
            "accessKeyId": "AKIAX", "userName": "mallory"},
        "eventTime": time, "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0", "eventID": id,
        "requestParameters": {"name": "main"}, "recipientAccountId": "111122223333"
    })
}

#[test]
fn hunt_finds_aggregates_and_reports_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(logs.join("deep")).unwrap();
    let plain = json!({"Records": [
        event("a1", "ListBuckets", "s3.amazonaws.com", "5.6.7.9", "2026-11-28T10:00:00Z"),
        event("a2", "ListBuckets", "s3.amazonaws.com", "5.6.7.9", "2026-11-28T11:00:00Z"),
        event("a3", "GetCallerIdentity", "sts.amazonaws.com", "8.8.8.8", "2026-11-28T12:00:00Z"),
    ]});
    std::fs::write(logs.join("one.json"), plain.to_string()).unwrap();
    let gz = json!({"Records": [event("b1", "StopLogging", "cloudtrail.amazonaws.com", "8.8.8.8", "2026-11-28T13:00:00Z")]});
    std::fs::write(
        logs.join("deep/two.json.gz"),
        common::gzip(gz.to_string().as_bytes()),
    )
    .unwrap();
    std::fs::write(logs.join("broken.json.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    std::fs::write(
        logs.join("odd.json"),
        b"{\"Records\": [42, {\"eventID\": 7}]}",
    )
    .unwrap();
    // A good record before a bad one: the one-pass read gives up at the bad one, and what it
    // found before is not counted twice when the file is read again record by record.
    let mixed = format!(
        "{{\"Records\": [{}, 42]}}",
        event(
            "m1",
            "StopLogging",
            "cloudtrail.amazonaws.com",
            "8.8.8.8",
            "2026-11-28T14:00:00Z"
        )
    );
    std::fs::write(logs.join("mixed.json"), mixed).unwrap();
    let list = tmp.path().join("feed.txt");
    std::fs::write(&list, "# feed\n5.6.7.0/24\nthis is not an address\n").unwrap();

    let (code, out, err) = hunt(&[
        logs.to_str().unwrap(),
        "--lists",
        list.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1), "something found: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    // The listed caller's call is an S3 one: GuardDuty's S3 protection type, about the bucket.
    assert!(
        kinds.contains(&"Discovery:S3/MaliciousIPCaller.Custom"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "{kinds:?}"
    );
    assert_eq!(findings.len(), 2, "{kinds:?}");
    let recon = findings
        .iter()
        .find(|f| f["type"] == "Discovery:S3/MaliciousIPCaller.Custom")
        .unwrap();
    assert_eq!(recon["service"]["count"], 2, "two calls, one finding");
    assert_eq!(recon["service"]["eventFirstSeen"], "2026-11-28T10:00:00Z");
    assert_eq!(recon["service"]["eventLastSeen"], "2026-11-28T11:00:00Z");
    assert_eq!(
        recon["service"]["additionalInfo"]["eventIds"],
        json!(["a1", "a2"])
    );
    assert_eq!(
        recon["severity"], 8.0,
        "GuardDuty's S3 caller types are High"
    );
    assert_eq!(recon["resource"]["accessKeyDetails"]["userName"], "mallory");
    assert_eq!(
        recon["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"],
        "5.6.7.9"
    );
    assert_eq!(v["stats"]["records"], 5);
    assert_eq!(v["stats"]["badRecords"], 3);
    let stop = findings
        .iter()
        .find(|f| f["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled")
        .unwrap();
    assert_eq!(stop["service"]["count"], 2, "{stop}");
    assert_eq!(
        stop["service"]["additionalInfo"]["eventIds"],
        json!(["b1", "m1"])
    );
    assert!(problems_of(&v).contains("mixed.json: record 1"), "{v}");
    let problems = v["stats"]["problems"].to_string();
    assert!(problems.contains("broken.json.gz"), "{problems}");
    assert!(problems.contains("odd.json: record 0"), "{problems}");
    assert!(
        err.contains("feed.txt:3"),
        "the bad list line is named: {err}"
    );

    // Files read in parallel give exactly what one thread gives (results applied in file
    // order): the same findings, counts, event ids and problems. More files than threads, and
    // flow logs among them (stateful detectors on the calling thread).
    for i in 0..12 {
        let day = json!({"Records": [
            event(&format!("p{i}"), "ListBuckets", "s3.amazonaws.com", "5.6.7.9", &format!("2026-11-28T{:02}:30:00Z", i + 1)),
        ]});
        std::fs::write(logs.join(format!("deep/p{i:02}.json")), day.to_string()).unwrap();
    }
    // A flow log as AWS names it (`.log.gz`, found in a folder), and a digest file, which is
    // not a log: skipped.
    std::fs::write(
        logs.join("deep/123456789012_vpcflowlogs_eu-west-1_fl-1_20261128T1000Z_ab12.log.gz"),
        common::gzip(b"2 123456789012 eni-1 5.6.7.9 10.0.0.5 40000 22 6 20 4000 1700000000 1700000060 REJECT OK\n"),
    )
    .unwrap();
    std::fs::create_dir_all(logs.join("CloudTrail-Digest")).unwrap();
    std::fs::write(
        logs.join("CloudTrail-Digest/d.json.gz"),
        common::gzip(br#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-28T10:00:00Z","logFiles":[]}"#),
    )
    .unwrap();
    let run = |threads: &str| {
        let (code, out, err) = hunt(&[
            logs.to_str().unwrap(),
            "--lists",
            list.to_str().unwrap(),
            "--format",
            "json",
            "--threads",
            threads,
        ]);
        assert_eq!(code, Some(1), "{err}");
        out
    };
    // The same output, but for when each run stamped its findings (a second may turn between
    // runs: that made this test fail now and then).
    let unstamped = |out: &str| {
        let mut v: Value = serde_json::from_str(out).unwrap();
        for f in v["findings"].as_array_mut().into_iter().flatten() {
            if let Some(f) = f.as_object_mut() {
                f.remove("createdAt");
                f.remove("updatedAt");
            }
        }
        v
    };
    let one = run("1");
    assert_eq!(unstamped(&one), unstamped(&run("4")), "4 threads vs 1");
    assert_eq!(unstamped(&one), unstamped(&run("0")), "one per core vs 1");
    let v: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v["stats"]["records"], 5 + 12 + 1, "{v}");

    // With Sigma rules the records are read another way (lazily, for the rules); the same
    // records count, the same two are bad, and the rule fires on the StopLogging.
    let rule = tmp.path().join("stop.yml");
    std::fs::write(
        &rule,
        "title: Trail stopped\nid: 0e1a5d9f-0000-4000-8000-000000000001\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventSource: cloudtrail.amazonaws.com\n    eventName: StopLogging\n  condition: sel\nlevel: high\n",
    )
    .unwrap();
    let (code, out, err) = hunt(&[
        logs.to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["records"], 5 + 12 + 1, "{v}");
    assert_eq!(v["stats"]["badRecords"], 3, "{v}");
    let problems = v["stats"]["problems"].to_string();
    assert!(problems.contains("odd.json: record 1"), "{problems}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "Sigma:aws.cloudtrail/Trail stopped"),
        "{v}"
    );

    // A correlation keeps state across records: it runs in file order whatever --threads says,
    // and fires once the 10th listing from one address arrives (14 here: a1, a2, p0…p11).
    let corr = tmp.path().join("corr.yml");
    std::fs::write(
        &corr,
        r#"title: Bucket listing
id: 11111111-0000-4000-8000-000000000002
name: list_buckets
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    eventName: ListBuckets
  condition: sel
level: low
---
title: Many bucket listings
id: 11111111-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules:
    - list_buckets
  group-by:
    - sourceIPAddress
  timespan: 1d
  condition:
    gte: 10
level: high
"#,
    )
    .unwrap();
    let run = |threads: &str| {
        let (code, out, err) = hunt(&[
            logs.to_str().unwrap(),
            "--rules",
            corr.to_str().unwrap(),
            "--format",
            "json",
            "--threads",
            threads,
        ]);
        assert_eq!(code, Some(1), "{err}");
        out
    };
    let one = run("1");
    assert_eq!(
        unstamped(&one),
        unstamped(&run("4")),
        "a correlation, 4 threads vs 1"
    );
    assert!(
        one.contains("Sigma:correlation/Many bucket listings"),
        "{one}"
    );

    // Standard input, gzip: `zcat`-free piping, as from `aws s3 cp s3://… -`.
    let mut child = Command::new(common::bin())
        .args(["guard", "hunt", "-", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(&common::gzip(gz.to_string().as_bytes()))
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stats"]["records"], 1, "{v}");
    assert_eq!(
        v["findings"][0]["type"], "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "{v}"
    );

    // Threshold: nothing Critical here, so --min-severity critical finds nothing → exit 0; the
    // listed caller's S3 calls are High, so --min-severity high finds them → exit 1.
    for (band, want) in [("critical", 0), ("high", 1)] {
        let (code, _, _) = hunt(&[
            logs.to_str().unwrap(),
            "--lists",
            list.to_str().unwrap(),
            "--min-severity",
            band,
        ]);
        assert_eq!(code, Some(want), "--min-severity {band}");
    }
    // Table output names the type.
    let (_, out, _) = hunt(&[logs.to_str().unwrap()]);
    assert!(
        out.contains("Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "{out}"
    );
    // OCSF: one Detection Finding per line.
    let (code, out, _) = hunt(&[logs.to_str().unwrap(), "--format", "ocsf"]);
    assert_eq!(code, Some(1));
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["class_uid"], 2004);
    // Seen twice (b1, m1): an Update, not a Create.
    assert_eq!(first["type_uid"], 200402);
    assert_eq!(first["activity_name"], "Update");
    assert_eq!(
        first["finding_info"]["types"][0],
        "Stealth:IAMUser/CloudTrailLoggingDisabled"
    );
    // Nothing readable at all: exit 2.
    let (code, _, err) = hunt(&["/no/such/place"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/no/such/place"), "{err}");
}
