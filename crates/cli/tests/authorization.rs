//! The authorization matrix: every endpoint, called with a key of another account (or none, or
//! a revoked one, or too weak a role), is refused and returns none of the other account's data.

mod common;

use common::{Server, record};
use reqwest::Method;
use serde_json::json;

struct Case {
    method: Method,
    path: String,
    body: Option<String>,
}

#[test]
fn no_key_can_reach_another_accounts_data() {
    let s = Server::start();
    let mgmt = s.key.clone();
    let mgmt_id = s.get("/v1/org/whoami", &mgmt).1["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    let member_id = s.create_account("team-a");
    let member_admin = s.create_key(&mgmt, Some(&member_id), "team-a-admin", "admin");
    let other_id = s.create_account("team-b");
    let other_admin = s.create_key(&mgmt, Some(&other_id), "team-b-admin", "admin");
    let mgmt_reader = s.create_key(&mgmt, None, "ro", "reader");

    // Data in the management account and in team-a.
    s.post(
        "/v1/trail/events",
        &mgmt,
        json!([record("secret-mgmt", "CreateRole", "2026-11-01T00:00:00Z")]).to_string(),
    );
    s.post(
        "/v1/trail/events",
        &member_admin,
        json!([record("secret-a", "CreateRole", "2026-11-01T00:00:00Z")]).to_string(),
    );
    let (_, ch) = s.post(
        "/v1/trail/channels",
        &mgmt,
        json!({"name": "app"}).to_string(),
    );
    let ch_id = ch["id"].as_str().unwrap().to_string();
    let mgmt_keys = s.get("/v1/org/keys", &mgmt).1;
    let mgmt_key_id = mgmt_keys["keys"][0]["keyId"].as_str().unwrap().to_string();

    let cases = vec![
        Case {
            method: Method::GET,
            path: "/v1/org/whoami".into(),
            body: None,
        },
        Case {
            method: Method::GET,
            path: "/v1/org/accounts".into(),
            body: None,
        },
        Case {
            method: Method::POST,
            path: "/v1/org/accounts".into(),
            body: Some(json!({"name": "x"}).to_string()),
        },
        Case {
            method: Method::GET,
            path: "/v1/org/keys".into(),
            body: None,
        },
        Case {
            method: Method::POST,
            path: "/v1/org/keys".into(),
            body: Some(json!({"name": "x", "role": "admin"}).to_string()),
        },
        Case {
            method: Method::DELETE,
            path: format!("/v1/org/keys/{mgmt_key_id}"),
            body: None,
        },
        Case {
            method: Method::GET,
            path: "/v1/trail/events?EventId=secret-mgmt".into(),
            body: None,
        },
        Case {
            method: Method::POST,
            path: "/v1/trail/events".into(),
            body: Some(json!([record("intruder", "X", "2026-11-01T00:00:00Z")]).to_string()),
        },
        Case {
            method: Method::GET,
            path: "/v1/trail/channels".into(),
            body: None,
        },
        Case {
            method: Method::POST,
            path: "/v1/trail/channels".into(),
            body: Some(json!({"name": "evil"}).to_string()),
        },
        Case {
            method: Method::GET,
            path: format!("/v1/trail/channels/{ch_id}"),
            body: None,
        },
        Case {
            method: Method::POST,
            path: format!("/v1/trail/channels/{ch_id}/events"),
            body: Some(json!({"auditEvents": []}).to_string()),
        },
    ];

    let send = |c: &Case, key: Option<&str>, account: Option<&str>| {
        let mut r = s.req(c.method.clone(), &c.path, key);
        if let Some(a) = account {
            r = r.header("x-mamori-account", a);
        }
        if let Some(b) = &c.body {
            r = r.body(b.clone());
        }
        common::status_json(r.send().unwrap())
    };

    for c in &cases {
        // No key, a malformed key, a forged key: 401.
        for key in [
            None,
            Some("nonsense"),
            Some(&format!("{}.{}", mgmt.split_once('.').unwrap().0, "A".repeat(43)) as &str),
        ] {
            let (st, v) = send(c, key, None);
            assert_eq!(st, 401, "{} {} with key {key:?}: {v}", c.method, c.path);
        }
        // A member's admin key naming the management account, or a sibling: 403.
        for target in [&mgmt_id, &other_id] {
            let (st, v) = send(c, Some(&member_admin), Some(target));
            assert_eq!(
                st, 403,
                "{} {} as member acting on {target}: {v}",
                c.method, c.path
            );
        }
        // A management reader may not act on a member.
        let (st, _) = send(c, Some(&mgmt_reader), Some(&member_id));
        assert_eq!(
            st, 403,
            "{} {} as management reader acting on member",
            c.method, c.path
        );
        // Another account's own key never sees or changes the management account's objects.
        let (st, v) = send(c, Some(&other_admin), None);
        let text = v.to_string();
        // (A key id the caller itself put in the path may be echoed back.)
        let key_id_leaked = !c.path.contains(&mgmt_key_id) && text.contains(&mgmt_key_id);
        assert!(
            !text.contains("secret-mgmt") && !text.contains("secret-a") && !key_id_leaked,
            "{} {} leaked: {text}",
            c.method,
            c.path
        );
        if c.path.contains(&ch_id) {
            assert_eq!(
                st, 404,
                "{} {}: another account's channel must not exist for team-b",
                c.method, c.path
            );
        }
        if c.path == "/v1/org/accounts" && c.method == Method::POST {
            assert_eq!(st, 403, "a member may not create accounts");
        }
        if c.path.starts_with("/v1/org/keys/") {
            assert_eq!(st, 404, "a member may not revoke the management key");
        }
    }

    // Role checks inside an account.
    let (st, _) = s.post(
        "/v1/trail/events",
        &mgmt_reader,
        json!([record("r1", "X", "2026-11-01T00:00:00Z")]).to_string(),
    );
    assert_eq!(st, 403, "a reader may not write");
    let (st, _) = s.post(
        "/v1/org/keys",
        &mgmt_reader,
        json!({"name": "x", "role": "admin"}).to_string(),
    );
    assert_eq!(st, 403, "a reader may not mint keys");

    // team-b wrote an "intruder" event into its own account only; the management account never saw it.
    let mgmt_ids: Vec<String> = s
        .all_events(&mgmt, "")
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect();
    assert!(mgmt_ids.contains(&"secret-mgmt".to_string()));
    assert!(
        !mgmt_ids.contains(&"intruder".to_string()) && !mgmt_ids.contains(&"secret-a".to_string()),
        "{mgmt_ids:?}"
    );
    // The management admin can read the member by naming it.
    let r = s
        .req(
            Method::GET,
            "/v1/trail/events?EventId=secret-a",
            Some(&mgmt),
        )
        .header("x-mamori-account", &member_id)
        .send()
        .unwrap();
    let (_, v) = common::status_json(r);
    assert_eq!(v["events"][0]["eventID"], "secret-a");
    // The management key is still valid (no one else could revoke it).
    assert_eq!(s.get("/v1/org/whoami", &mgmt).0, 200);

    // A revoked key stops working at once.
    let keys = s.get("/v1/org/keys", &mgmt).1;
    let ro_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ro")
        .unwrap()["keyId"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = common::status_json(
        s.req(
            Method::DELETE,
            &format!("/v1/org/keys/{ro_id}"),
            Some(&mgmt),
        )
        .send()
        .unwrap(),
    );
    assert_eq!(st, 200);
    let (st, v) = s.get("/v1/org/whoami", &mgmt_reader);
    assert_eq!(st, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"));
}
