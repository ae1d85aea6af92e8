//! Acknowledged = durable: SIGKILL the server while clients are ingesting, restart it, and every
//! acknowledged event is there exactly once.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, record};
use serde_json::Value;

#[test]
fn sigkill_during_ingest_loses_and_duplicates_nothing_acknowledged() {
    let mut s = Server::start();
    let key = s.key.clone();
    let url = format!("{}/v1/trail/events", s.url);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (acked, sent, url, key) = (acked.clone(), sent.clone(), url.clone(), key.clone());
        clients.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            for b in 0..10_000 {
                let ids: Vec<String> = (0..200).map(|i| format!("k{c}-{b}-{i}")).collect();
                let body = Value::Array(
                    ids.iter()
                        .map(|id| record(id, "PutObject", "2026-11-10T12:00:00Z"))
                        .collect(),
                )
                .to_string();
                sent.fetch_add(ids.len(), std::sync::atomic::Ordering::Relaxed);
                let Ok(resp) = http.post(&url).bearer_auth(&key).body(body).send() else {
                    return;
                };
                if !resp.status().is_success() {
                    return;
                }
                let Ok(v) = resp.json::<Value>() else { return };
                let mut a = acked.lock().unwrap();
                for r in v["results"].as_array().unwrap() {
                    assert_eq!(r["status"], "accepted");
                    a.push(r["eventId"].as_str().unwrap().to_string());
                }
            }
        }));
    }
    // Let ingest run, then kill -9 mid-stream.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 20_000 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 1_000,
        "too little was acknowledged before the kill: {}",
        acked.len()
    );

    s.restart();
    let stored = s.all_events(&key, "&EventName=PutObject");
    let mut unique = HashSet::new();
    for e in &stored {
        assert!(
            unique.insert(e["eventID"].as_str().unwrap().to_string()),
            "stored twice: {}",
            e["eventID"]
        );
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost after SIGKILL, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(stored.len() <= sent.load(std::sync::atomic::Ordering::Relaxed));
    eprintln!(
        "acknowledged {} before SIGKILL; {} stored after restart, all acknowledged present once",
        acked.len(),
        stored.len()
    );
}
