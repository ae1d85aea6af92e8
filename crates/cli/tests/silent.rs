//! What a new user hit: inputs that gave "0 findings" or "nothing imported" with exit 0, and a
//! panic on a closed pipe. Each is now read, or an error that says what is wrong (exit 2).

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{Server, bin, record};
use serde_json::{Value, json};

fn gzip(b: &[u8]) -> Vec<u8> {
    common::gzip(b)
}

/// A CloudTrail file: an envelope holding one StopLogging call (a finding) and one other call.
fn trail_file(n: usize) -> Vec<u8> {
    let mut stop = record(&format!("stop-{n}"), "StopLogging", "2026-11-28T10:00:00Z");
    stop["eventSource"] = json!("cloudtrail.amazonaws.com");
    stop["requestParameters"] = json!({"name": format!("trail-{n}")});
    let other = record(&format!("other-{n}"), "ListUsers", "2026-11-28T10:00:01Z");
    serde_json::to_vec(&json!({"Records": [stop, other]})).unwrap()
}

fn run(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut c = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn hunt_reads_concatenated_files_on_standard_input() {
    // As `zcat a.json.gz b.json.gz | mamori guard hunt -` sends them: documents back to back.
    let mut plain = trail_file(1);
    plain.extend(trail_file(2));
    // As `cat a.json.gz b.json.gz | …` sends them: gzip members back to back.
    let mut members = gzip(&trail_file(1));
    members.extend(gzip(&trail_file(2)));
    for (what, input) in [("zcat", plain), ("cat", members)] {
        let (code, _, err) = run(&["guard", "hunt", "-", "--format", "table"], &input);
        assert!(
            err.contains("4 records (0 not CloudTrail records)"),
            "{what}: {err}"
        );
        assert_eq!(code, Some(1), "{what}: findings exit 1: {err}");
    }
}

#[test]
fn hunting_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, br#"{"hello":"world"}"#).unwrap();
    let (code, _, err) = run(&["guard", "hunt", other.to_str().unwrap()], b"");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no CloudTrail, VPC flow log or DNS query log records"),
        "{err}"
    );
    let good = dir.path().join("good.json");
    std::fs::write(&good, trail_file(1)).unwrap();
    let (code, _, err) = run(
        &[
            "guard",
            "hunt",
            good.to_str().unwrap(),
            "--rules",
            "/nonexistent",
        ],
        b"",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--rules /nonexistent"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = run(&["guard", "hunt", empty.to_str().unwrap()], b"");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no log files found"), "{err}");
}

#[test]
fn import_says_what_it_did_not_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let d = data.to_str().unwrap();
    let (code, _, err) = run(
        &["trail", "import", empty.to_str().unwrap(), "--data-dir", d],
        b"",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no CloudTrail log files to import"), "{err}");
    // NDJSON exports are read; other files are named as skipped.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let lines = [
        record("j-1", "CreateUser", "2026-11-28T10:00:00Z"),
        record("j-2", "CreateUser", "2026-11-28T10:00:01Z"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    std::fs::write(logs.join("export.jsonl"), lines).unwrap();
    std::fs::write(logs.join("notes.txt"), "hi").unwrap();
    std::fs::write(logs.join("other.json"), br#"{"hello":"world"}"#).unwrap();
    let (code, out, err) = run(
        &["trail", "import", logs.to_str().unwrap(), "--data-dir", d],
        b"",
    );
    assert!(
        out.contains("export.jsonl") && out.contains("2 accepted"),
        "{out}{err}"
    );
    assert!(
        err.contains("skipped 1 file") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(
        err.contains("not a CloudTrail record"),
        "a JSON file that is not CloudTrail is named as such: {err}"
    );
    assert_eq!(code, Some(1), "something was rejected: {out}{err}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let s = Server::start();
    let events: Vec<Value> = (0..3000)
        .map(|i| record(&format!("p-{i}"), "CreateUser", "2026-11-28T10:00:00Z"))
        .collect();
    let (st, v) = s.post("/v1/trail/events", &s.key, Value::Array(events).to_string());
    assert_eq!(st, 200, "{v}");
    let mut c = Command::new(bin())
        .args(["trail", "lookup", "--all", "--format", "json"])
        .env("MAMORI_ENDPOINT", &s.url)
        .env("MAMORI_KEY", &s.key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -c 100`: read a little, then close the pipe.
    let mut first = [0u8; 100];
    c.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(c.stdout.take());
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = c.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");
}

#[test]
fn suppression_rules_that_would_hide_findings_by_mistake_are_refused() {
    let s = Server::start();
    // A guard filter on a field that does not exist, with NotEquals: it held for every finding.
    let (st, v) = s.post(
        "/v1/guard/filters",
        &s.key,
        json!({"name": "typo", "action": "ARCHIVE",
            "criteria": {"typo.field": {"NotEquals": ["x"]}}})
        .to_string(),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("typo.field"),
        "{v}"
    );
    let (st, v) = s.post(
        "/v1/guard/filters",
        &s.key,
        json!({"name": "scanner", "action": "ARCHIVE",
            "criteria": {"resource.accessKeyDetails.userName": {"Equals": ["scanner"]}}})
        .to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["matchingFindings"], 0, "{v}");
    // An inspect filter with no criteria suppresses everything: only when said so.
    let (st, v) = s.post(
        "/v1/inspect/filters",
        &s.key,
        json!({"name": "all", "action": "SUPPRESS", "filterCriteria": {}}).to_string(),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("matchAll"),
        "{v}"
    );
    let (st, v) = s.post(
        "/v1/inspect/filters",
        &s.key,
        json!({"name": "all", "action": "SUPPRESS", "filterCriteria": {}, "matchAll": true})
            .to_string(),
    );
    assert_eq!(st, 200, "{v}");
    // A misspelt severity matches nothing (or, with NOT_EQUALS, everything): refused.
    let (st, v) = s.post(
        "/v1/inspect/filters",
        &s.key,
        json!({"name": "hgh", "action": "SUPPRESS",
            "filterCriteria": {"severity": [{"comparison": "EQUALS", "value": "Hgh"}]}})
        .to_string(),
    );
    assert_eq!(st, 400, "{v}");
    let (code, out) = s.cli(&["inspect", "filters", "create", "x", "--severity", "Hgh"]);
    assert_eq!(code, Some(2), "{out}");
}

#[test]
fn own_events_are_recorded_in_the_configured_region() {
    let s = Server::start_with("[trail]\nretention_days = 0\nregion = \"eu-central-1\"\n");
    s.create_account("team-a");
    let events = s.all_events(&s.key, "&EventSource=mamori.org");
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["awsRegion"], "eu-central-1", "{e}");
    }
}

#[test]
fn the_readme_s_spellings_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here: a command that parses gets as far as the network (exit 3).
    let run_offline = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .env("MAMORI_ENDPOINT", "http://127.0.0.1:9")
            .env("MAMORI_KEY", "MKTEST.TEST")
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };
    for args in [
        &["guard", "findings", "list", "--min-severity", "high"][..],
        &["guard", "findings", "list", "--min-severity", "7.5"],
        &["guard", "findings", "feedback", "id-1", "NOT_USEFUL"],
        &["guard", "findings", "feedback", "id-1", "not-useful"],
        &["trail", "lookup", "--start", "-7d"],
        &[
            "guard",
            "publish",
            "https://hooks.example/mamori",
            "--secret",
            "s",
        ],
    ] {
        let o = run_offline(args);
        assert_eq!(
            o.status.code(),
            Some(3),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for args in [
        &["guard", "findings", "list", "--min-severity", "hgh"][..],
        &["guard", "findings", "list", "--min-severity", "11"],
        &["trail", "lookup", "--account", "12345"],
    ] {
        let o = run_offline(args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = run_offline(&["trail", "lookup", "--account", "12345"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--account"),
        "the error names the flag"
    );
    // A scan of a path that is not there is an input error (exit 2), not a runtime failure.
    let db = dir.path().join("adv.db");
    let osv = dir.path().join("osv");
    std::fs::create_dir(&osv).unwrap();
    std::fs::write(
        osv.join("A-1.json"),
        json!({"id": "A-1", "modified": "2026-01-01T00:00:00Z", "affected": []}).to_string(),
    )
    .unwrap();
    let o = run_offline(&[
        "inspect",
        "db",
        "import",
        "--db",
        db.to_str().unwrap(),
        osv.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_offline(&[
        "inspect",
        "scan",
        "/nonexistent/path",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
