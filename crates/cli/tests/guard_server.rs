//! Detection on a real server: events in over HTTP → findings in the API → delivered to a
//! webhook receiver run by the test (HMAC-signed); a disabled account gets nothing; a restart
//! neither loses nor repeats work.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, record};
use serde_json::{Value, json};

/// (headers, body) of each request a receiver got.
type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A webhook receiver: records (headers, body) of every POST, answers 200.
fn receiver() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got: Received = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push(line.trim().to_string());
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            g.lock()
                .unwrap()
                .push((headers, String::from_utf8_lossy(&body).into_owned()));
            let mut s = s;
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ev(id: &str, name: &str, source: &str, ip: &str) -> Value {
    let mut r = record(id, name, "2026-11-28T10:00:00Z");
    r["eventSource"] = json!(source);
    r["sourceIPAddress"] = json!(ip);
    r["readOnly"] = json!(false);
    r
}

fn findings(s: &Server, key: &str) -> Vec<Value> {
    let (st, v) = s.get("/v1/guard/findings", key);
    assert_eq!(st, 200, "{v}");
    v["findings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn events_to_findings_to_webhook() {
    // The webhook listens on loopback: the operator allows private targets for this server.
    let mut s = Server::start_with(
        "[server]\nallow_private_webhooks = true\n\n[trail]\nretention_days = 0\n",
    );
    let (url, got) = receiver();
    let secret = "a-webhook-secret-of-some-length";
    let (st, v) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .req(reqwest::Method::PUT, "/v1/guard/publishing", Some(&s.key))
        .json(&json!({"webhookUrl": url, "secret": secret}))
        .send()
        .map(common::status_json)
        .unwrap();
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.post(
        "/v1/guard/lists",
        &s.key,
        json!({"name": "feed", "kind": "THREAT", "content": "5.6.7.0/24\nnot-an-entry!\n"})
            .to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["entries"], 1);
    assert_eq!(v["skipped"], 1);

    // A member account without detection: its events find nothing.
    let member = s.create_account("quiet");
    let member_key = s.create_key(&s.key, Some(&member), "m", "writer");

    let body = json!([
        ev("g-1", "StopLogging", "cloudtrail.amazonaws.com", "8.8.8.8"),
        ev("g-2", "CreateUser", "iam.amazonaws.com", "5.6.7.9"),
        ev("g-3", "CreateUser", "iam.amazonaws.com", "5.6.7.9"),
    ]);
    let (st, _) = s.post("/v1/trail/events", &s.key, body.to_string());
    assert_eq!(st, 200);
    let (st, _) = s.post(
        "/v1/trail/events",
        &member_key,
        json!([ev(
            "m-1",
            "StopLogging",
            "cloudtrail.amazonaws.com",
            "8.8.8.8"
        )])
        .to_string(),
    );
    assert_eq!(st, 200);

    let f = wait_for("two findings", || {
        let f = findings(&s, &s.key);
        (f.len() >= 2).then_some(f)
    });
    let kinds: Vec<&str> = f.iter().map(|x| x["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "{kinds:?}"
    );
    let mal = f
        .iter()
        .find(|x| x["type"] == "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom")
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert_eq!(mal["service"]["count"], 2);
    assert_eq!(
        mal["service"]["additionalInfo"]["eventIds"],
        json!(["g-2", "g-3"])
    );
    assert_eq!(mal["accountId"].as_str().unwrap().len(), 12);
    assert!(
        findings(&s, &member_key).is_empty(),
        "detection is off for the member"
    );

    // Delivered to the webhook, signed.
    let deliveries = wait_for("webhook deliveries", || {
        let g = got.lock().unwrap();
        (g.len() >= 2).then(|| g.clone())
    });
    for (headers, body) in &deliveries {
        let sig = headers
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("x-mamori-signature: sha256=")
                    .map(String::from)
            })
            .expect("signed");
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        assert_eq!(
            sig,
            hex::encode(mac.finalize().into_bytes()),
            "a valid HMAC"
        );
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["schemaVersion"], "2.0");
    }

    // Archive, get, stats.
    let id = mal["id"].as_str().unwrap();
    let (st, _) = s.post(
        &format!("/v1/guard/findings/{id}/archive"),
        &s.key,
        String::new(),
    );
    assert_eq!(st, 204);
    let (_, one) = s.get(&format!("/v1/guard/findings/{id}"), &s.key);
    assert_eq!(one["service"]["archived"], true);
    let (st, _) = s.post(
        &format!("/v1/guard/findings/{id}/feedback"),
        &s.key,
        json!({"feedback": "NOT_USEFUL", "comments": "our scanner"}).to_string(),
    );
    assert_eq!(st, 204);
    let (_, one) = s.get(&format!("/v1/guard/findings/{id}"), &s.key);
    assert_eq!(one["service"]["userFeedback"], "NOT_USEFUL");
    let (st, _) = s.post(
        &format!("/v1/guard/findings/{id}/feedback"),
        &s.key,
        json!({"feedback": "MAYBE"}).to_string(),
    );
    assert_eq!(st, 400);
    let (_, stats) = s.get("/v1/guard/stats", &s.key);
    assert_eq!(
        stats["activeByType"].as_array().unwrap().len(),
        1,
        "{stats}"
    );

    // Flow and DNS logs through `mamori guard import`: detected, not kept; bad lines named.
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows.log");
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for i in 0..25 {
        text.push_str(&format!(
            "2 111122223333 eni-1 45.1.2.3 10.0.0.5 {} 22 6 1 60 {} {} REJECT OK\n",
            40000 + i,
            1000 + i,
            1060 + i
        ));
    }
    text.push_str("2 111122223333 eni-1 garbage\n");
    std::fs::write(&flows, text).unwrap();
    let dns = tmp.path().join("dns.jsonl");
    std::fs::write(&dns, json!({"query_timestamp": "2026-11-28T10:00:00Z", "query_name": "c2.mamori-test.invalid.", "srcaddr": "10.0.0.5", "srcids": {"instance": "i-0abc"}, "account_id": "111122223333", "region": "us-east-1"}).to_string() + "\n").unwrap();
    let run = |args: &[&str]| s.cli(args);
    let (code, out) = run(&[
        "guard",
        "import",
        "--source",
        "vpcflow",
        flows.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "a rejected line exits 1: {out}");
    assert!(
        out.contains("25 records") && out.contains("1 lines rejected") && out.contains("line 27"),
        "{out}"
    );
    let (code, out) = run(&["guard", "import", "--source", "dns", dns.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let kinds: Vec<String> = findings(&s, &s.key)
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"UnauthorizedAccess:EC2/SSHBruteForce".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"Backdoor:EC2/C&CActivity.B!DNS".to_string()),
        "{kinds:?}"
    );
    let (st, v) = s.post(
        "/v1/guard/sources/vpcflow",
        &member_key,
        "2 1 eni-1 1.2.3.4 10.0.0.1 1 22 6 1 1 1 2 ACCEPT OK".to_string(),
    );
    assert_eq!(st, 400, "detection off for the member: {v}");

    // A suppression rule archives new matching findings (and they are not published); OCSF out.
    let (code, out) = run(&[
        "guard",
        "filters",
        "create",
        "quiet-root",
        "--criteria",
        r#"{"type":{"Matches":["Policy:IAMUser/Root*"]}}"#,
    ]);
    assert_eq!(code, Some(0), "{out}");
    let mut root = ev("g-root", "ListUsers", "iam.amazonaws.com", "8.8.8.8");
    root["userIdentity"] =
        json!({"type": "Root", "principalId": "111122223333", "accountId": "111122223333"});
    let (st, _) = s.post("/v1/trail/events", &s.key, json!([root]).to_string());
    assert_eq!(st, 200);
    let archived = wait_for("the archived root finding", || {
        findings(&s, &s.key)
            .into_iter()
            .find(|f| f["type"] == "Policy:IAMUser/RootCredentialUsage")
    });
    assert_eq!(archived["service"]["archived"], true, "{archived}");
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|(_, b)| b.contains("RootCredentialUsage")),
        "an archived finding is not published"
    );
    let (_, ocsf) = s.get("/v1/guard/findings?format=ocsf", &s.key);
    let o = &ocsf["findings"][0];
    assert_eq!(o["class_uid"], 2004, "{ocsf}");
    assert!(o["finding_info"]["types"][0].is_string());

    // SIGKILL and restart: the cursor holds — nothing is counted twice.
    s.kill9();
    s.restart();
    let (st, _) = s.post(
        "/v1/trail/events",
        &s.key,
        json!([ev("g-4", "CreateUser", "iam.amazonaws.com", "5.6.7.9")]).to_string(),
    );
    assert_eq!(st, 200);
    let count = wait_for("the third occurrence", || {
        let (_, one) = s.get(&format!("/v1/guard/findings/{id}"), &s.key);
        let c = one["service"]["count"].as_u64().unwrap_or(0);
        (c >= 3).then_some(c)
    });
    std::thread::sleep(Duration::from_millis(800));
    let (_, one) = s.get(&format!("/v1/guard/findings/{id}"), &s.key);
    assert_eq!(one["service"]["count"].as_u64(), Some(count));
    assert_eq!(count, 3, "no event repeated after the restart");
}

#[test]
fn sigma_rules_from_the_config_run_on_the_server() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("iam.yml"),
        "title: Access key created\nid: 44444444-4444-4444-4444-444444444444\nauthor: mamori tests\nlicense: MIT\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventSource: iam.amazonaws.com\n    eventName: CreateAccessKey\n  condition: selection\nlevel: medium\n",
    )
    .unwrap();
    let config = format!(
        "[trail]\nretention_days = 0\n\n[guard]\nsigma_rules = [{:?}]\n",
        rules.path().display().to_string()
    );
    let s = Server::start_with(&config);
    let (st, _) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true}).to_string(),
    );
    assert_eq!(st, 200);
    let (st, _) = s.post(
        "/v1/trail/events",
        &s.key,
        json!([ev(
            "k-1",
            "CreateAccessKey",
            "iam.amazonaws.com",
            "10.0.0.1"
        )])
        .to_string(),
    );
    assert_eq!(st, 200);
    let f = wait_for("the Sigma finding", || {
        findings(&s, &s.key)
            .into_iter()
            .find(|f| f["type"] == "Sigma:aws.cloudtrail/Access key created")
    });
    assert_eq!(f["severity"], 5.0);
    let sigma = &f["service"]["evidence"]["sigma"];
    assert_eq!(sigma["ruleId"], "44444444-4444-4444-4444-444444444444");
    assert_eq!(sigma["author"], "mamori tests");
    assert_eq!(sigma["license"], "MIT");
}

#[test]
fn findings_and_their_updates_are_published_to_a_directory() {
    let s =
        Server::start_with("[trail]\nretention_days = 0\n\n[guard]\npublish_updates_minutes = 0\n");
    let out = s.dest_dir("published");
    let (st, _) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true}).to_string(),
    );
    assert_eq!(st, 200);
    let o = std::process::Command::new(common::bin())
        .args(["guard", "publish", "--destination", out.to_str().unwrap()])
        .env("MAMORI_ENDPOINT", &s.url)
        .env("MAMORI_KEY", &s.key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = |out: &std::path::Path| -> Vec<Value> {
        let mut v = Vec::new();
        let mut stack = vec![out.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().contains("/GuardDuty/") {
                    v.push(serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap());
                }
            }
        }
        v
    };
    let (st, _) = s.post(
        "/v1/trail/events",
        &s.key,
        json!([ev("p-1", "CreateUser", "iam.amazonaws.com", "203.0.113.7")]).to_string(),
    );
    assert_eq!(st, 200);
    let first = wait_for("the published finding", || {
        let f = files(&out);
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(first[0]["service"]["count"], 1);
    assert_eq!(
        first[0]["type"], "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "the canary address"
    );
    let (st, _) = s.post(
        "/v1/trail/events",
        &s.key,
        json!([ev("p-2", "CreateUser", "iam.amazonaws.com", "203.0.113.7")]).to_string(),
    );
    assert_eq!(st, 200);
    let updated = wait_for("the published update", || {
        files(&out).into_iter().find(|f| f["service"]["count"] == 2)
    });
    assert_eq!(updated["id"], first[0]["id"]);
}

/// The management account reads every account's findings with `scope=organization` (as
/// GuardDuty's administrator account sees its members'); a member cannot, and without the
/// scope each account sees only its own.
#[test]
fn the_management_account_sees_every_accounts_findings() {
    let s = Server::start();
    let member = s.create_account("workloads");
    let member_key = s.create_key(&s.key, Some(&member), "m", "admin");
    let (st, v) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true, "allMembers": true}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    let stop = |id: &str| json!([ev(id, "StopLogging", "cloudtrail.amazonaws.com", "8.8.8.8")]);
    let (st, _) = s.post("/v1/trail/events", &s.key, stop("o-1").to_string());
    assert_eq!(st, 200);
    let (st, _) = s.post("/v1/trail/events", &member_key, stop("o-2").to_string());
    assert_eq!(st, 200);

    let org = |key: &str| s.get("/v1/guard/findings?scope=organization", key);
    let all = wait_for("both accounts' findings", || {
        let (st, v) = org(&s.key);
        assert_eq!(st, 200, "{v}");
        let f = v["findings"].as_array().cloned().unwrap_or_default();
        (f.len() == 2).then_some(f)
    });
    let mut accounts: Vec<&str> = all
        .iter()
        .map(|f| f["accountId"].as_str().unwrap())
        .collect();
    accounts.sort();
    accounts.dedup();
    assert_eq!(accounts.len(), 2, "{all:?}");
    assert!(accounts.contains(&member.as_str()), "{accounts:?}");

    // Each account alone sees its own.
    assert_eq!(findings(&s, &s.key).len(), 1);
    let own = findings(&s, &member_key);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["accountId"], member.as_str());

    // A member finding read by id through the organization scope, not without it.
    let id = own[0]["id"].as_str().unwrap();
    let (st, v) = s.get(
        &format!("/v1/guard/findings/{id}?scope=organization"),
        &s.key,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accountId"], member.as_str());
    let (st, _) = s.get(&format!("/v1/guard/findings/{id}"), &s.key);
    assert_eq!(st, 404, "not the management account's own finding");

    // Stats across the organization, by account.
    let (st, v) = s.get("/v1/guard/stats?scope=organization", &s.key);
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["activeByAccount"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );

    // A member — even its admin — cannot widen its view; an unknown scope is a clear error.
    let (st, v) = org(&member_key);
    assert_eq!(st, 403, "{v}");
    assert!(v.to_string().contains("management account"), "{v}");
    let (st, v) = s.get("/v1/guard/findings?scope=everything", &s.key);
    assert_eq!(st, 400, "{v}");

    // The CLI: --all-accounts adds an ACCOUNT column.
    let (code, out) = s.cli(&["guard", "findings", "list", "--all-accounts"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ACCOUNT") && out.contains(&member), "{out}");
}

/// A retro-hunt runs today's detectors over events stored before detection was on: findings
/// dated when the activity happened and marked, nothing older than `--since`, the live cursor
/// untouched; a reader cannot start one; the progress of another account's hunt is not found.
#[test]
fn retrohunt_finds_what_happened_before_detection_was_on() {
    let s = Server::start_with("[trail]\nretention_days = 0\n");
    let day = |days_ago: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let (two_days, forty_days) = (day(2), day(40));
    let mut stop = record("old-stop", "StopLogging", &two_days);
    stop["eventSource"] = json!("cloudtrail.amazonaws.com");
    stop["requestParameters"] = json!({"name": "main"});
    let mut leave = record("ancient-leave", "LeaveOrganization", &forty_days);
    leave["eventSource"] = json!("organizations.amazonaws.com");
    let (st, v) = s.post("/v1/trail/events", &s.key, json!([stop, leave]).to_string());
    assert_eq!(st, 200, "{v}");
    // Detection looks at each event once, as it arrives (every 50 ms when idle): these pass it
    // while the account's detection is off.
    std::thread::sleep(Duration::from_millis(1000));
    let (st, _) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true}).to_string(),
    );
    assert_eq!(st, 200);
    // Detection covers what arrives from now on: the stored events raise nothing by themselves.
    std::thread::sleep(Duration::from_millis(500));
    assert!(findings(&s, &s.key).is_empty());

    let reader = s.create_key(&s.key, None, "r", "reader");
    let (st, _) = s.post(
        "/v1/guard/retrohunts",
        &reader,
        json!({"since": "-30d"}).to_string(),
    );
    assert_eq!(st, 403, "a reader cannot start a retro-hunt");
    let (st, v) = s.post(
        "/v1/guard/retrohunts",
        &s.key,
        json!({"since": "yesterday-ish"}).to_string(),
    );
    assert_eq!(st, 400, "{v}");

    let (code, out) = s.cli(&["guard", "retrohunt", "--since", "30d"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("new findings"), "{out}");
    let f = findings(&s, &s.key);
    let kinds: Vec<&str> = f.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert!(
        !kinds.contains(&"DefenseEvasion:Organizations/LeaveOrganization"),
        "older than --since: not hunted: {kinds:?}"
    );
    let stop = f
        .iter()
        .find(|f| f["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled")
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert_eq!(
        stop["service"]["eventFirstSeen"],
        json!(two_days),
        "dated when it happened"
    );
    assert_eq!(stop["service"]["additionalInfo"]["retroHunt"], true);
    let id = stop["service"]["additionalInfo"]["retroHuntId"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, p) = s.get(&format!("/v1/guard/retrohunts/{id}"), &s.key);
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["status"], "COMPLETED");
    assert!(
        p["eventsScanned"].as_u64() > p["eventsHunted"].as_u64(),
        "{p}"
    );
    let other = s.create_account("other");
    let other_key = s.create_key(&s.key, Some(&other), "o", "admin");
    let (st, _) = s.get(&format!("/v1/guard/retrohunts/{id}"), &other_key);
    assert_eq!(st, 404, "another account's retro-hunt is not found");
    // A new rule over the old events: sent with the hunt, it finds what it says.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("stop.yml"),
        "title: Trail stopped by alice\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: StopLogging\n    userIdentity.userName: alice\n  condition: sel\nlevel: high\n",
    )
    .unwrap();
    let (code, out) = s.cli(&[
        "guard",
        "retrohunt",
        "--since",
        "30d",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let f = findings(&s, &s.key);
    let sigma = f
        .iter()
        .find(|f| f["type"].as_str().unwrap().starts_with("Sigma:"))
        .unwrap_or_else(|| panic!("{f:?}"));
    assert_eq!(sigma["service"]["eventFirstSeen"], json!(two_days));
    let again = f
        .iter()
        .find(|f| f["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled")
        .unwrap();
    assert_eq!(
        again["service"]["count"], 1,
        "a second hunt over the same events does not count them again"
    );
    let (st, v) = s.post(
        "/v1/guard/retrohunts",
        &s.key,
        json!({"since": "-1d", "rules": ["title: [unclosed"]}).to_string(),
    );
    assert_eq!(st, 400, "a rule that does not parse: {v}");
    assert!(v.to_string().contains("rules[0]"), "{v}");

    // The live cursor did not move back: a new event is detected once.
    let mut again = record("new-stop", "StopLogging", &day(0));
    again["eventSource"] = json!("cloudtrail.amazonaws.com");
    again["requestParameters"] = json!({"name": "main"});
    let (st, _) = s.post("/v1/trail/events", &s.key, json!([again]).to_string());
    assert_eq!(st, 200);
    wait_for("the live finding", || {
        findings(&s, &s.key)
            .iter()
            .any(|f| {
                f["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled"
                    && f["service"]["count"] == 2
            })
            .then_some(())
    });
}
