//! Conformance against real CloudTrail files in ../shared/fixtures/cloudtrail (read in place,
//! never copied). Skipped, with a message, when the fixtures are not beside the checkout.
//!
//! For every record: the typed model round-trips it (unknown fields and nulls included), the
//! history accepts it and returns its exact bytes by EventId. Malformed inputs are rejected with
//! a reason naming the problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mamori_trail::body;
use mamori_trail::history::lookup::{LookupAttribute, LookupQuery};
use mamori_trail::history::store::{History, HistoryOptions};
use mamori_trail::ingest::Status;
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    // The fixtures' root, once its cloudtrail/ is there.
    mamori_core::testkit::fixtures("cloudtrail")?
        .parent()
        .map(Path::to_path_buf)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json")
                || p.to_string_lossy().ends_with(".json.gz")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    body::decompress_capped(&std::fs::read(path).unwrap(), 1 << 30)
        .unwrap()
        .into_owned()
}

/// The typed model gives back what it was given.
fn assert_round_trip(raw: &str, origin: &str) {
    let original: Value = serde_json::from_str(raw).unwrap();
    let typed: mamori_trail::Record =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("{origin}: typed parse failed: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, original, "{origin}: round trip changed the record");
}

struct Tally {
    records: usize,
    accepted: usize,
    duplicate: usize,
    rejected: Vec<String>,
}

fn import_set(history: &History, files: &[PathBuf], exact_check: bool) -> Tally {
    let mut t = Tally {
        records: 0,
        accepted: 0,
        duplicate: 0,
        rejected: Vec::new(),
    };
    for f in files {
        let bytes = read(f);
        let raws = match body::split_records(&bytes) {
            Ok(r) => r,
            Err(e) => {
                t.rejected
                    .push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy()));
                continue;
            }
        };
        t.records += raws.len();
        let report = mamori_trail::ingest_blocking(history, 1, &raws).unwrap();
        for (r, raw) in report.results.iter().zip(&raws) {
            match r.status {
                Status::Accepted | Status::Duplicate => {
                    assert_round_trip(raw, &format!("{}#{}", f.display(), r.index))
                }
                Status::Rejected => t.rejected.push(format!(
                    "{}#{}: {}",
                    f.file_name().unwrap().to_string_lossy(),
                    r.index,
                    r.reason.as_deref().unwrap_or("")
                )),
            }
            if exact_check && r.status == Status::Accepted {
                let id = r.event_id.clone().unwrap();
                let q = LookupQuery {
                    account: 1,
                    attributes: vec![LookupAttribute::EventId(id.clone())],
                    start_ms: None,
                    end_ms: None,
                    max_results: 5,
                    after: None,
                };
                let page = history.lookup(&q).unwrap();
                assert_eq!(
                    page.events,
                    vec![raw.to_string()],
                    "{id}: not returned byte for byte"
                );
            }
        }
        t.accepted += report.accepted;
        t.duplicate += report.duplicate;
    }
    t
}

#[test]
fn cloudtrail_fixtures_import_and_round_trip() {
    let Some(fx) = fixtures() else { return };
    let ct = fx.join("cloudtrail");
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(
        dir.path(),
        HistoryOptions {
            retention_days: 0,
            max_event_bytes: 256 * 1024,
        },
    )
    .unwrap();
    let mut summary = BTreeMap::new();

    let invictus = import_set(
        &history,
        &files_under(&ct.join("invictus-ir-aws_dataset")),
        true,
    );
    assert_eq!(
        (invictus.records, invictus.accepted, invictus.rejected.len()),
        (2900, 2900, 0),
        "{:?}",
        invictus.rejected
    );
    summary.insert("invictus-ir-aws_dataset", (55, invictus.accepted));

    let snitch_files = files_under(&ct.join("cloud-snitch"));
    let snitch = import_set(&history, &snitch_files, true);
    assert_eq!(
        (snitch_files.len(), snitch.accepted, snitch.rejected.len()),
        (2, 21, 0),
        "{:?}",
        snitch.rejected
    );
    summary.insert("cloud-snitch", (2, snitch.accepted));

    let lib_files = files_under(&ct.join("aws-cloudtrail-processing-library"));
    let lib = import_set(&history, &lib_files, false);
    // The malformed inputs, each refused with a reason that names the problem.
    let expect_rejected = [
        ("SerializerAllFieldsNull.json#0", "eventTime is missing"),
        (
            "SerializerTestFileBadFieldName.json#0",
            "eventTime is missing",
        ),
        (
            "SerializerTestFileBadJsonFormat.json",
            "not valid JSON at line 37, column 9",
        ),
        (
            "SerializerTestFileMissField.json#3",
            "\"ThisIsAWrongEventTime\" is not an RFC 3339 time",
        ),
        (
            "SerializerTestFileNewFieldName.json#0",
            "eventTime is missing",
        ),
    ];
    assert_eq!(
        lib.rejected.len(),
        expect_rejected.len(),
        "{:#?}",
        lib.rejected
    );
    for (got, (origin, needle)) in lib.rejected.iter().zip(expect_rejected) {
        assert!(
            got.starts_with(origin) && got.contains(needle),
            "{got:?} should be {origin}: …{needle}…"
        );
    }
    // 41 records in 13 parseable files; 4 of them are malformed.
    eprintln!(
        "processing-library: records {} accepted {} duplicate {}",
        lib.records, lib.accepted, lib.duplicate
    );
    assert_eq!(lib.records, 41);
    assert_eq!(lib.accepted + lib.duplicate, lib.records - 4);
    summary.insert(
        "aws-cloudtrail-processing-library",
        (lib_files.len(), lib.accepted + lib.duplicate),
    );

    // Panther's rule-test events: hand-made but realistic records, with Panther's p_* fields.
    let text = std::fs::read_to_string(ct.join("panther/AWS.CloudTrail.jsonl")).unwrap();
    let mut panther = 0;
    let mut wrong_types = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let raw = v["event"].to_string();
        match serde_json::from_str::<mamori_trail::Record>(&raw) {
            Ok(_) => {
                assert_round_trip(&raw, &format!("panther line {}", i + 1));
                panther += 1;
            }
            Err(e) => wrong_types.push(format!("line {}: {e}", i + 1)),
        }
    }
    // Hand-written test events where a field has a type CloudTrail never writes (e.g.
    // `resources` as Python-repr strings): refused with the field's type error.
    eprintln!("panther events with impossible types: {wrong_types:#?}");
    assert!(
        wrong_types.iter().all(|e| e.contains("invalid type")),
        "{wrong_types:?}"
    );
    assert_eq!(panther + wrong_types.len(), 475);
    assert!(wrong_types.len() <= 5, "{wrong_types:?}");
    eprintln!(
        "CloudTrail conformance (files, records imported): {summary:?}; panther events round-tripped: {panther}"
    );
    eprintln!(
        "processing-library: {} accepted, {} duplicate, {} rejected as malformed",
        lib.accepted,
        lib.duplicate,
        lib.rejected.len()
    );
}
