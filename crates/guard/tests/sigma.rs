//! Sigma: every SigmaHQ CloudTrail rule in ../shared/fixtures/sigma loads and fires on an event
//! built from its own detection (the selections its condition requires); an invalid rule is
//! rejected with its path while the rest load; a correlation rule fires streaming, across
//! batches, and not outside its window.

use std::path::PathBuf;

use mamori_guard::finding::Signal;
use mamori_guard::lazy::LazyEvent;
use mamori_guard::sigma::SigmaRules;
use mamori_guard::view::{Lite, View};
use rsigma_eval::JsonEvent;
use serde_json::{Map, Value, json};

/// Runs the rules over an event the way the hunt and the server do (the record's text read
/// lazily), and checks that reading it whole gives the same findings.
fn run(rules: &mut SigmaRules, ev: &Value) -> Vec<Signal> {
    let text = ev.to_string();
    let lazy = LazyEvent::parse(&text).unwrap();
    let lite = Lite::from_lazy(&lazy).unwrap();
    let signals = rules.detect(&lazy, &lite.view());
    let kinds = |v: &[Signal]| v.iter().map(|s| s.kind.clone()).collect::<Vec<_>>();
    // A second, stateless engine would be needed to compare correlation results; detection
    // rules are compared on a fresh load only when there is no correlation in play.
    if rules.correlations == 0 {
        let whole = rules.detect(&JsonEvent::borrow(ev), &View::from_value(ev));
        assert_eq!(kinds(&signals), kinds(&whole), "lazy vs whole on {ev}");
        // The gate in front of the engine lets the event through.
        let ungated = rules.detect_ungated(&lazy, &lite.view());
        assert_eq!(kinds(&signals), kinds(&ungated), "gated vs ungated on {ev}");
    }
    signals
}

fn fixtures() -> Option<PathBuf> {
    mamori_core::testkit::fixtures("sigma/SigmaHQ-sigma")
}

fn set_path(event: &mut Map<String, Value>, path: &str, v: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = event;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), v);
            return;
        }
        let next = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !next.is_object() {
            *next = json!({});
        }
        cur = next.as_object_mut().unwrap();
    }
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Fields that satisfy one selection (a map of `field|modifiers: value(s)`).
fn satisfy(sel: &serde_yaml_ng::Value, event: &mut Map<String, Value>) {
    let map = match sel {
        serde_yaml_ng::Value::Sequence(s) => match s.first() {
            Some(m) => m.clone(),
            None => return,
        },
        m => m.clone(),
    };
    let Some(map) = map.as_mapping() else { return };
    for (k, v) in map {
        let key = k.as_str().unwrap_or("");
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or("");
        let mods: Vec<&str> = parts.collect();
        let values: Vec<String> = match v {
            serde_yaml_ng::Value::Sequence(s) => s.iter().filter_map(scalar).collect(),
            serde_yaml_ng::Value::Null => continue,
            other => scalar(other).into_iter().collect(),
        };
        if values.is_empty() {
            continue;
        }
        let chosen = if mods.contains(&"all") {
            values.join(" ")
        } else {
            values[0].clone()
        };
        let text = if mods.contains(&"fieldref") {
            let other = chosen.clone();
            set_path(event, &other, json!("same-value"));
            "same-value".to_string()
        } else if mods.contains(&"contains") {
            format!("x{chosen}x")
        } else if mods.contains(&"startswith") {
            format!("{chosen}x")
        } else if mods.contains(&"endswith") {
            format!("x{chosen}")
        } else if mods.contains(&"re") {
            chosen
                .trim_start_matches('^')
                .trim_end_matches('$')
                .replace(".*", "x")
                .replace('\\', "")
        } else {
            chosen
        };
        // Keep JSON types for plain booleans.
        let value = match text.as_str() {
            "true" if !mods.contains(&"contains") => json!(true),
            "false" if !mods.contains(&"contains") => json!(false),
            _ => json!(text),
        };
        set_path(event, field, value);
    }
}

/// An event satisfying the selections the rule's condition requires.
fn exemplar(rule: &serde_yaml_ng::Value) -> Value {
    let det = &rule["detection"];
    let condition = det["condition"].as_str().unwrap_or("").to_string();
    let names: Vec<String> = det
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .filter(|k| k != "condition" && k != "timeframe")
                .collect()
        })
        .unwrap_or_default();
    let mut event = Map::new();
    set_path(&mut event, "eventVersion", json!("1.08"));
    set_path(&mut event, "eventTime", json!("2026-11-28T10:00:00Z"));
    set_path(&mut event, "eventID", json!("sigma-exemplar"));
    let tokens: Vec<&str> = condition.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        let negated = i > 0 && tokens[i - 1] == "not";
        let (pattern, quantifier) = if tokens[i] == "1" || tokens[i] == "all" {
            let q = tokens[i];
            i += 2; // "of"
            (tokens.get(i).copied().unwrap_or(""), Some(q))
        } else {
            (tokens[i], None)
        };
        i += 1;
        if negated || matches!(pattern, "and" | "or" | "not" | "(" | ")") {
            continue;
        }
        let pattern = pattern.trim_matches(|c| c == '(' || c == ')');
        let matching: Vec<&String> = names
            .iter()
            .filter(|n| match pattern.strip_suffix('*') {
                Some(p) => n.starts_with(p),
                None => *n == pattern || pattern == "them",
            })
            .collect();
        let chosen: Vec<&String> = match quantifier {
            Some("1") => matching.into_iter().take(1).collect(),
            _ => matching,
        };
        for n in chosen {
            satisfy(&det[n.as_str()], &mut event);
        }
    }
    Value::Object(event)
}

#[test]
fn every_sigmahq_cloudtrail_rule_loads_and_fires_on_its_exemplar() {
    let Some(dir) = fixtures() else { return };
    let mut files = Vec::new();
    for sub in [
        "rules/cloud/aws/cloudtrail",
        "rules-placeholder/cloud/aws/cloudtrail",
    ] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    let (_, errors) = SigmaRules::load(&files);
    assert!(errors.is_empty(), "{errors:#?}");
    let mut fired = 0;
    let mut missed = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rule: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let title = rule["title"].as_str().unwrap().to_string();
        // One engine per rule: the exemplar must fire this rule, whatever the others do.
        let (mut one, errs) = SigmaRules::load(std::slice::from_ref(f));
        assert!(errs.is_empty(), "{errs:?}");
        let ev = exemplar(&rule);
        let signals = run(&mut one, &ev);
        if signals
            .iter()
            .any(|s| s.kind.ends_with(&format!("/{title}")))
        {
            fired += 1;
        } else {
            missed.push(format!("{}: {title}: {ev}", f.display()));
        }
    }
    eprintln!(
        "sigma: {} SigmaHQ CloudTrail rules loaded; {fired} fire on their exemplar",
        files.len()
    );
    assert!(
        missed.is_empty(),
        "{} rules did not fire:\n{}",
        missed.len(),
        missed.join("\n")
    );
    assert_eq!(fired, files.len());
}

#[test]
fn an_invalid_rule_is_rejected_and_the_rest_load() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("good.yml"), "title: Stop logging\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName: StopLogging\n  condition: selection\nlevel: high\nauthor: mamori tests\n").unwrap();
    std::fs::write(tmp.path().join("bad.yml"), "title: Broken\nlogsource:\n  product: aws\ndetection:\n  selection:\n    eventName: X\n  condition: selection and nonexistent\n").unwrap();
    std::fs::write(tmp.path().join("notyaml.yml"), ": : :\n\t- [").unwrap();
    let (mut rules, errors) = SigmaRules::load(&[tmp.path().to_path_buf()]);
    assert_eq!(rules.rules, 1, "{errors:?}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("bad.yml")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("notyaml.yml")),
        "{errors:?}"
    );
    let ev = json!({"eventVersion": "1.08", "eventTime": "2026-11-28T10:00:00Z", "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"});
    let s = run(&mut rules, &ev);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].kind, "Sigma:aws.cloudtrail/Stop logging");
    assert_eq!(s[0].severity, 8.0);
    assert_eq!(
        s[0].evidence.as_ref().unwrap()["sigma"]["author"],
        "mamori tests"
    );
}

#[test]
fn a_correlation_fires_across_batches_within_its_window_only() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("rules.yml"),
        r#"title: Failed console login
id: 22222222-2222-2222-2222-222222222222
name: failed_login
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventName: ConsoleLogin
    errorMessage: Failed authentication
  condition: selection
level: low
---
title: Many failed console logins
id: 33333333-3333-3333-3333-333333333333
correlation:
  type: event_count
  rules:
    - failed_login
  group-by:
    - sourceIPAddress
  timespan: 10m
  condition:
    gte: 3
level: high
"#,
    )
    .unwrap();
    let (mut rules, errors) = SigmaRules::load(&[tmp.path().to_path_buf()]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rules.correlations, 1);
    let login = |t: &str, ip: &str| {
        let ev = json!({"eventVersion": "1.08", "eventTime": t, "eventName": "ConsoleLogin",
            "errorMessage": "Failed authentication", "sourceIPAddress": ip, "eventSource": "signin.amazonaws.com"});
        ev
    };
    let corr = |s: &[mamori_guard::finding::Signal]| {
        s.iter()
            .any(|x| x.kind.contains("Many failed console logins"))
    };
    // Spread over 30 minutes: never three within 10.
    let mut spread = false;
    for (i, t) in [
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:15:00Z",
        "2026-11-28T10:30:00Z",
    ]
    .iter()
    .enumerate()
    {
        let ev = login(t, "7.7.7.7");
        spread |= corr(&run(&mut rules, &ev));
        let _ = i;
    }
    assert!(!spread, "outside the window");
    // Three within a minute, arriving in separate "batches" (calls): it fires on the third.
    let mut fired_at = None;
    for (i, t) in [
        "2026-11-28T11:00:00Z",
        "2026-11-28T11:00:20Z",
        "2026-11-28T11:00:40Z",
    ]
    .iter()
    .enumerate()
    {
        let ev = login(t, "8.8.8.8");
        if corr(&run(&mut rules, &ev)) && fired_at.is_none() {
            fired_at = Some(i);
        }
    }
    assert_eq!(fired_at, Some(2));
}

fn walk_logs(p: &std::path::Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        for e in v {
            walk_logs(&e, out);
        }
    } else {
        let n = p.to_string_lossy();
        if !n.contains("CloudTrail-Digest")
            && (n.ends_with(".json") || n.ends_with(".json.gz") || n.ends_with(".jsonl"))
        {
            out.push(p.to_path_buf());
        }
    }
}

/// On every record of the real CloudTrail files in ../shared/fixtures/cloudtrail: the lazily
/// read record answers every path (each leaf of the record, each of its parents, and a few
/// that are not there) exactly as the whole record does, and all 57 SigmaHQ CloudTrail rules
/// give the same findings either way.
#[test]
fn lazy_records_answer_as_whole_records_on_real_cloudtrail_files() {
    use rsigma_eval::Event;
    let Some(sigma) = fixtures() else { return };
    let Some(logs) = mamori_core::testkit::fixtures("cloudtrail") else {
        return;
    };
    let mut files = Vec::new();
    walk_logs(&logs, &mut files);
    let (mut rules, errors) = SigmaRules::load(&[sigma.join("rules/cloud/aws/cloudtrail")]);
    assert!(errors.is_empty(), "{errors:?}");
    let (mut records, mut paths, mut fired, mut scanned_both) = (0, 0, 0, 0);
    let mut admitted = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let body = mamori_trail::body::decompress_capped(&bytes, 1 << 30).unwrap();
        let Ok(raws) = mamori_trail::body::split_records(&body) else {
            continue;
        };
        for raw in raws {
            let Ok(whole) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            if !whole.is_object() {
                continue;
            }
            records += 1;
            let full = JsonEvent::borrow(&whole);
            let lazy = LazyEvent::parse(raw).unwrap();
            let mut asked: Vec<String> = Vec::new();
            for leaf in full.field_keys() {
                let parts: Vec<&str> = leaf.split('.').collect();
                for i in 1..=parts.len() {
                    asked.push(parts[..i].join("."));
                }
                asked.push(format!("{leaf}.missing"));
            }
            asked.extend([
                "nothing".into(),
                "resources.ARN".into(),
                "resources[0].type".into(),
            ]);
            asked.sort();
            asked.dedup();
            for p in &asked {
                assert_eq!(
                    lazy.get_field(p),
                    full.get_field(p),
                    "{}: path {p}",
                    f.display()
                );
                paths += 1;
            }
            // The hunt's scanner reads the record as serde_json does.
            let mut scan = mamori_trail::scan::Scan::new(raw);
            let scanned = LazyEvent::scan(&mut scan).unwrap();
            assert!(scanned.fields().eq(lazy.fields()), "{}", f.display());
            let lite = Lite::from_lazy(&lazy).unwrap();
            if let Ok(parsed) = Lite::parse(raw) {
                let mut scan = mamori_trail::scan::Scan::new(raw);
                let scanned = Lite::scan(&mut scan).unwrap();
                let shown = |l: &Lite<'_>| {
                    let mut view = l.view();
                    view.flat_identity = true; // what serde's derive cannot know
                    format!("{view:?}")
                };
                assert_eq!(shown(&scanned), shown(&parsed), "{}", f.display());
                assert_eq!(shown(&lite), shown(&parsed), "{}", f.display());
                scanned_both += 1;
            }
            let a = rules.detect(&lazy, &lite.view());
            let b = rules.detect(&full, &View::from_value(&whole));
            let kinds = |v: &[Signal]| v.iter().map(|s| s.kind.clone()).collect::<Vec<_>>();
            assert_eq!(kinds(&a), kinds(&b), "{}", f.display());
            // The gate lets through every record a rule matches.
            let c = rules.detect_ungated(&lazy, &lite.view());
            assert_eq!(kinds(&a), kinds(&c), "{}", f.display());
            let d = rules
                .detect_record(mamori_guard::sigma::Record::Text(raw), &lite.view())
                .unwrap();
            assert_eq!(kinds(&a), kinds(&d), "{}", f.display());
            // The hunt's way: the members kept while the scanner read the record.
            let mut members = Vec::new();
            let mut scan = mamori_trail::scan::Scan::new(raw);
            let kept = Lite::scan_keeping(&mut scan, &mut members).unwrap();
            let e = rules
                .detect_record(
                    mamori_guard::sigma::Record::Members(&mut members),
                    &kept.view(),
                )
                .unwrap();
            assert_eq!(kinds(&a), kinds(&e), "{}", f.display());
            admitted += usize::from(rules.admits(&lite.view()));
            fired += a.len();
        }
    }
    eprintln!(
        "{records} real records, {paths} paths compared, {fired} Sigma matches (same both ways); \
         {scanned_both} read the same by the scanner and serde_json; {admitted} let through by \
         the gate of {} rules with a condition, of {}",
        rules.gated(),
        rules.rules
    );
    assert!(records > 3000, "{records}");
    assert!(scanned_both > 3000, "{scanned_both}");
}
