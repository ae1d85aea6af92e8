//! The HTTP API, driven against a real server process.

mod common;

use common::{Server, gzip, record};
use serde_json::{Value, json};

#[test]
fn ingest_in_three_shapes_then_look_up_exact_records() {
    let s = Server::start();
    let k = s.key.clone();
    let array = json!([
        record("a1", "CreateRole", "2026-11-01T10:00:00Z"),
        record("a2", "DeleteRole", "2026-11-01T11:00:00Z")
    ])
    .to_string();
    let (st, v) = s.post("/v1/trail/events", &k, array);
    assert_eq!((st, v["accepted"].as_u64()), (200, Some(2)), "{v}");

    let envelope =
        json!({"Records": [record("b1", "CreateRole", "2026-11-02T10:00:00Z")]}).to_string();
    let (_, v) = s.post("/v1/trail/events", &k, envelope);
    assert_eq!(v["accepted"], 1);

    // NDJSON, gzip, with a duplicate of a1 and odd values kept as given.
    let odd = r#"{"eventVersion":"1.08","eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"ap-isob-east-1r","sourceIPAddress":"255.090.254.5","eventID":"c1","responseElements":null,"newField":{"x":[1,2.50]}}"#;
    let ndjson = format!(
        "{}\n{odd}\n",
        record("a1", "CreateRole", "2026-11-01T10:00:00Z")
    );
    let resp = s
        .req(reqwest::Method::POST, "/v1/trail/events", Some(&k))
        .header("content-encoding", "gzip")
        .body(gzip(ndjson.as_bytes()))
        .send()
        .unwrap();
    let (st, v) = common::status_json(resp);
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicate"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["results"][0]["status"], "duplicate");

    // Exact bytes come back.
    let resp = s
        .req(
            reqwest::Method::GET,
            "/v1/trail/events?EventId=c1",
            Some(&k),
        )
        .send()
        .unwrap();
    let text = resp.text().unwrap();
    assert!(
        text.contains(odd),
        "record not returned byte for byte: {text}"
    );

    // Several attributes AND-ed, newest first, time window.
    let (_, v) = s.get("/v1/trail/events?EventName=CreateRole&Username=alice", &k);
    let ids = common::event_ids(&v);
    assert_eq!(ids, ["b1", "a1"]);
    let (_, v) = s.get("/v1/trail/events?EventName=CreateRole&startTime=2026-11-01T00:00:00Z&endTime=2026-11-01T23:59:59Z", &k);
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let (_, v) = s.get("/v1/trail/events?ResourceType=AWS::IAM::Role", &k);
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
    let (_, v) = s.get(
        "/v1/trail/events?ReadOnly=false&AccessKeyId=AKIAEXAMPLE",
        &k,
    );
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    let (st, v) = s.get("/v1/trail/events?Colour=blue", &k);
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown lookup attribute")
    );
}

#[test]
fn next_token_survives_new_events_and_is_bound_to_its_filters() {
    let s = Server::start();
    let k = s.key.clone();
    let batch: Vec<Value> = (0..120)
        .map(|i| {
            record(
                &format!("p{i:03}"),
                "ListRoles",
                &format!("2026-11-05T10:{:02}:{:02}Z", i / 60, i % 60),
            )
        })
        .collect();
    s.post("/v1/trail/events", &k, Value::Array(batch).to_string());
    let (_, first) = s.get("/v1/trail/events?EventName=ListRoles&maxResults=50", &k);
    let token = first["nextToken"].as_str().unwrap().to_string();
    // New events arrive between pages.
    let newer: Vec<Value> = (0..5)
        .map(|i| record(&format!("n{i}"), "ListRoles", "2026-11-06T00:00:00Z"))
        .collect();
    s.post("/v1/trail/events", &k, Value::Array(newer).to_string());
    let mut seen: Vec<String> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect();
    let mut t = Some(token.clone());
    while let Some(tok) = t {
        let (st, v) = s.get(
            &format!("/v1/trail/events?EventName=ListRoles&maxResults=50&nextToken={tok}"),
            &k,
        );
        assert_eq!(st, 200, "{v}");
        seen.extend(
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventID"].as_str().unwrap().to_string()),
        );
        t = v["nextToken"].as_str().map(str::to_string);
    }
    let expected: Vec<String> = (0..120).rev().map(|i| format!("p{i:03}")).collect();
    assert_eq!(seen, expected);
    let (st, v) = s.get(
        &format!("/v1/trail/events?EventName=DeleteRole&nextToken={token}"),
        &k,
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different filters")
    );
    for bad in [
        "maxResults=0",
        "maxResults=1001",
        "startTime=yesterday",
        "startTime=2026-11-02T00:00:00Z&endTime=2026-11-01T00:00:00Z",
    ] {
        let (st, _) = s.get(&format!("/v1/trail/events?{bad}"), &k);
        assert_eq!(st, 400, "{bad}");
    }
}

#[test]
fn bad_input_is_refused_clearly_and_nothing_is_half_stored() {
    let s = Server::start_with(
        "[trail]\nretention_days = 0\nmax_batch_events = 10\nmax_event_bytes = 2000\n",
    );
    let k = s.key.clone();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed",
            b"[{\"eventID\":\"m1\"},\n {\"eventName\": }]".to_vec(),
            400,
            "line 2, column 16",
        ),
        ("empty", Vec::new(), 400, "empty"),
        ("scalar", b"42".to_vec(), 400, "expected a JSON array"),
        (
            "invalid utf-8",
            b"[{\"eventName\":\"\xff\xfe\"}]".to_vec(),
            400,
            "line 1",
        ),
        ("bogus gzip", vec![0x1f, 0x8b, 8, 0, 1, 2, 3], 400, "gzip"),
        (
            "truncated gzip",
            gzip(
                json!([record("t1", "X", "2026-11-01T00:00:00Z")])
                    .to_string()
                    .as_bytes(),
            )[..30]
                .to_vec(),
            400,
            "gzip",
        ),
        (
            "too many",
            Value::Array(
                (0..11)
                    .map(|i| record(&format!("x{i}"), "X", "2026-11-01T00:00:00Z"))
                    .collect(),
            )
            .to_string()
            .into_bytes(),
            413,
            "limit is 10",
        ),
    ];
    for (name, body, status, needle) in cases {
        let (st, v) = s.post("/v1/trail/events", &k, body);
        assert_eq!(st, status, "{name}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
    }
    // A gzip bomb stops at the body cap.
    let s2 = Server::start_with("[trail]\nretention_days = 0\nmax_body_bytes = 100000\n");
    let bomb = gzip(&vec![b' '; 10_000_000]);
    let (st, v) = s2.post("/v1/trail/events", &s2.key, bomb);
    assert_eq!(st, 413, "{v}");

    // Per-event problems are reported by index; good events in the same batch are stored.
    let mut huge = record("big", "X", "2026-11-01T00:00:00Z");
    huge["requestParameters"] = json!({"blob": "x".repeat(3000)});
    let mut missing_time = record("nt", "X", "2026-11-01T00:00:00Z");
    missing_time.as_object_mut().unwrap().remove("eventTime");
    let mut wrong_type = record("wt", "X", "2026-11-01T00:00:00Z");
    wrong_type["eventName"] = json!(5);
    let mut no_source = record("ns", "X", "2026-11-01T00:00:00Z");
    no_source.as_object_mut().unwrap().remove("eventSource");
    let body = json!([
        record("ok1", "X", "2026-11-01T00:00:00Z"),
        huge,
        missing_time,
        wrong_type,
        no_source,
        "text"
    ])
    .to_string();
    let (st, v) = s.post("/v1/trail/events", &k, body);
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(5)),
        "{v}"
    );
    let reasons: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    for (r, needle) in reasons.iter().zip([
        "limit is 2000",
        "eventTime is missing",
        "invalid type",
        "eventSource is missing",
        "not a JSON object",
    ]) {
        assert!(r.contains(needle), "{r:?} lacks {needle:?}");
    }
    assert_eq!(v["results"][1]["eventId"], "big");
    // Nothing from the refused requests was stored.
    let all = s.all_events(&k, "");
    let ids: Vec<&str> = all.iter().map(|e| e["eventID"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ok1"]);
}

#[test]
fn channels_wrap_application_events() {
    let s = Server::start();
    let k = s.key.clone();
    let (st, ch) = s.post(
        "/v1/trail/channels",
        &k,
        json!({"name": "billing", "source": "billing.example.com"}).to_string(),
    );
    assert_eq!(st, 201, "{ch}");
    let id = ch["id"].as_str().unwrap();
    let (st, _) = s.post(
        "/v1/trail/channels",
        &k,
        json!({"name": "billing"}).to_string(),
    );
    assert_eq!(st, 409);
    let data = json!({"version": "1.0", "UID": "u-1", "eventName": "RefundIssued", "eventTime": "2026-11-20T08:00:00Z",
                      "userIdentity": {"type": "employee", "principalId": "emp-7"}, "requestParameters": {"amount": 12}}).to_string();
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(data.as_bytes()))
    };
    let items = json!({"auditEvents": [
        {"id": "1", "eventData": data, "eventDataChecksum": sum},
        {"id": "2", "eventData": data, "eventDataChecksum": "00"},
        {"id": "3", "eventData": "{\"eventTime\":\"2026-11-20T08:00:00Z\"}"}
    ]});
    let path = format!("/v1/trail/channels/{id}/events");
    let (st, v) = s.post(&path, &k, items.to_string());
    assert_eq!(st, 200, "{v}");
    let statuses: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "rejected", "rejected"], "{v}");
    assert_eq!(v["results"][0]["id"], "1");
    let (_, v) = s.post(
        &path,
        &k,
        json!({"auditEvents": [{"id": "1", "eventData": data}]}).to_string(),
    );
    assert_eq!(v["duplicate"], 1, "a retried item is a duplicate: {v}");
    let (_, v) = s.get("/v1/trail/events?EventSource=billing.example.com", &k);
    let e = &v["events"][0];
    assert_eq!(
        (e["eventName"].as_str(), e["eventCategory"].as_str()),
        (Some("RefundIssued"), Some("ActivityAuditLog"))
    );
    assert_eq!(e["eventData"]["UID"], "u-1");
    let (st, _) = s.post("/v1/trail/channels/nope/events", &k, items.to_string());
    assert_eq!(st, 404);
}

#[test]
fn mutating_calls_are_self_audited_without_secrets() {
    let s = Server::start();
    let k = s.key.clone();
    let secret = s.create_key(&k, None, "ci-writer", "writer");
    let events = s.all_events(&k, "&EventSource=mamori.org");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["eventName"], "CreateApiKey");
    assert_eq!(e["userIdentity"]["userName"], "bootstrap-admin");
    assert_eq!(e["requestParameters"]["role"], "writer");
    let text = e.to_string();
    let secret_part = secret.split_once('.').unwrap().1;
    assert!(
        !text.contains(secret_part),
        "secret leaked into the audit record"
    );
    let admin_secret = k.split_once('.').unwrap().1;
    assert!(!text.contains(admin_secret));
}

#[test]
fn health_and_metrics() {
    let s = Server::start();
    let t = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(t.trim(), "ok");
    s.post(
        "/v1/trail/events",
        &s.key,
        json!([
            record("m1", "X", "2026-11-01T00:00:00Z"),
            record("m1", "X", "2026-11-01T00:00:00Z"),
            1
        ])
        .to_string(),
    );
    let m = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "mamori_trail_events_total{outcome=\"accepted\"} 1",
        "mamori_trail_events_total{outcome=\"duplicate\"} 1",
        "mamori_trail_events_total{outcome=\"rejected\"} 1",
        "mamori_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/trail/events\",le=\"",
    ] {
        assert!(m.contains(line), "metrics lack {line}:\n{m}");
    }
}
