//! The hostile-tenant suite: what an admin of any account may send to make the server write,
//! call or hold what it should not. Each case was accepted once; each now gets a 4xx with the
//! JSON error shape, and nothing is written or called.

mod common;

use common::Server;
use serde_json::{Value, json};

fn put(s: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    common::status_json(
        s.req(reqwest::Method::PUT, path, Some(key))
            .body(body.to_string())
            .send()
            .unwrap(),
    )
}

fn assert_json_error(st: u16, v: &Value, want: u16, what: &str) {
    assert_eq!(st, want, "{what}: {v}");
    assert!(
        v["error"]["message"].is_string() && v["error"]["code"].is_string(),
        "{what}: the JSON error shape: {v}"
    );
}

#[test]
fn trail_destinations_outside_the_accounts_folder_are_refused() {
    let s = Server::start();
    let member = s.create_account("tenant");
    let member_key = s.create_key(&s.key, Some(&member), "tenant-admin", "admin");
    // The other account's folder, written as an absolute path.
    let theirs = s.dest_dir("x");
    let theirs = theirs.to_str().unwrap();
    let link_home = s.data_dir().join("destinations").join(&member);
    std::fs::create_dir_all(&link_home).unwrap();
    std::os::unix::fs::symlink("/etc", link_home.join("escape")).unwrap();
    let hostile = [
        "/etc",
        "../../etc",
        "/proc/self",
        "file:///",
        "file:///etc",
        "ftp://x/y",
        "\\\\server\\share",
        "escape",
        "escape/deeper",
        "a/../../..",
        theirs,
    ];
    for (i, d) in hostile.iter().enumerate() {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": format!("t{i}-x"), "destination": d}).to_string(),
        );
        assert_json_error(st, &v, 400, d);
        assert!(
            v["error"]["message"].as_str().unwrap().contains("refused"),
            "{d}: {v}"
        );
    }
    assert!(
        !std::path::Path::new("ftp:").exists(),
        "no folder named after a scheme"
    );
    // A folder name is kept in the account's own folder.
    let (st, v) = s.post(
        "/v1/trail/trails",
        &member_key,
        json!({"name": "mine", "destination": "trails/mine"}).to_string(),
    );
    assert_eq!(st, 201, "{v}");
    // Key prefixes and names with control characters are refused on create, not at delivery.
    for kp in ["a\u{0}b", "../x", "a\\b"] {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": "kp-trail", "destination": "kp", "keyPrefix": kp}).to_string(),
        );
        assert_json_error(st, &v, 400, kp);
    }
}

#[test]
fn two_accounts_may_not_share_an_s3_prefix() {
    let s = Server::start_with(
        "[server]\ns3_destinations = [\"shared-bucket\"]\n\n[trail]\nretention_days = 0\n",
    );
    let member = s.create_account("tenant");
    let member_key = s.create_key(&s.key, Some(&member), "tenant-admin", "admin");
    let (st, v) = s.post(
        "/v1/trail/trails",
        &s.key,
        json!({"name": "main", "destination": "s3://shared-bucket/audit"}).to_string(),
    );
    assert_eq!(st, 201, "{v}");
    for (dest, kp) in [
        ("s3://shared-bucket/audit", ""),
        ("s3://shared-bucket", "audit"),
        ("s3://shared-bucket", ""),
        ("s3://shared-bucket/audit/deeper", ""),
    ] {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": "theirs", "destination": dest, "keyPrefix": kp}).to_string(),
        );
        assert_json_error(st, &v, 409, dest);
    }
    let (st, v) = s.post(
        "/v1/trail/trails",
        &member_key,
        json!({"name": "theirs", "destination": "s3://shared-bucket/tenant"}).to_string(),
    );
    assert_eq!(st, 201, "a prefix of its own: {v}");
    // Not by an update either.
    let (st, v) = common::status_json(
        s.req(
            reqwest::Method::PATCH,
            "/v1/trail/trails/theirs",
            Some(&member_key),
        )
        .body(json!({"destination": "s3://shared-bucket/audit"}).to_string())
        .send()
        .unwrap(),
    );
    assert_json_error(st, &v, 409, "update");
}

#[test]
fn publishing_targets_are_confined() {
    let s = Server::start();
    for url in mamori_dest::outbound::EXAMPLES_REFUSED
        .iter()
        .chain(&["http://user:pass@example.com/hook", "ftp://example.com/x"])
    {
        let (st, v) = put(
            &s,
            "/v1/guard/publishing",
            &s.key,
            json!({"webhookUrl": url, "secret": "0123456789abcdef0123"}),
        );
        assert_json_error(st, &v, 400, url);
    }
    for d in [
        "/etc",
        "../../etc",
        "ftp://x/y",
        "file:///",
        "s3://any-bucket/x",
    ] {
        let (st, v) = put(
            &s,
            "/v1/guard/publishing",
            &s.key,
            json!({ "destination": d }),
        );
        assert_json_error(st, &v, 400, d);
    }
    let (st, v) = put(
        &s,
        "/v1/guard/publishing",
        &s.key,
        json!({ "destination": "findings" }),
    );
    assert_eq!(st, 200, "{v}");
}

#[test]
fn private_webhooks_are_called_when_the_operator_allows_them() {
    let s = Server::start_with(
        "[server]\nallow_private_webhooks = true\n\n[trail]\nretention_days = 0\n",
    );
    let (st, v) = put(
        &s,
        "/v1/guard/publishing",
        &s.key,
        json!({"webhookUrl": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef0123"}),
    );
    assert_eq!(st, 200, "{v}");
}
